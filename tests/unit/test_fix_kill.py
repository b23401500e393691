"""kill -9 of a ``fix apply`` subprocess (issue 13): at checkpoints seen in the state database
(plus a random fraction of a batch), or right after a batch's ledger commit and before its
checkpoint; then the same apply again to completion. The ledger ends byte-for-byte as after an
uninterrupted apply of the same plan with the same fixed clock, and the incident has exactly
one ``incident.correction_applied`` per batch. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from incidentbook.core.ledger.contract import open_ledger
from incidentbook.testing.synth import write_ledger
from tests.support.cli import REPO_ROOT
from tests.support.fix_random import (
    FixLedger,
    ack_fixable,
    dump,
    fix_ledger,
    fresh_services,
    reconcile,
)

CHILD = REPO_ROOT / "tests" / "support" / "fix_apply_child.py"
BATCH = 3
RATE = 30.0  # accounts per second: ~0.1 s a batch, so a kill lands inside the apply


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT / "src"), str(REPO_ROOT)])
    env.update(extra or {})
    return env


def _child(ws: Path, url: str, plan: str, *rate: str) -> list[str]:
    return [sys.executable, str(CHILD), str(ws), url, plan, str(BATCH), *rate]


def _state(ws: Path) -> sqlite3.Connection:
    return sqlite3.connect(
        f"file:{ws / '.incidentbook' / 'state.sqlite'}?mode=ro", uri=True, timeout=5
    )


def _checkpoints(ws: Path) -> int:
    try:
        conn = _state(ws)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM fix_batches").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def _corrections(ws: Path) -> list[dict[str, Any]]:
    conn = _state(ws)
    try:
        rows = conn.execute(
            "SELECT data FROM events WHERE type = 'incident.correction_applied' ORDER BY seq"
        ).fetchall()
    finally:
        conn.close()
    return [json.loads(r[0]) for r in rows]


def _prepare(tmp: Path, url: str) -> tuple[FixLedger, Path, str, int]:
    """A ledger with 40 accounts to correct, an incident and a plan; returns the made ledger,
    the planned workspace, the plan id and its number of batches."""
    made = fix_ledger(
        404,
        90,
        dup_all=16,
        dup_one=12,
        mismatch=12,
        others={"clock_skew": 2, "orphan_entry": 1, "currency_mismatch": 1},
    )
    write_ledger(url, made.rows)
    services = fresh_services(tmp / "ws")
    try:
        reconcile(services, url)
        incident = ack_fixable(services)
        ledger = open_ledger(url)
        try:
            plan = services.fixes.plan(services.context("kill test"), incident, ledger).plan
        finally:
            ledger.dispose()
    finally:
        services.db.dispose()
    assert len(plan.accounts) == 40
    return made, tmp / "ws", plan.plan_id, -(-len(plan.accounts) // BATCH)


def _reset(made: FixLedger, url: str, ws: Path, planned: Path) -> None:
    write_ledger(url, made.rows)
    shutil.rmtree(ws)
    shutil.copytree(planned, ws)


def _without_attempt_fields(event: dict[str, Any]) -> dict[str, Any]:
    # entries_written counts what that attempt wrote: a batch the ledger committed before the
    # kill is checkpointed by the next attempt with 0 written now (its reversals are there)
    return {k: v for k, v in event.items() if k != "entries_written"}


def _kill_at(proc: subprocess.Popen[bytes], ws: Path, checkpoints: int, delay: float) -> bool:
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if _checkpoints(ws) >= checkpoints:
            time.sleep(delay)
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.wait(timeout=60)
    return proc.returncode == -signal.SIGKILL


KILLS = [
    ("sqlite", "poll", 1),
    ("sqlite", "poll", 2),
    ("sqlite", "poll", 3),
    ("sqlite", "after-commit", 1),
    ("sqlite", "after-commit", 7),
    ("postgres", "poll", 4),
    ("postgres", "after-commit", 5),
]


@pytest.mark.parametrize(("backend", "how", "seed"), KILLS)
def test_kill_9_then_again_gives_the_uninterrupted_ledger(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str, how: str, seed: int
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'ledger.sqlite'}"
        if backend == "sqlite"
        else str(request.getfixturevalue("pg_url"))
    )
    made, ws, plan_id, batches = _prepare(tmp_path, url)
    assert batches >= 10
    planned = tmp_path / "planned"
    shutil.copytree(ws, planned)

    reference = subprocess.run(
        _child(ws, url, plan_id), env=_env(), capture_output=True, text=True, timeout=300
    )
    assert reference.returncode == 0, reference.stderr
    assert reference.stdout.split() == [str(batches), str(batches), "0"]
    expected = dump(url)
    expected_events = _corrections(ws)
    assert [e["batch"] for e in expected_events] == list(range(batches))

    _reset(made, url, ws, planned)
    assert dump(url) != expected
    rng = random.Random(seed)
    if how == "poll":
        stops = sorted(rng.sample(range(1, batches - 1), 2))
        for stop in stops:
            proc = subprocess.Popen(
                _child(ws, url, plan_id, str(RATE)),
                env=_env(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            assert _kill_at(proc, ws, stop, rng.random() * 0.12), "the apply ended before the kill"
    else:
        killed = subprocess.run(
            _child(ws, url, plan_id),
            capture_output=True,
            timeout=300,
            env=_env({"INCIDENTBOOK_TEST_KILL_AFTER_LEDGER_BATCH": str(seed)}),
        )
        assert killed.returncode == -signal.SIGKILL
        assert _checkpoints(ws) == seed - 1  # the ledger holds batch `seed`, the state does not
    finished = subprocess.run(
        _child(ws, url, plan_id), env=_env(), capture_output=True, text=True, timeout=300
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.split()[1:] == [str(batches), "0"]

    assert dump(url) == expected
    events = _corrections(ws)
    assert [e["batch"] for e in events] == list(range(batches))  # one per batch, none twice
    assert [_without_attempt_fields(e) for e in events] == [
        _without_attempt_fields(e) for e in expected_events
    ]
    assert sum(e["reversals"] for e in events) == made.extra_copies
