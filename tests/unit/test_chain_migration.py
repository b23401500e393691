"""Migration 0009 chains existing events: from the kept 0001 fixture, and from a database of
100,000 events whose upgrade is killed (-9) mid-backfill, in a batch and between batches, and
run again: the same chain as an uninterrupted upgrade of a copy, the trigger always in place."""

from __future__ import annotations

import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from incidentbook.core.health.verify import run_verify
from incidentbook.settings import Settings
from incidentbook.storage.db import Database, make_engine
from incidentbook.storage.migrations import SCHEMA_HEAD, current_revision, upgrade_to_head
from tests.support.chain import GENESIS, independent_chain, stored_chain, triggers

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
EVENTS = 100_000
CHECKPOINT = "event_chain_backfill"


def _query(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _has_checkpoint(path: Path) -> bool:
    return bool(_query(path, f"SELECT 1 FROM sqlite_master WHERE name = '{CHECKPOINT}'"))


def _upgrade(path: Path) -> None:
    db = Database(path)
    try:
        _ = db.engine
        assert current_revision(db.engine) == SCHEMA_HEAD
    finally:
        db.dispose()


@pytest.fixture(scope="module")
def big_0008(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database at schema 0008 with 100,000 events (every column used, some odd text)."""
    path = tmp_path_factory.mktemp("chain") / "state-0008.sqlite"
    engine = make_engine(path)
    upgrade_to_head(engine, "0008")
    engine.dispose()
    conn = sqlite3.connect(path)
    conn.executemany(
        "INSERT INTO events (seq, event_id, stream, type, data, actor, reason, correlation_id, "
        "recorded_at, idempotency_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            (
                seq,
                f"{seq:032x}",
                f"incident:INC-{seq % 97:04d}",
                "incident.note_added",
                f'{{"text":"note {seq} \\u00e9\\u2713"}}',
                "user:ana" if seq % 2 else "system:reconciler",
                None if seq % 3 else f"reason {seq} — ünïcode",
                f"corr-{seq // 10}",
                f"2026-10-17T02:{seq % 60:02d}:00.000000Z",
                f"key-{seq}" if seq % 5 == 0 else None,
            )
            for seq in range(1, EVENTS + 1)
        ),
    )
    conn.commit()
    conn.close()
    return path


@pytest.fixture(scope="module")
def uninterrupted(big_0008: Path, tmp_path_factory: pytest.TempPathFactory) -> list[tuple]:
    copy = tmp_path_factory.mktemp("chain") / "uninterrupted.sqlite"
    shutil.copy(big_0008, copy)
    _upgrade(copy)
    chain = stored_chain(copy)
    assert chain == independent_chain(copy)
    assert not _has_checkpoint(copy)
    return chain


def test_the_kept_fixture_is_chained(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    shutil.copy(FIXTURES / "state-0001.sqlite", path)
    _upgrade(path)
    chain = stored_chain(path)
    assert chain and chain == independent_chain(path) and chain[0][1] == GENESIS
    conn = sqlite3.connect(path)
    assert set(triggers(conn)) == {"events_no_update", "events_no_delete"}
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE events SET hash = 'x' WHERE seq = 1")
    conn.close()
    assert not _has_checkpoint(path)
    db = Database(path)
    results = run_verify(Settings(workspace=tmp_path, config={}), db)
    db.dispose()
    assert all(r.ok for r in results), [r.problems for r in results if not r.ok]


def test_100k_events_chain_like_the_fixture_says(uninterrupted: list[tuple]) -> None:
    assert [seq for seq, _p, _h in uninterrupted] == list(range(1, EVENTS + 1))


# The upgrade in a child process. "in-batch": link_hash SIGKILLs the process itself in the
# middle of batch 3 (its UPDATE done, not committed). "between": after batch 2's progress log
# the child waits; the parent kills it with -9 there.
_CHILD = """
import os, signal, sys
from pathlib import Path
mode, path = sys.argv[1], Path(sys.argv[2])
if mode == "in-batch":
    import incidentbook.core.events.model as model
    real, calls = model.link_hash, [0]
    def link_hash(prev, content):
        calls[0] += 1
        if calls[0] == 12_345:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(prev, content)
    model.link_hash = link_hash
else:
    import incidentbook.obs as obs
    def log_info(name, correlation_id=None, **fields):
        print(name, fields.get("chained"), flush=True)
        if fields.get("chained") == 10_000:
            sys.stdin.readline()  # killed here
    obs.log_info = log_info
from incidentbook.storage.db import Database
Database(path).engine
print("finished", flush=True)
"""


@pytest.mark.parametrize("mode", ["in-batch", "between"])
def test_a_killed_backfill_resumes_to_the_same_chain(
    mode: str,
    big_0008: Path,
    uninterrupted: list[tuple],
    tmp_path: Path,
    subprocess_env: dict[str, str],
) -> None:
    path = tmp_path / "state.sqlite"
    shutil.copy(big_0008, path)
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, mode, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=subprocess_env,
    )
    assert child.stdout is not None
    if mode == "between":
        assert child.stdout.readline().split() == ["migration_0009_progress", "5000"]
        assert child.stdout.readline().split() == ["migration_0009_progress", "10000"]
        child.send_signal(signal.SIGKILL)
    out, _ = child.communicate(timeout=300)
    assert child.returncode == -signal.SIGKILL
    assert "finished" not in out
    # Killed mid-backfill: two batches chained, the checkpoint at their end, the schema not
    # stamped yet, and the UPDATE trigger in place (each batch re-creates it before commit).
    assert _query(path, "SELECT version_num FROM alembic_version") == [("0008",)]
    assert _query(path, f"SELECT last_seq FROM {CHECKPOINT}") == [(10_000,)]
    assert _query(path, "SELECT count(hash) FROM events") == [(10_000,)]
    conn = sqlite3.connect(path)
    assert set(triggers(conn)) == {"events_no_update", "events_no_delete"}
    conn.close()
    _upgrade(path)  # run again
    assert stored_chain(path) == uninterrupted
    assert not _has_checkpoint(path)
    conn = sqlite3.connect(path)
    assert set(triggers(conn)) == {"events_no_update", "events_no_delete"}
    conn.close()
