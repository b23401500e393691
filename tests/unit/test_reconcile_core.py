"""Reconciler lifecycle: alerts fire, repeat, resolve; incremental runs; one snapshot per run;
bad ledgers fail in one line with nothing written; verify; incident candidates; the CLI."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from incidentbook.core.ledger.contract import LedgerError
from incidentbook.core.ledger.reconcile.candidates import affected_accounts, incident_candidates
from incidentbook.core.ledger.reconcile.model import ReconcileOptions
from incidentbook.core.ledger.reconcile.runs import findings
from incidentbook.core.ledger.reconcile.verify import verify_checkpoints
from incidentbook.demo.ledger import LedgerParams, append_traffic, build_ledger
from incidentbook.money import format_minor
from incidentbook.services import Services
from incidentbook.testing.synth import FAULT_KINDS, faulted_ledger, write_ledger
from tests.support.cli import Cli


def reconcile(services: Services, url: str, **kw: object) -> object:
    ctx = services.context("test", actor="reconciler")
    return services.reconciler.run(ctx, ReconcileOptions(ledger_url=url, **kw))  # type: ignore[arg-type]


def counts(services: Services) -> dict[str, int]:
    with services.db.read() as session:
        conn = session.connection()
        return {
            t: int(conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one())
            for t in ("reconcile_runs", "reconcile_findings", "reconcile_checkpoints", "alerts",
                      "alert_receipts", "events")
        }  # fmt: skip


@pytest.fixture
def small(tmp_path: Path) -> tuple[str, Path, set[str]]:
    rows, expected = faulted_ledger(5, 30, dict.fromkeys(FAULT_KINDS, 1), decoys=4)
    path = tmp_path / "small.sqlite"
    write_ledger(f"sqlite:///{path}", rows)
    return f"sqlite:///{path}", path, expected


def queued_for_index(services: Services, group_key: str) -> int:
    with services.db.read() as session:
        return int(
            session.connection()
            .execute(
                text(
                    "SELECT COUNT(*) FROM index_outbox"
                    " WHERE doc_kind = 'alert_group' AND doc_id = :g"
                ),
                {"g": group_key},
            )
            .scalar_one()
        )


def test_findings_fire_repeat_and_resolve(services: Services, small: tuple[str, Path, set[str]]):
    url, path, expected = small
    first = reconcile(services, url)
    assert first.mode == "full" and first.found == len(expected)  # type: ignore[attr-defined]
    assert sum(c["new"] for c in first.checks.values()) == len(expected)  # type: ignore[attr-defined]
    queued = queued_for_index(services, "balance_mismatch")
    assert queued == 1  # one row for the group, however many of its alerts are new
    second = reconcile(services, url, mode="full")
    assert sum(c["new"] for c in second.checks.values()) == 0  # type: ignore[attr-defined]
    # a repeated finding carries this run's figures: its group's text is indexed again
    assert queued_for_index(services, "balance_mismatch") == queued + 1
    balance_fp = next(f for f in expected if f.startswith("balance_mismatch/"))
    alert = services.alerts.get(balance_fp)
    assert alert.status == "firing" and alert.occurrences == 2
    # fix the stored balance: the finding is gone, its alert resolves, the rest stay
    account = balance_fp.split("/", 1)[1]
    conn = sqlite3.connect(path)
    conn.execute(
        "UPDATE ledger_accounts SET balance_minor = (SELECT COALESCE(SUM(amount_minor), 0)"
        " FROM ledger_entries WHERE account_id = ?) WHERE account_id = ?",
        (account, account),
    )
    conn.commit()
    conn.close()
    third = reconcile(services, url, mode="full")
    assert third.checks["balance_mismatch"]["resolved"] == 1  # type: ignore[attr-defined]
    assert services.alerts.get(balance_fp).status == "resolved"
    assert queued_for_index(services, "balance_mismatch") == queued + 2
    # three runs, no receipts kept: a page of findings commits with the cursor past it, so
    # nothing is offered twice, and receipts would grow by every run's findings forever
    assert counts(services)["alert_receipts"] == 0
    firing = {a.fingerprint for a in services.alerts.list_alerts("firing")}
    assert firing == expected - {balance_fp}
    # the check's incident candidate
    cands = {c.check: c for c in incident_candidates(services.db)}
    assert set(cands) == {f.split("/")[0] for f in expected - {balance_fp}}
    dup = cands["duplicate_posting"]
    assert dup.accounts == 1 and sum(dup.delta_by_currency.values()) > 0
    assert dup.line().startswith("duplicate_posting: 1 account, Δ ")
    assert affected_accounts(services.db, "duplicate_posting") == [
        next(f for f in expected if f.startswith("duplicate_posting/")).split("/")[1]
    ]
    assert verify_checkpoints(services.settings, services.db).ok
    # acknowledging the group opens its incident; the incident lists the affected accounts
    from incidentbook.core.ledger.reconcile.candidates import incident_accounts

    outcome = services.alerts.acknowledge_group(services.context("ack"), "duplicate_posting")
    assert incident_accounts(services.db, outcome.incident.id) == affected_accounts(
        services.db, "duplicate_posting"
    )


def test_format_minor() -> None:
    assert format_minor(-120433117, "EUR") == "−1,204,331.17 EUR"
    assert format_minor(5, "JPY") == "5 JPY"
    assert format_minor(7, "USD") == "0.07 USD"


def test_incremental_looks_at_changed_accounts_only(services: Services, tmp_path: Path) -> None:
    path = tmp_path / "demo.sqlite"
    build_ledger(path, LedgerParams(accounts=3000, days=3, seed=3))
    url = f"sqlite:///{path}"
    full = reconcile(services, url)
    assert full.mode == "full" and full.found > 0  # type: ignore[attr-defined]
    firing_before = {a.fingerprint for a in services.alerts.list_alerts("firing")}
    append_traffic(path, 300, seed=5)
    # a new double posting on a live account, and a fixed mismatch
    conn = sqlite3.connect(path)
    (last_id,) = conn.execute("SELECT MAX(entry_id) FROM ledger_entries").fetchone()
    (last_at,) = conn.execute("SELECT MAX(recorded_at) FROM ledger_entries").fetchone()
    for i in (1, 2):
        conn.execute(
            "INSERT INTO ledger_entries VALUES (?, 'acc_0000007', 500, (SELECT currency FROM"
            " ledger_accounts WHERE account_id = 'acc_0000007'), 'payment', ?, ?, 'evt-live-dup',"
            " NULL, 'webhook:processor', 'webhook retry', ?, NULL)",
            (last_id + i, last_at, last_at, f"req-{i}"),
        )
    conn.execute(
        "UPDATE ledger_accounts SET balance_minor = balance_minor + 1000, updated_at = ?"
        " WHERE account_id = 'acc_0000007'",
        (last_at,),
    )
    fixed = next(f for f in firing_before if f.startswith("balance_mismatch/"))
    account = fixed.split("/", 1)[1]
    conn.execute(
        "UPDATE ledger_accounts SET updated_at = ?, balance_minor = (SELECT SUM(amount_minor)"
        " FROM ledger_entries WHERE account_id = ?) WHERE account_id = ?",
        (last_at, account, account),
    )
    conn.commit()
    conn.close()
    inc = reconcile(services, url)
    assert inc.mode == "incremental"  # type: ignore[attr-defined]
    assert inc.checks["duplicate_posting"]["new"] == 1  # type: ignore[attr-defined]
    assert inc.checks["balance_mismatch"]["resolved"] == 1  # type: ignore[attr-defined]
    assert services.alerts.get("duplicate_posting/acc_0000007/evt-live-dup").status == "firing"
    assert services.alerts.get(fixed).status == "resolved"
    # everything else found by the full run is still firing (not resolved by omission)
    firing_after = {a.fingerprint for a in services.alerts.list_alerts("firing")}
    assert firing_after == (firing_before - {fixed}) | {
        "duplicate_posting/acc_0000007/evt-live-dup"
    }
    # and an incremental run agrees with a full run on the same ledger
    full_again = reconcile(services, url, mode="full")
    assert {f.fingerprint for f in findings(services.db, full_again.run_id)} == firing_after  # type: ignore[attr-defined]


def test_one_snapshot_while_the_ledger_is_written(services: Services, tmp_path: Path) -> None:
    """A writer that keeps balance and entry in one transaction causes no false findings."""
    rows, expected = faulted_ledger(9, 400, {}, decoys=0)
    assert not expected
    path = tmp_path / "live.sqlite"
    write_ledger(f"sqlite:///{path}", rows)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    stop = threading.Event()
    first_commit = threading.Event()
    written = []

    def writer() -> None:
        db = sqlite3.connect(path, timeout=30, isolation_level=None)
        accounts = [r[0] for r in db.execute("SELECT account_id FROM ledger_accounts")]
        i = 0
        deadline = time.monotonic() + 60  # never outlive a stuck test
        while not stop.is_set() and time.monotonic() < deadline:
            account = accounts[i % len(accounts)]
            i += 1
            db.execute("BEGIN IMMEDIATE")
            db.execute(
                "INSERT INTO ledger_entries (entry_id, account_id, amount_minor, currency, kind,"
                " occurred_at, recorded_at, actor) SELECT ?, account_id, 100, currency, 'payment',"
                " '2030-01-01T00:00:00Z', '2030-01-01T00:00:00Z', 'system:test'"
                " FROM ledger_accounts WHERE account_id = ?",
                (10**9 + i, account),
            )
            db.execute(
                "UPDATE ledger_accounts SET balance_minor = balance_minor + 100"
                " WHERE account_id = ?",
                (account,),
            )
            db.execute("COMMIT")
            written.append(i)
            first_commit.set()
            stop.wait(0.002)  # a busy writer, not a livelock
        db.close()

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    # the ledger has changed before the run (ids far above the rest) and changes during it
    assert first_commit.wait(30)
    try:
        summary = reconcile(services, f"sqlite:///{path}", batch=3)
    finally:
        stop.set()
        thread.join()
    assert len(written) > 10  # the ledger really changed during the run
    assert summary.found == 0, findings(services.db, summary.run_id)  # type: ignore[attr-defined]


def _nothing_written(services: Services, before: dict[str, int]) -> None:
    assert counts(services) == before


def test_non_integer_amount_mid_run_writes_nothing(services: Services, tmp_path: Path) -> None:
    rows, _ = faulted_ledger(3, 40, {"duplicate_posting": 2})
    path = tmp_path / "bad.sqlite"
    write_ledger(f"sqlite:///{path}", rows)
    conn = sqlite3.connect(path)
    (entry_id,) = conn.execute(
        "SELECT MAX(entry_id) FROM ledger_entries WHERE account_id = (SELECT MAX(account_id)"
        " FROM ledger_accounts)"
    ).fetchone()
    conn.execute("UPDATE ledger_entries SET amount_minor = 12.5 WHERE entry_id = ?", (entry_id,))
    conn.commit()
    conn.close()
    before = counts(services)
    with pytest.raises(LedgerError, match=f"amount_minor is not an integer in entry {entry_id}"):
        reconcile(services, f"sqlite:///{path}", batch=5)  # fails in a late batch
    _nothing_written(services, before)


@pytest.mark.parametrize(
    ("table", "column", "value", "message"),
    [
        ("ledger_entries", "amount_minor", "'ten'", "amount_minor is not an integer in entry"),
        ("ledger_entries", "amount_minor", "-0.5", "amount_minor is not an integer in entry"),
        ("ledger_accounts", "balance_minor", "'ten'", "balance_minor is not an integer for"),
        ("ledger_accounts", "balance_minor", "7.25", "balance_minor is not an integer for"),
        # a fractional amount whose sum the balance repeats: nothing disagrees but the types
        ("both", "amount_minor", "-0.5", "balance_minor is not an integer for"),
    ],
)
def test_a_value_that_is_not_an_integer_stops_the_run(
    services: Services, tmp_path: Path, table: str, column: str, value: str, message: str
) -> None:
    """A text or fractional amount or balance (an integer column keeps them as they are) is
    a contract error: one line naming it, nothing written."""
    rows, _ = faulted_ledger(3, 40, {})
    path = tmp_path / "typed.sqlite"
    write_ledger(f"sqlite:///{path}", rows)
    conn = sqlite3.connect(path)
    (account_id, entry_id) = conn.execute(
        "SELECT account_id, MAX(entry_id) FROM ledger_entries GROUP BY account_id LIMIT 1"
    ).fetchone()
    key = ("account_id", account_id) if table == "ledger_accounts" else ("entry_id", entry_id)
    conn.execute(
        f"UPDATE {'ledger_entries' if table == 'both' else table} SET {column} = {value}"
        f" WHERE {key[0]} = ?",
        (key[1],),
    )
    if table == "both":
        conn.execute(
            "UPDATE ledger_accounts SET balance_minor = (SELECT SUM(amount_minor)"
            " FROM ledger_entries WHERE account_id = ?) WHERE account_id = ?",
            (account_id, account_id),
        )
    conn.commit()
    conn.close()
    before = counts(services)
    with pytest.raises(LedgerError, match=message):
        reconcile(services, f"sqlite:///{path}", batch=5)
    _nothing_written(services, before)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("CREATE TABLE something (x INT)", "table ledger_accounts is missing"),
        (
            "CREATE TABLE ledger_accounts (account_id TEXT, currency TEXT, balance_minor INT,"
            " updated_at TEXT, opened_at TEXT); CREATE TABLE ledger_entries (entry_id INT,"
            " account_id TEXT, amount_minor INT, currency TEXT, occurred_at TEXT,"
            " recorded_at TEXT, external_ref TEXT, idempotency_key TEXT, actor TEXT, reason TEXT,"
            " correlation_id TEXT, reverses_entry_id INT)",
            "ledger_entries has no column kind",
        ),
    ],
)
def test_non_contract_databases_fail_in_one_line(
    cli: Cli, services: Services, tmp_path: Path, setup: str, message: str
) -> None:
    path = tmp_path / "other.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(setup)
    conn.close()
    before = counts(services)
    result = cli("reconcile", "--ledger", f"sqlite:///{path}")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr
    _nothing_written(services, before)
    audit = cli("audit", "acc_1", "--ledger", f"sqlite:///{path}")
    assert audit.exit_code == 2 and message in audit.stderr


def test_unreachable_and_garbage_ledgers(cli: Cli, services: Services, tmp_path: Path) -> None:
    before = counts(services)
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database" * 100)
    cases = [
        (f"sqlite:///{tmp_path / 'missing.sqlite'}", "ledger database not found"),
        (f"sqlite:///{garbage}", "not a database"),
        ("postgresql+psycopg://nobody@127.0.0.1:1/none", "cannot read ledger"),
        ("mysql://x@y/z", "unsupported database"),
        ("::::", "not a database URL"),
    ]
    for url, message in cases:
        result = cli("reconcile", "--ledger", url)
        assert result.exit_code == 2, (url, result.output)
        assert result.stderr.startswith("incidentbook: error: ") and message in result.stderr
        assert result.stderr.count("\n") == 1
    assert not (tmp_path / "missing.sqlite").exists()  # opened read-only: nothing created
    _nothing_written(services, before)


def test_cli_json_summary_and_exit_codes(cli: Cli, tmp_path: Path) -> None:
    rows, _ = faulted_ledger(8, 20, {"orphan_entry": 2})
    url = f"sqlite:///{tmp_path / 'l.sqlite'}"
    write_ledger(url, rows)
    result = cli("reconcile", "--ledger", url, "--json", "--batch", "4", "--max-rate", "100000")
    assert result.exit_code == 1  # findings
    summary = json.loads(result.stdout)
    assert summary["checks"]["orphan_entry"] == {"found": 2, "new": 2, "resolved": 0}
    assert set(summary["checks"]) == set(FAULT_KINDS)
    clean_rows, _ = faulted_ledger(8, 20, {})
    write_ledger(url, clean_rows)
    result = cli("reconcile", "--ledger", url, "--full")
    assert result.exit_code == 0, result.output
    assert "orphan_entry" in result.stdout and "resolved       2" in result.stdout
    assert cli("reconcile", "--ledger", url, "--batch", "0").exit_code == 2


def test_verify_notices_tampered_checkpoints(services: Services, small: tuple[str, Path, set[str]]):
    url, _, _ = small
    reconcile(services, url, batch=4)
    assert verify_checkpoints(services.settings, services.db).ok
    with services.db.write() as session:
        session.connection().execute(
            text("DELETE FROM reconcile_findings WHERE rowid = (SELECT MIN(rowid) FROM"
                 " reconcile_findings)")
        )  # fmt: skip
    result = verify_checkpoints(services.settings, services.db)
    assert not result.ok and "findings, " in result.problems[0]


def test_demo_step_builds_once_and_leaves_live_alert_groups(cli: Cli, services: Services):
    first = cli("demo", "--accounts", "2000", "--days", "3", "--json")
    assert first.exit_code == 0, first.output
    steps = json.loads(first.stdout)["steps"]
    assert any(s.startswith("ledger: built") for s in steps)
    ledger = Path(services.settings.ledger_url.removeprefix("sqlite:///"))
    size = sqlite3.connect(ledger).execute("SELECT COUNT(*) FROM ledger_entries").fetchone()
    again = cli("demo", "--accounts", "2000", "--days", "3", "--json")
    assert any(s.startswith("ledger: kept") for s in json.loads(again.stdout)["steps"])
    assert sqlite3.connect(ledger).execute("SELECT COUNT(*) FROM ledger_entries").fetchone() == size
    groups = {g.key for g in services.alerts.groups()}
    assert {"balance_mismatch", "duplicate_posting"} <= groups
    dup = next(c for c in incident_candidates(services.db) if c.check == "duplicate_posting")
    assert 5 <= dup.accounts <= 15  # ~0.5% of 2,000 accounts


def test_health_tile_shows_last_run_and_its_findings(
    services: Services, small: tuple[str, Path, set[str]]
) -> None:
    from incidentbook.ui.widgets.health_tiles import reconciler_tile

    url, _, expected = small
    assert reconciler_tile(services.health.report(url)).body.startswith("never run")
    reconcile(services, url)
    body = reconciler_tile(services.health.report(url)).body
    assert "last run" in body and "full, took" in body
    assert f"{len(expected)} findings" in body and len(expected) == 6


def test_reconciler_health_is_data(services: Services, small: tuple[str, Path, set[str]]) -> None:
    """The Health screen's reconciler figures come from the core as data, not text."""
    url, _, _ = small
    assert not services.reconciler.health(url).ever_run
    summary = reconcile(services, url)
    health = services.reconciler.health(url)
    assert health.ever_run and health.unfinished is None and health.pruned_runs == 0
    assert health.last_complete is not None
    assert health.last_complete.run_id == summary.run_id  # type: ignore[attr-defined]
    assert health.last_complete.mode == "full" and health.age_seconds is not None
    (run,) = health.full_runs
    assert tuple(run.found) == health.checks and set(run.found.values()) == {1}
    assert health.lag is not None and health.lag.entries_behind == 0


