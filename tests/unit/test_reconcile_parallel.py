"""The scan as tasks: worker processes and one process find exactly the same; workers share
one snapshot while the ledger is written; a dead worker's task is done by another; both
clock-skew paths (rowid pairs with gap lookups, and the streamed scan) agree with the truth."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from incidentbook.core.ledger import workers as workers_module
from incidentbook.core.ledger.checks import (
    clock_by_rowid,
    duplicate_account_findings,
    duplicate_ref_findings,
)
from incidentbook.core.ledger.contract import (
    Snapshot,
    open_ledger,
    scan_capabilities,
    sqlite_path,
)
from incidentbook.core.ledger.reconcile.model import ReconcileOptions
from incidentbook.core.ledger.reconcile.runs import findings
from incidentbook.core.ledger.tasks import ScanOptions, Task, plan_full, ref_bounds, run_task
from incidentbook.core.ledger.workers import WorkerPool, snapshot_state
from incidentbook.demo.ledger import (
    LedgerParams,
    build_ledger,
    ensure_recommended_indexes,
)
from incidentbook.services import Services
from incidentbook.testing.synth import (
    FAULT_KINDS,
    SQLITE_DDL,
    LedgerRows,
    faulted_ledger,
    write_ledger,
)
from tests.support.cli import Cli

ENTRY_CHECKS = ("currency_mismatch", "orphan_entry", "invalid_reversal", "clock_skew")


def reconcile(services: Services, url: str, **kw: object) -> set[str]:
    ctx = services.context("test", actor="reconciler")
    summary = services.reconciler.run(ctx, ReconcileOptions(ledger_url=url, mode="full", **kw))  # type: ignore[arg-type]
    if "jobs" in kw:  # the processes asked for really scanned
        assert summary.jobs == kw["jobs"]
        if summary.jobs > 1 and Path("/proc/self/status").exists():  # Linux: VmHWM
            # and the workers reported their peak memory when they were closed
            assert summary.worker_peak_rss_mb is not None and summary.worker_peak_rss_mb > 0
    return {f.fingerprint for f in findings(services.db, summary.run_id)}


def renumbered(
    rows: LedgerRows, expected: set[str], new_id: dict[int, int]
) -> tuple[LedgerRows, set[str]]:
    """The same ledger with other entry ids (reversal targets and expected fingerprints
    follow; a reversal of a missing entry keeps pointing nowhere)."""
    entries = [
        (new_id[e[0]], *e[1:12], None if e[12] is None else new_id.get(e[12], e[12]))
        for e in rows.entries
    ]
    out = set()
    for fingerprint in expected:
        head, _, last = fingerprint.rpartition("/")
        check = fingerprint.split("/", 1)[0]
        out.add(f"{head}/{new_id[int(last)]}" if check in ENTRY_CHECKS else fingerprint)
    return LedgerRows(rows.accounts, entries), out  # type: ignore[arg-type]


@pytest.fixture
def faulted() -> tuple[LedgerRows, set[str]]:
    return faulted_ledger(21, 60, dict.fromkeys(FAULT_KINDS, 2), decoys=6)


@pytest.fixture
def faulted_url(tmp_path: Path, faulted: tuple[LedgerRows, set[str]]) -> tuple[str, set[str]]:
    """The faulted ledger written to a SQLite file: (URL, expected fingerprints)."""
    url = f"sqlite:///{tmp_path / 'faulted.sqlite'}"
    write_ledger(url, faulted[0])
    return url, faulted[1]


def test_workers_and_one_process_find_the_same(
    services: Services, tmp_path: Path, faulted_url: tuple[str, set[str]]
) -> None:
    url, expected = faulted_url
    assert reconcile(services, url, jobs=1, batch=4) == expected
    assert reconcile(services, url, jobs=2, batch=4) == expected
    assert reconcile(services, url, jobs=3, batch=7) == expected
    # a production-shaped ledger: contiguous ids (rowid pairs), every index
    demo = tmp_path / "demo.sqlite"
    build_ledger(demo, LedgerParams(accounts=3000, days=3, seed=5))
    one = reconcile(services, f"sqlite:///{demo}", jobs=1, batch=300)
    assert one and one == reconcile(services, f"sqlite:///{demo}", jobs=2, batch=300)


def test_clock_skew_paths_agree_with_the_truth(
    services: Services, tmp_path: Path, faulted: tuple[LedgerRows, set[str]]
) -> None:
    rows, expected = faulted
    ids = [e[0] for e in rows.entries]
    # contiguous ids with a gap every 40 entries: pairs by rowid, a lookup per gap
    gappy = {old: i + 1 + 3 * (i // 40) for i, old in enumerate(ids)}
    # every other id: each entry is a gap, so ranges stream instead
    sparse = {old: 2 * (i + 1) for i, old in enumerate(ids)}
    for name, mapping in (("gappy", gappy), ("sparse", sparse)):
        moved, want = renumbered(rows, expected, mapping)
        url = f"sqlite:///{tmp_path / name}.sqlite"
        write_ledger(url, moved)
        assert any(f.startswith("clock_skew/") for f in want)
        assert reconcile(services, url, jobs=1, batch=20) == want, name
        ledger = open_ledger(url)
        with ledger.snapshot() as snap:  # which path a 200-id range takes
            paired = clock_by_rowid(snap, 0, 200)
        ledger.dispose()
        assert (paired is None) is (name == "sparse"), name
    # entry_id BIGINT PRIMARY KEY is no rowid alias: the streamed scan throughout
    url = _ledger_keyed_by(tmp_path / "bigint.sqlite", "BIGINT PRIMARY KEY", rows, indexes=False)
    assert reconcile(services, url, jobs=2, batch=5) == expected


def _ledger_keyed_by(path: Path, key: str, rows: LedgerRows, *, indexes: bool = True) -> str:
    """A ledger whose entry_id is declared ``key`` (not the rowid), and is seen not to be."""
    url = f"sqlite:///{path}"
    write_ledger(url, LedgerRows(), indexes=False)
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE ledger_entries")
    conn.execute(SQLITE_DDL[1].replace("INTEGER PRIMARY KEY", key))
    conn.close()
    write_ledger(url, rows, replace=False, indexes=indexes, tables=False)
    ledger = open_ledger(url)
    with ledger.snapshot() as snap:
        assert scan_capabilities(snap)["entry_rowid"] is False
    ledger.dispose()
    return url


def _wal_ledger(tmp_path: Path, rows: LedgerRows) -> Path:
    path = tmp_path / "live.sqlite"
    write_ledger(f"sqlite:///{path}", rows)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    return path


def test_workers_share_one_snapshot_while_the_ledger_is_written(
    tmp_path: Path, faulted: tuple[LedgerRows, set[str]]
) -> None:
    path = _wal_ledger(tmp_path, faulted[0])
    stop = threading.Event()
    commits: list[int] = []

    def writer() -> None:
        db = sqlite3.connect(path, timeout=30, isolation_level=None)
        i = 0
        deadline = time.monotonic() + 60
        while not stop.is_set() and time.monotonic() < deadline:
            i += 1
            db.execute("BEGIN IMMEDIATE")
            db.execute(
                "INSERT INTO ledger_entries (entry_id, account_id, amount_minor, currency, kind,"
                " occurred_at, recorded_at, actor) VALUES (?, 'acc_001', 1, 'EUR', 'fee',"
                " '2030-01-01T00:00:00Z', '2030-01-01T00:00:00Z', 'system:test')",
                (10**9 + i,),
            )
            db.execute("UPDATE ledger_accounts SET balance_minor = balance_minor + 1")
            db.execute("COMMIT")
            commits.append(i)
            stop.wait(0.004)
        db.close()

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    ledger = open_ledger(f"sqlite:///{path}")
    pool = WorkerPool(path, 2)
    try:
        pool.start(ScanOptions(60.0))
        deadline = time.monotonic() + 30
        while len(commits) < 3 and time.monotonic() < deadline:
            time.sleep(0.005)
        before = len(commits)
        seen = set()
        with ledger.snapshot() as snap:
            for _ in range(20):  # agreements while commits go on, each one checked
                assert pool.agree(snap) >= 1
                mine = snapshot_state(snap)
                assert pool.probe() == [mine, mine]
                seen.add(mine[0])
                time.sleep(0.01)
        assert len(commits) - before >= 10 and len(seen) >= 5  # it really moved meanwhile
    finally:
        stop.set()
        thread.join()
        pool.close()
        ledger.dispose()


@contextmanager
def _agreed_pool(url: str, batch: int) -> Iterator[tuple[WorkerPool, list[Task], dict[Any, Any]]]:
    """Two workers on one snapshot of ``url``'s ledger, its full plan, and what one process
    finds for each task of it."""
    ledger = open_ledger(url)
    pool = WorkerPool(sqlite_path(url), 2)  # type: ignore[arg-type]
    try:
        with ledger.snapshot() as snap:
            caps = scan_capabilities(snap)
            options = ScanOptions(60.0, caps["entry_rowid"], caps["reverses_index"])
            tasks = plan_full(snap, batch, caps["ref_index"])
            inline = {t.key(): run_task(snap, t, options).findings for t in tasks}
            pool.start(options)
            assert pool.agree(snap) >= 1
            yield pool, tasks, inline
    finally:
        pool.close()
        ledger.dispose()


def test_a_dead_worker_hands_its_task_to_another(faulted_url: tuple[str, set[str]]) -> None:
    with _agreed_pool(faulted_url[0], 5) as (pool, tasks, inline):
        pool.workers[0].proc.kill()
        pool.workers[0].proc.wait()
        got = {item[0].key(): item[1].findings for item in pool.run(tasks) if item}
        assert got == inline and len(pool.workers) == 1


def test_a_run_left_by_an_older_release_starts_again(
    services: Services, faulted_url: tuple[str, set[str]]
) -> None:
    url, expected = faulted_url
    with services.db.write() as session:  # an unfinished run of the batch-per-phase design
        session.connection().execute(
            text(
                "INSERT INTO reconcile_runs (run_id, mode, ledger, status, phase, cursor,"
                " batch_size, options, watermark, batches, started_at, actor, correlation_id)"
                " VALUES ('old', 'full', :ledger, 'running', 'entries',"
                " '{\"begun\": true, \"after\": 5}', 5, '{}', '{}', 0,"
                " '2026-11-01T00:00:00Z', 'reconciler', 'c')"
            ),
            {"ledger": url},
        )
    assert reconcile(services, url) == expected
    with services.db.read() as session:
        runs = session.connection().execute(text("SELECT run_id FROM reconcile_runs")).all()
    assert [r[0] for r in runs] != ["old"] and "old" not in {r[0] for r in runs}


def test_old_demo_ledgers_get_todays_indexes(tmp_path: Path) -> None:
    path = tmp_path / "demo.sqlite"
    build_ledger(path, LedgerParams(accounts=200, days=1, seed=3))
    conn = sqlite3.connect(path)
    conn.execute("DROP INDEX ix_ledger_entries_recon")
    conn.execute("CREATE INDEX ix_ledger_entries_recon ON ledger_entries(account_id, currency)")
    conn.execute("DROP INDEX ix_ledger_entries_external_ref")
    conn.execute("CREATE INDEX ix_stale ON ledger_entries(kind)")
    conn.commit()
    conn.close()
    changed = ensure_recommended_indexes(path)
    assert sorted(changed) == ["ix_ledger_entries_external_ref", "ix_ledger_entries_recon"]
    conn = sqlite3.connect(path)
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    conn.close()
    assert "ix_stale" not in names and "ix_ledger_entries_external_ref" in names
    assert ensure_recommended_indexes(path) == []  # a second time: nothing to do


def test_cli_jobs(cli: Cli, faulted_url: tuple[str, set[str]]) -> None:
    url, expected = faulted_url
    result = cli("reconcile", "--ledger", url, "--jobs", "2", "--batch", "10", "--json")
    assert result.exit_code == 1, result.stderr
    summary = json.loads(result.stdout)
    assert summary["jobs"] == 2 and summary["found"] == len(expected)
    bad = cli("reconcile", "--ledger", url, "--jobs", "0")
    assert bad.exit_code == 2 and "--jobs" in bad.stderr and bad.stderr.count("\n") == 1


def test_integer_primary_key_desc_is_no_rowid(
    services: Services, tmp_path: Path, faulted: tuple[LedgerRows, set[str]]
) -> None:
    """SQLite quirk: ``INTEGER PRIMARY KEY DESC`` does not alias the rowid; pairing entries
    by rowid there would compare the wrong neighbours."""
    rows, expected = faulted
    # rows go in newest first, so rowids run against entry ids
    backwards = LedgerRows(rows.accounts, list(reversed(rows.entries)))
    url = _ledger_keyed_by(tmp_path / "desc.sqlite", "INTEGER PRIMARY KEY DESC", backwards)
    assert reconcile(services, url, jobs=1, batch=6) == expected


def test_a_worker_dying_mid_task_hands_it_on(faulted_url: tuple[str, set[str]]) -> None:
    with _agreed_pool(faulted_url[0], 3) as (pool, tasks, inline):
        dispatched = []

        def kill_a_busy_worker() -> None:
            dispatched.append(1)
            busy = [w for w in pool.workers if w.task is not None]
            if len(dispatched) == 6 and busy:
                busy[0].proc.kill()  # it holds a task it will never answer

        got = {
            item[0].key(): item[1].findings for item in pool.run(tasks, kill_a_busy_worker) if item
        }
        assert got == inline and len(pool.workers) == 1


def test_workers_that_cannot_start_leave_the_run_to_one_process(
    services: Services, faulted_url: tuple[str, set[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, expected = faulted_url
    # an interpreter that cannot run the worker module (a frozen build, a broken venv)
    monkeypatch.setattr(workers_module.sys, "executable", "/bin/false")
    ctx = services.context("test", actor="reconciler")
    summary = services.reconciler.run(ctx, ReconcileOptions(ledger_url=url, jobs=2, batch=5))
    assert summary.status == "complete" and summary.jobs == 1
    assert {f.fingerprint for f in findings(services.db, summary.run_id)} == expected


def test_max_rate_scans_in_one_process(services: Services, faulted_url: tuple[str, set[str]]):
    url, expected = faulted_url
    ctx = services.context("test", actor="reconciler")
    summary = services.reconciler.run(
        ctx, ReconcileOptions(ledger_url=url, batch=20, max_rate=100_000)
    )
    assert summary.jobs == 1 and summary.found == len(expected)


def test_both_duplicate_paths_compare_refs_exactly(tmp_path: Path) -> None:
    """A ledger declaring refs case-insensitive: evt_ABC and evt_abc are two upstream ids
    for both paths (full runs group by ref, incremental runs by account), so an alert does
    not flap between them; a true copy is found by both."""
    conn = sqlite3.connect(tmp_path / "nocase.sqlite")
    conn.execute(SQLITE_DDL[0])
    conn.execute(SQLITE_DDL[1].replace("external_ref TEXT", "external_ref TEXT COLLATE NOCASE"))
    conn.execute("CREATE INDEX ix_ref ON ledger_entries(external_ref)")
    conn.execute("INSERT INTO ledger_accounts VALUES ('a', 'EUR', 400, 't', 't')")
    for i, ref in enumerate(["evt_ABC", "evt_abc", "evt_X", "evt_X"], start=1):
        conn.execute(
            "INSERT INTO ledger_entries (entry_id, account_id, amount_minor, currency, kind,"
            " occurred_at, recorded_at, external_ref, actor) VALUES (?, 'a', 100, 'EUR',"
            " 'payment', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', ?, 'system:test')",
            (i, ref),
        )
    snap = Snapshot(conn, sqlite=True)
    by_ref = [f.fingerprint for f in duplicate_ref_findings(snap, None, None)[1]]
    by_account = [f.fingerprint for f in duplicate_account_findings(snap, "1 = 1", [])]
    conn.close()
    assert by_ref == by_account == ["duplicate_posting/a/evt_X"]


def test_ref_sampling_reads_a_bounded_window_per_sample(tmp_path: Path) -> None:
    """Legacy rows without refs at the start of the ledger must not make every sample scan
    to their end (planning would outlast the scan)."""
    conn = sqlite3.connect(tmp_path / "legacy.sqlite")
    conn.execute(SQLITE_DDL[1])
    conn.execute("CREATE INDEX ix_ref ON ledger_entries(external_ref)")
    conn.executemany(
        "INSERT INTO ledger_entries (entry_id, account_id, amount_minor, currency, kind,"
        " occurred_at, recorded_at, external_ref, actor) VALUES (?, 'a', 1, 'EUR', 'payment',"
        " 't', 't', ?, 'x')",
        [(i, None if i <= 90_000 else f"evt_{i:06d}") for i in range(1, 100_001)],
    )
    conn.commit()
    steps = []
    conn.set_progress_handler(lambda: steps.append(1) and 0, 1000)
    cuts = ref_bounds(Snapshot(conn, sqlite=True), 1, 100_000, 8)
    conn.close()
    assert cuts and cuts == sorted(cuts) and all(c.startswith("evt_") for c in cuts)
    # 64 samples × at most 1,000 ids each; walking to the refs would take ~45× more
    assert len(steps) < 2_000, len(steps)
