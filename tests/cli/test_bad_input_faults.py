"""CLI inputs that used to end in ``internal error: …`` (exit 1, read by scripts as findings)
or were silently accepted (issue 16): each is one line on stderr and exit 2, writing nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from incidentbook.testing.synth import write_ledger
from tests.support.cli import Cli, event_count
from tests.support.ledgers import rows

PREFIX = "incidentbook: error: "


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.sqlite"
    write_ledger(f"sqlite:///{path}", rows())
    return path


def _one_line(result: object, code: int = 2) -> str:
    stderr: str = result.stderr  # type: ignore[attr-defined]
    assert result.exit_code == code, stderr  # type: ignore[attr-defined]
    assert stderr.startswith(PREFIX) and stderr.count("\n") == 1, stderr
    assert "internal error" not in stderr and "Traceback" not in stderr
    return stderr.removeprefix(PREFIX).rstrip("\n")




@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--at", "0001-01-01T00:00:00+01:00"), "--at"),
        (("--at", "9999-12-31T23:59:59-05:00"), "--at"),
        (("--on", "9999-12-31"), "--on: 9999-12-31 is out of range"),
        (("--limit", str(10**20)), "--limit must be from 1 to"),
    ],
    ids=["at-year-1", "at-year-9999", "on-9999-12-31", "limit-10^20"],
)
def test_audit_out_of_range_options(
    cli: Cli, ledger: Path, args: tuple[str, ...], says: str
) -> None:
    result = cli("audit", "acc_1", "--ledger", f"sqlite:///{ledger}", *args)
    assert says in _one_line(result)


def test_audit_huge_entry_id(cli: Cli, ledger: Path) -> None:
    result = cli("audit", "acc_1@" + "9" * 30, "--ledger", f"sqlite:///{ledger}")
    assert "out of range" in _one_line(result)


def test_ledger_timestamp_that_is_not_one_names_the_entry_and_account(
    cli: Cli, ledger: Path
) -> None:
    conn = sqlite3.connect(ledger)
    with conn:
        conn.execute("UPDATE ledger_entries SET recorded_at = 'yesterday' WHERE entry_id = 2")
    conn.close()
    for extra in ((), ("--at", "2026-10-17T13:00:00Z"), ("--on", "2026-10-17")):
        message = _one_line(cli("audit", "acc_1", "--ledger", f"sqlite:///{ledger}", *extra))
        assert "'yesterday'" in message and "entry 2" in message and "acc_1" in message, message


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_sums_beyond_64_bits_are_a_ledger_error_naming_the_account(
    cli: Cli, workspace: Path, ledger: Path, jobs: str
) -> None:
    big = 2**63 - 1
    conn = sqlite3.connect(ledger)
    with conn:
        conn.execute("UPDATE ledger_entries SET amount_minor = ? WHERE entry_id IN (1, 2)", (big,))
    conn.close()
    url = f"sqlite:///{ledger}"
    expected = "account acc_1: ledger_entries.amount_minor sums beyond 64-bit integers"
    assert _one_line(cli("audit", "acc_1", "--ledger", url)) == expected
    before = event_count(workspace)
    assert _one_line(cli("reconcile", "--ledger", url, "--full", "--jobs", jobs)) == expected
    assert event_count(workspace) == before


@pytest.mark.parametrize(
    "args",
    [
        ("reconcile", "--full", "--incremental"),
        ("reconcile", "--incremental", "--full"),
        ("reconcile", "--max-rate", "nan"),
        ("reconcile", "--max-rate", "inf"),
        ("fix", "apply", "INC-0001", "--max-rate", "nan"),
    ],
    ids=["full-incremental", "incremental-full", "max-rate-nan", "max-rate-inf", "fix-nan"],
)
def test_conflicting_or_non_finite_options_are_usage_errors(
    cli: Cli, workspace: Path, args: tuple[str, ...]
) -> None:
    message = _one_line(cli(*args))
    assert message.endswith("(see --help)")
    assert event_count(workspace) == 0


def test_an_incident_id_of_30_digits(cli: Cli) -> None:
    assert cli("incident", "open", "--title", "t").exit_code == 0
    for command in (("show",), ("ack",), ("note", "x")):
        result = cli("incident", command[0], "1" * 30, *command[1:])
        assert "1" * 30 in _one_line(result)


def test_link_runbook_to_an_unknown_runbook_is_exit_2(cli: Cli, workspace: Path) -> None:
    assert cli("incident", "open", "--title", "t").exit_code == 0
    before = event_count(workspace)
    message = _one_line(cli("incident", "link-runbook", "INC-0001", "unknown"))
    assert message == "no runbook 'unknown' (see: incidentbook runbooks list)"
    assert event_count(workspace) == before
    # a runbook that exists, by id, links
    assert cli("incident", "link-runbook", "INC-0001", "balance_mismatch").exit_code == 0
    assert event_count(workspace) == before + 1


def test_a_log_that_cannot_be_written_never_breaks_a_command(tmp_path: Path) -> None:
    """The log file cannot be opened (a directory in its place, and a read-only logs folder,
    which root ignores): the command works, with one warning on stderr."""
    import subprocess

    from tests.support.cli import venv_bin

    exe = venv_bin("incidentbook")
    workspace = tmp_path / "ws"
    subprocess.run([exe, "init", str(workspace)], check=True, capture_output=True)
    logs = workspace / ".incidentbook" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for old in logs.iterdir():
        old.unlink()
    (logs / "incidentbook.jsonl").mkdir()
    logs.chmod(0o555)
    try:
        opened = subprocess.run(
            [exe, "-w", str(workspace), "incident", "open", "--title", "t"],
            capture_output=True,
            text=True,
        )
        noted = subprocess.run(
            [exe, "-w", str(workspace), "incident", "note", "INC-0001", "a note"],
            capture_output=True,
            text=True,
        )
        missing = subprocess.run(
            [exe, "-w", str(workspace), "incident", "show", "INC-9999"],
            capture_output=True,
            text=True,
        )
    finally:
        logs.chmod(0o755)
    warning = "incidentbook: warning: cannot write the log "
    for result in (opened, noted):
        assert result.returncode == 0, result.stderr
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith(warning), result.stderr
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert missing.stderr.splitlines()[-1] == f"{PREFIX}no incident INC-9999"
    # and the note is there
    shown = subprocess.run(
        [exe, "-w", str(workspace), "incident", "show", "INC-0001", "--json"],
        capture_output=True,
        text=True,
    )
    assert "a note" in shown.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("incident", "open", "--title", "bad \udcff title"),
        ("premortem", "new", "launch \udcff"),
        ("incident", "list", "--status", "\udcff"),
    ],
    ids=["incident-title", "premortem-title", "option-value"],
)
def test_an_argument_that_is_not_utf8_is_one_line_exit_2(
    cli: Cli, workspace: Path, args: tuple[str, ...]
) -> None:
    """Bytes that are not UTF-8 on the command line (Python keeps them as lone surrogates)
    were an internal error when a note or title was hashed or written (found by the fuzz
    suite): refused before any work."""
    assert cli("incident", "list").exit_code == 0  # the state database exists
    before = event_count(workspace)
    message = _one_line(cli(*args))
    assert message == f"argument {args[-1]!r} is not valid UTF-8 text"
    assert event_count(workspace) == before