def test_one_reconcile_per_workspace_at_a_time(
    services: Services, small: tuple[str, Path, set[str]]
) -> None:
    import fcntl

    url, _, _ = small
    with (services.settings.state_dir / "reconcile.lock").open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        with pytest.raises(Exception, match="another reconcile is running"):
            reconcile(services, url)
        fcntl.flock(handle, fcntl.LOCK_UN)
    assert reconcile(services, url).status == "complete"  # type: ignore[attr-defined]


def test_show_indexes_touches_nothing(cli: Cli, services: Services) -> None:
    before = counts(services)
    result = cli("reconcile", "--show-indexes")
    assert result.exit_code == 0 and "CREATE INDEX ix_ledger_entries_recon" in result.stdout
    assert counts(services) == before
    missing = cli("reconcile")  # the workspace has no ledger yet: say how to get one
    assert missing.exit_code == 2 and "incidentbook demo" in missing.stderr


def test_sparse_entry_ids_do_not_make_empty_batches(services: Services, tmp_path: Path) -> None:
    """A gap of 10^12 ids between entries costs one batch, not 10^11 (and one skew is found
    across the gap)."""
    rows, expected = faulted_ledger(4, 10, {"clock_skew": 1})
    entries = list(rows.entries)
    last = entries[-1]
    far = (10**12, last[1], 0, last[3], "fee", last[5], last[6] - timedelta(hours=3), None, None,
           "system:test", None, "far", None)  # fmt: skip
    rows.entries = [*entries, far]
    url = f"sqlite:///{tmp_path / 'sparse.sqlite'}"
    write_ledger(url, rows)
    summary = reconcile(services, url, batch=1)
    found = {f.fingerprint for f in findings(services.db, summary.run_id)}  # type: ignore[attr-defined]
    assert found == expected | {f"clock_skew/{10**12}"}
    assert summary.batches < 100  # type: ignore[attr-defined]


