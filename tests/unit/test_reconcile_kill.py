"""kill -9 at random moments of a real ``incidentbook reconcile`` subprocess; ``--resume``
(or the next plain run) ends with exactly the alerts of an uninterrupted run."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from incidentbook.demo.ledger import LedgerParams, build_ledger
from incidentbook.workspace import init_workspace
from tests.support.cli import venv_bin


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ledger") / "ledger.sqlite"
    build_ledger(path, LedgerParams(accounts=4000, days=3, seed=11))
    return f"sqlite:///{path}"


def _run(ws: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [venv_bin("incidentbook"), "--workspace", str(ws), "reconcile", *args],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip


def _alerts(ws: Path) -> dict[str, tuple[Any, ...]]:
    conn = sqlite3.connect(ws / ".incidentbook" / "state.sqlite")
    try:
        out = {}
        for fp, status, occ, episodes, labels, notes in conn.execute(
            "SELECT fingerprint, status, occurrences, episodes, labels, annotations FROM alerts"
        ):
            out[fp] = (status, occ, episodes, labels, notes)
        return out
    finally:
        conn.close()


def _checkpoints(ws: Path) -> tuple[int, str]:
    db = ws / ".incidentbook" / "state.sqlite"
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            row = conn.execute(
                "SELECT batches, phase FROM reconcile_runs WHERE status = 'running'"
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return 0, ""
    return (int(row[0]), str(row[1])) if row else (0, "")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill_9_then_resume_gives_identical_alerts(
    tmp_path: Path, ledger: str, subprocess_env: dict[str, str], seed: int
) -> None:
    rng = random.Random(seed)
    reference = init_workspace(tmp_path / "reference").workspace
    victim = init_workspace(tmp_path / "victim").workspace
    args = ["--ledger", ledger, "--batch", "200", "--json"]
    done = _run(reference, subprocess_env, *args)
    assert done.returncode == 1, done.stderr  # findings exist
    expected = _alerts(reference)
    assert expected

    # a second pass on both sides too: the resumed run must also repeat/resolve identically
    kills = 0
    for round_ in range(2):
        stop_at = rng.randint(1, 24)
        proc = subprocess.Popen(
            [venv_bin("incidentbook"), "--workspace", str(victim), "reconcile", *args,
             "--full", "--max-rate", "4000"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=subprocess_env,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        killed = False
        while proc.poll() is None and time.monotonic() < deadline:
            batches, phase = _checkpoints(victim)
            if batches >= stop_at or phase in ("publish", "resolve"):
                time.sleep(rng.random() * 0.05)
                os.kill(proc.pid, signal.SIGKILL)
                kills += 1
                killed = True
                break
            time.sleep(0.01)
        proc.wait(timeout=60)
        interrupted = _checkpoints(victim)[1] != ""  # a run is left unfinished
        assert interrupted or not killed or proc.returncode != -signal.SIGKILL
        # round 0 resumes explicitly; round 1 relies on the next plain (--full) run finishing it
        resumed = _run(victim, subprocess_env, *args, "--resume" if round_ == 0 else "--full")
        assert resumed.returncode == 1, resumed.stderr
        summary = json.loads(resumed.stdout)
        assert summary["status"] == "complete"
        assert summary["resumed"] is interrupted  # the killed run was finished, not restarted
        if round_ == 1:
            again = _run(reference, subprocess_env, *args, "--full")
            assert again.returncode == 1
            expected = _alerts(reference)
        assert _alerts(victim) == expected
    assert kills >= 1
    verify = subprocess.run(
        [venv_bin("incidentbook"), "--workspace", str(victim), "verify", "--json"],
        capture_output=True, text=True, env=subprocess_env,
    )  # fmt: skip
    checks = {c["name"]: c for c in json.loads(verify.stdout)["checks"]}
    assert checks["reconciler_checkpoints"]["ok"], checks["reconciler_checkpoints"]
    assert checks["alerts_projection"]["ok"]
