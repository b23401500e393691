"""Bad input to ``fix`` (issue 13), through the real CLI: an unknown plan or incident, a plan
for another ledger, a read-only ledger, a ledger without the contract's columns, a tampered
stored plan. Each is one line on stderr, a non-zero exit, and no byte of any ledger changed."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from click.testing import Result

from incidentbook.testing.synth import write_ledger
from tests.support.cli import REPO_ROOT, Cli, venv_bin
from tests.support.fix_random import file_sha256, fix_ledger, plan_by_cli


@pytest.fixture
def planned(cli: Cli, tmp_path: Path) -> tuple[Path, str, str]:
    """A ledger with duplicates and mismatches, its incident and a plan for it."""
    made = fix_ledger(5, 20, dup_all=2, dup_one=2, mismatch=2, others={"orphan_entry": 1})
    path = tmp_path / "ledger.sqlite"
    write_ledger(f"sqlite:///{path}", made.rows)
    incident, plan = plan_by_cli(cli, f"sqlite:///{path}")
    return path, incident, plan


def one_line_error(result: Result, code: int, needle: str) -> None:
    stderr = result.stderr
    assert result.exit_code == code, stderr
    assert stderr.count("\n") == 1 and stderr.startswith("incidentbook: error: "), stderr
    assert needle in stderr, stderr
    assert "Traceback" not in stderr


def test_unknown_plan_and_incident(cli: Cli, planned: tuple[Path, str, str]) -> None:
    path, _incident, _plan = planned
    before = file_sha256(path)
    url = f"sqlite:///{path}"
    one_line_error(cli("fix", "apply", "FIX-0099", "--yes", "--ledger", url), 2, "no plan FIX-0099")
    one_line_error(cli("fix", "show", "FIX-0099"), 2, "no plan FIX-0099")
    one_line_error(cli("fix", "apply", "pineapple", "--yes", "--ledger", url), 2, "not a plan id")
    one_line_error(cli("fix", "plan", "INC-0999", "--ledger", url), 2, "INC-0999")
    one_line_error(cli("fix", "export", "FIX-0042", "--sql", str(path.parent / "x.sql")), 2,
                   "no plan FIX-0042")  # fmt: skip
    assert not (path.parent / "x.sql").exists()
    assert file_sha256(path) == before


def test_a_plan_for_another_ledger(cli: Cli, planned: tuple[Path, str, str]) -> None:
    path, _incident, plan = planned
    other = path.parent / "other.sqlite"
    shutil.copyfile(path, other)
    before, other_before = file_sha256(path), file_sha256(other)
    one_line_error(cli("fix", "apply", plan, "--yes", "--ledger", f"sqlite:///{other}"), 2,
                   f"{plan} was planned for ledger")  # fmt: skip
    one_line_error(cli("fix", "apply", plan, "--dry-run", "--ledger", f"sqlite:///{other}"), 2,
                   f"{plan} was planned for ledger")  # fmt: skip
    assert (file_sha256(path), file_sha256(other)) == (before, other_before)
    assert cli.json("fix", "show", plan)["apply"] is None  # no apply was even started


def test_a_ledger_without_the_contract_columns(cli: Cli, planned: tuple[Path, str, str]) -> None:
    path, incident, plan = planned
    bare = path.parent / "bare.sqlite"
    conn = sqlite3.connect(bare)
    conn.execute("CREATE TABLE ledger_accounts (account_id TEXT PRIMARY KEY, currency TEXT)")
    conn.execute("CREATE TABLE ledger_entries (entry_id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    before = file_sha256(bare)
    url = f"sqlite:///{bare}"
    one_line_error(cli("fix", "apply", plan, "--yes", "--ledger", url), 2, "has no column")
    one_line_error(cli("fix", "plan", incident, "--ledger", url), 2, "has no column")
    assert file_sha256(bare) == before


def test_a_tampered_plan_is_refused(cli: Cli, planned: tuple[Path, str, str]) -> None:
    path, _incident, plan = planned
    before = file_sha256(path)
    state = cli.workspace / ".incidentbook" / "state.sqlite"
    conn = sqlite3.connect(state)
    (trigger,) = conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'fix_plans_no_update'"
    ).fetchone()
    conn.execute("DROP TRIGGER fix_plans_no_update")
    # one more cent on every balance the plan sets
    (body,) = conn.execute("SELECT body FROM fix_plans WHERE plan_id = ?", (plan,)).fetchone()
    tampered = re.sub(
        r'"derived_after_minor":(-?\d+)', lambda m: f'"derived_after_minor":{int(m[1]) + 1}',
        body, count=1,
    )  # fmt: skip
    assert tampered != body
    conn.execute("UPDATE fix_plans SET body = ? WHERE plan_id = ?", (tampered, plan))
    conn.execute(trigger)
    conn.commit()
    conn.close()
    url = f"sqlite:///{path}"
    for args in (
        ("fix", "apply", plan, "--yes", "--ledger", url),
        ("fix", "apply", plan, "--dry-run", "--ledger", url),
        ("fix", "show", plan),
        ("fix", "verify", plan, "--ledger", url),
        ("fix", "export", plan, "--sql", str(path.parent / "t.sql")),
    ):
        one_line_error(cli(*args), 2, f"{plan} is damaged")
    assert file_sha256(path) == before
    assert not (path.parent / "t.sql").exists()


def test_a_read_only_ledger(cli: Cli, planned: tuple[Path, str, str]) -> None:
    """chmod 0444: refused before anything is written. Root writes any file whatever its
    mode, so as root the CLI process runs without the capabilities that let it (setpriv)."""
    path, _incident, plan = planned
    path.chmod(0o444)
    before = file_sha256(path)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT / "src"), str(REPO_ROOT)])
    caps = "-dac_override,-dac_read_search"
    prefix = (
        ["setpriv", "--bounding-set", caps, "--inh-caps", caps, "--"] if os.geteuid() == 0 else []
    )
    result = subprocess.run(
        [*prefix, venv_bin("incidentbook"), "--workspace", str(cli.workspace), "fix", "apply",
         plan, "--yes", "--ledger", f"sqlite:///{path}"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "is read-only" in result.stderr, result.stderr
    assert file_sha256(path) == before
    state = cli.workspace / ".incidentbook" / "state.sqlite"
    conn = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
    try:
        assert conn.execute("SELECT COUNT(*) FROM fix_applies").fetchone() == (0,)
    finally:
        conn.close()