def test_accounts_without_entries_are_probed_only_when_a_balance_needs_it(
    tmp_path: Path,
) -> None:
    """The account scan counts the non-zero balances its sums explained; only when the range
    holds more does it look for accounts without entries (one index probe per account)."""
    from incidentbook.core.ledger.checks import account_findings
    from incidentbook.core.ledger.contract import open_ledger

    rows, _ = faulted_ledger(11, 12, {})
    clean = list(rows.accounts)
    with_entries = {e[1] for e in rows.entries}
    idle = sorted(str(a[0]) for a in clean if a[0] not in with_entries)
    assert idle and all(a[2] == 0 for a in clean if a[0] in idle)
    clean_entries = list(rows.entries)

    def scan(name: str) -> tuple[set[str], int]:
        url = f"sqlite:///{tmp_path / name}"
        write_ledger(url, rows)
        ledger = open_ledger(url)
        statements: list[str] = []
        try:
            with ledger.snapshot() as snap:
                snap.dbapi.set_trace_callback(statements.append)
                _, found = account_findings(snap, "1 = 1", [])
        finally:
            ledger.dispose()
        return {f.fingerprint for f in found}, sum("NOT EXISTS" in s for s in statements)

    # every balance is explained by entries: no probe
    assert scan("clean.sqlite") == (set(), 0)
    # a balance on an account without entries: probed, and found
    rows.accounts = [(*a[:2], 4200, *a[3:]) if a[0] == idle[0] else a for a in clean]
    assert scan("holding.sqlite") == ({f"balance_mismatch/{idle[0]}"}, 1)
    # an account whose entries are all in a foreign currency explains its balance in none of
    # its own: probed, and the probe does not take it for an account without entries
    rows.accounts = clean
    foreign = sorted(with_entries)[0]
    rows.entries = [(*e[:3], "XXX", *e[4:]) if e[1] == foreign else e for e in clean_entries]
    found, probes = scan("foreign.sqlite")
    assert probes == 1
    assert found == {
        f"currency_mismatch/{foreign}/{e[0]}" for e in clean_entries if e[1] == foreign
    }


def _with_reconciler_settings(services: Services, section: str, **values: object) -> Services:
    return _with_section(services, section, values)


def _with_section(services: Services, section: str, value: object) -> Services:
    from dataclasses import replace

    from incidentbook.services import make_services

    config = {**services.settings.config, section: value}
    return make_services(replace(services.settings, config=config))


def test_the_workspace_reconciler_settings_are_the_ones_used(
    services: Services, tmp_path: Path
) -> None:
    """[reconciler] in incidentbook.toml (what init writes) sets the clock-skew tolerance and
    the incremental overlap a run records; a stricter or looser tolerance changes findings."""
    rows, expected = faulted_ledger(5, 30, {"clock_skew": 1})
    url = f"sqlite:///{tmp_path / 'skew.sqlite'}"
    write_ledger(url, rows)
    (skew,) = {f for f in expected if f.startswith("clock_skew/")}  # 2 h back

    def run(tolerance: int, overlap: int) -> set[str]:
        configured = _with_reconciler_settings(
            services, "reconciler", clock_skew_tolerance_s=tolerance, overlap_window_s=overlap
        )
        try:
            summary = reconcile(configured, url, mode="full")
            with configured.db.read() as session:
                (options,) = session.connection().execute(
                    text("SELECT options FROM reconcile_runs WHERE run_id = :r"),
                    {"r": summary.run_id},  # type: ignore[attr-defined]
                ).one()
            stored = json.loads(options)
            assert stored["clock_skew_tolerance_s"] == tolerance
            assert stored["overlap_s"] == overlap
            return {f.fingerprint for f in findings(configured.db, summary.run_id)}  # type: ignore[attr-defined]
        finally:
            configured.db.dispose()

    assert skew in run(3600, 42)
    assert skew not in run(3 * 3600, 600)


@pytest.mark.parametrize(
    ("section", "values", "message"),
    [
        ("reconciler", {"clock_skew_tolerance": 60},
         "unknown key 'clock_skew_tolerance' (did you mean 'clock_skew_tolerance_s'?)"),
        ("reconciler", {"overlap_window_s": "ten"}, "overlap_window_s is 'ten': input should be"),
        ("reconciler", {"clock_skew_tolerance_s": 0}, "tolerance_s is 0: input should be greater"),
        # TOML has nan and inf: neither is a tolerance or a window
        ("reconciler", {"clock_skew_tolerance_s": float("nan")}, "is nan: input should"),
        ("reconciler", {"overlap_window_s": float("inf")}, "is inf: input should be a finite"),
        ("reconciler", {"entry_overlap": 1000.5}, "entry_overlap is 1000.5: input should"),
        ("reconciler", {"keep_runs": True}, "keep_runs is true: input should be a valid integer"),
        ("reconciler", 5, "[reconciler] must be a table"),
        ("reconcile", {"clock_skew_tolerance_s": 60},
         "unknown section [reconcile] (did you mean [reconciler]?)"),
    ],
)
def test_a_setting_that_cannot_be_used_stops_the_run_before_it_starts(
    services: Services, tmp_path: Path, section: str, values: object, message: str
) -> None:
    from incidentbook.errors import UsageError

    rows, _ = faulted_ledger(6, 20, {"balance_mismatch": 1})
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    write_ledger(url, rows)
    configured = _with_section(services, section, values)
    before = counts(services)
    try:
        with pytest.raises(UsageError, match=re.escape(message)):
            reconcile(configured, url)
    finally:
        configured.db.dispose()
    _nothing_written(services, before)


def test_cli_names_a_misspelt_setting_in_one_line(cli: Cli, tmp_path: Path) -> None:
    rows, _ = faulted_ledger(7, 10, {})
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    write_ledger(url, rows)
    toml = cli.workspace / "incidentbook.toml"
    toml.write_text(toml.read_text().replace("overlap_window_s = 600", "overlap_windows = 600"))
    result = cli("reconcile", "--ledger", url)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert (
        "incidentbook.toml: [reconciler] unknown key 'overlap_windows'"
        " (did you mean 'overlap_window_s'?)" in result.stderr
    )


def test_old_runs_keep_their_summary_and_let_go_of_their_rows(
    services: Services, small: tuple[str, Path, set[str]]
) -> None:
    """[reconciler] keep_runs bounds the state a cron'd reconciler leaves: a ledger's runs
    beyond the newest N keep their row and summary (also one never stored, from before
    summaries were), lose their findings, checkpoints and resolutions, and verify agrees."""
    from incidentbook.core.ledger.reconcile.runs import prune_runs, run_summary
    from incidentbook.ui.widgets.health_tiles import reconciler_tile

    url, path, _ = small
    keeping = _with_reconciler_settings(services, "reconciler", keep_runs=2)
    ctx = keeping.context("test", actor="reconciler")
    summaries = {}
    try:
        for n in range(4):
            if n == 1:  # a fix between runs: the second run resolves an alert
                conn = sqlite3.connect(path)
                conn.execute(
                    "UPDATE ledger_accounts SET balance_minor = (SELECT SUM(amount_minor)"
                    " FROM ledger_entries e WHERE e.account_id = ledger_accounts.account_id)"
                    " WHERE account_id IN (SELECT account_id FROM ledger_entries)"
                )
                conn.commit()
                conn.close()
            if n == 3:  # the newest kept run looks like one from before summaries were stored
                with keeping.db.write() as session:
                    session.connection().execute(
                        text("UPDATE reconcile_runs SET summary = NULL WHERE run_id = :r"),
                        {"r": list(summaries)[-1]},
                    )
            summary = keeping.reconciler.run(
                ctx, ReconcileOptions(ledger_url=url, mode="full", batch=7)
            )
            summaries[summary.run_id] = summary.checks
        runs = list(summaries)
        assert any(c["resolved"] for c in summaries[runs[1]].values())
        with keeping.db.read() as session:
            state = dict(
                session.connection().execute(
                    text("SELECT run_id, pruned_at IS NOT NULL FROM reconcile_runs")
                ).all()
            )
        assert state == {runs[0]: 1, runs[1]: 1, runs[2]: 0, runs[3]: 0}
        for run_id, checks in summaries.items():
            assert run_summary(keeping.db, run_id).checks == checks, run_id
        assert findings(keeping.db, runs[0]) == [] and findings(keeping.db, runs[1]) == []
        assert len(findings(keeping.db, runs[3])) == sum(
            c["found"] for c in summaries[runs[3]].values()
        )
        assert verify_checkpoints(keeping.settings, keeping.db).ok
        panel = reconciler_tile(keeping.health.report(url)).body
        assert "2 runs summarised" in panel  # seen without asking the user
        assert prune_runs(keeping.db, ctx, _ledger_of(keeping, runs[3]), 2) == 0
        # runs[2] had its summary removed: pruning it counts one from its rows first
        assert prune_runs(keeping.db, ctx, _ledger_of(keeping, runs[3]), 1) == 1
        assert run_summary(keeping.db, runs[2]).checks == summaries[runs[2]]
        assert verify_checkpoints(keeping.settings, keeping.db).ok
    finally:
        keeping.db.dispose()


def _ledger_of(services: Services, run_id: str) -> str:
    with services.db.read() as session:
        (ledger,) = session.connection().execute(
            text("SELECT ledger FROM reconcile_runs WHERE run_id = :r"), {"r": run_id}
        ).one()
    return str(ledger)
