"""A damaged, empty or missing state database is one line naming the file and how to restore
it, exit 2, for every command and the app's start, and nothing is written; documents that refer
to events the database no longer has (an older copy put back) fail ``verify``.

Every case damages a real copy of a real workspace's database, built through the CLI."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.support.cli import Cli

COMMANDS = [
    ("incident", "list"),
    ("incident", "show", "INC-0001"),
    ("verify",),
    ("stats",),
    ("alerts", "list"),
    ("postmortem", "list"),
    ("search", "disk"),
    ("incident", "note", "INC-0001", "written to a damaged file?"),
    (),  # the app
]
IDS = [" ".join(c) or "app" for c in COMMANDS]


def _state(workspace: Path) -> Path:
    return workspace / ".incidentbook" / "state.sqlite"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with incidents, notes and a postmortem; its database checkpointed (no WAL),
    as a copy taken at rest would be."""
    workspace = tmp_path_factory.mktemp("built") / "ws"
    cli = Cli(workspace)
    assert cli("init", str(workspace), workspace=False).exit_code == 0
    for title in ("disk full on ledger-db", "fee job ran twice"):
        assert cli("incident", "open", "--title", title).exit_code == 0
    for n in range(20):
        assert cli("incident", "note", "INC-0001", f"note {n} " + "x" * 200).exit_code == 0
    assert cli("postmortem", "new", "INC-0001").exit_code == 0
    conn = sqlite3.connect(_state(workspace))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return workspace


@pytest.fixture
def workspace(built: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "ws"
    shutil.copytree(built, copy)
    return copy


def _fails_in_one_line(cli: Cli, command: tuple[str, ...], *said: str) -> str:
    result = cli(*command)
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith(f"incidentbook: error: state database {_state(cli.workspace)} "), line
    assert "restore state.sqlite from a backup" in line and "incidentbook verify" in line
    for words in said:
        assert words in line, line
    return line


def _truncate_to_half(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _corrupt_event_pages(path: Path) -> None:
    """Garbage over the event log's root page (from the schema's own rootpage column)."""
    conn = sqlite3.connect(path)
    (root,) = conn.execute(
        "SELECT rootpage FROM sqlite_master WHERE type = 'table' AND name = 'events'"
    ).fetchone()
    (page_size,) = conn.execute("PRAGMA page_size").fetchone()
    conn.close()
    with path.open("r+b") as handle:
        handle.seek((root - 1) * page_size)
        handle.write(b"\x5a" * page_size)


def _garbage_header(path: Path) -> None:
    with path.open("r+b") as handle:
        handle.write(b"this is not sqlite")


DAMAGES = {
    "zero-length": (lambda p: p.write_bytes(b""), "is empty (0 bytes)"),
    "half-truncated": (_truncate_to_half, "is truncated"),
    "page-corrupted": (_corrupt_event_pages, "is damaged (database disk image is malformed)"),
    "garbage header": (_garbage_header, "is not a SQLite database"),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
@pytest.mark.parametrize("command", COMMANDS, ids=IDS)
def test_a_damaged_state_database_is_one_line_exit_2_and_nothing_is_written(
    workspace: Path, damage: str, command: tuple[str, ...]
) -> None:
    harm, said = DAMAGES[damage]
    state = _state(workspace)
    harm(state)
    before = state.read_bytes()
    _fails_in_one_line(Cli(workspace), command, said)
    assert state.read_bytes() == before
    assert not state.with_name("state.sqlite-wal").exists() or damage == "page-corrupted"


def test_the_undamaged_copy_works(workspace: Path) -> None:
    cli = Cli(workspace)
    assert cli("verify").exit_code == 0
    assert "disk full on ledger-db" in cli("incident", "list", "--all").stdout


def test_a_missing_database_where_documents_refer_to_it_is_an_error_until_init(
    workspace: Path,
) -> None:
    state = _state(workspace)
    state.unlink()
    cli = Cli(workspace)
    for command in (("incident", "list"), ("verify",), ()):
        line = _fails_in_one_line(cli, command, "is missing, but postmortems/INC-0001-")
        assert f"run `incidentbook init {workspace}` to start an empty one" in line
        assert not state.exists()
    made = cli("init", str(workspace), workspace=False)
    assert made.exit_code == 0 and "created .incidentbook/state.sqlite" in made.stdout
    verify = cli("verify")
    assert verify.exit_code == 1
    (postmortem,) = (workspace / "postmortems").glob("INC-0001-*.md")
    shown = f"postmortems/{postmortem.name}"
    assert f"{shown}: incident INC-0001 has no events in the state database" in verify.stdout
    assert f"{shown}: document PM-0001 has no events in the state database" in verify.stdout


def test_a_missing_database_in_a_workspace_without_documents_is_made_anew(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "ws")
    assert cli("init", str(cli.workspace), workspace=False).exit_code == 0
    _state(cli.workspace).unlink()
    assert cli("incident", "list").exit_code == 0
    assert _state(cli.workspace).stat().st_size > 0


def test_an_older_copy_put_back_fails_verify_naming_the_postmortem(workspace: Path) -> None:
    """Copy the database, do more work (a note, a second postmortem), put the copy back."""
    cli = Cli(workspace)
    state = _state(workspace)
    old = workspace.parent / "old-state.sqlite"
    shutil.copyfile(state, old)
    assert cli("incident", "note", "INC-0002", "after the copy").exit_code == 0
    assert cli("postmortem", "new", "INC-0002").exit_code == 0
    assert cli("verify").exit_code == 0
    for sidecar in ("state.sqlite-wal", "state.sqlite-shm"):
        state.with_name(sidecar).unlink(missing_ok=True)
    shutil.copyfile(old, state)
    verify = cli("verify")
    assert verify.exit_code == 1, verify.output
    (second,) = (workspace / "postmortems").glob("INC-0002-*.md")
    shown = f"postmortems/{second.name}"
    assert f"{shown}: head " in verify.stdout and "is not in the chain" in verify.stdout
    assert f"{shown}: document PM-0002 has no events in the state database" in verify.stdout


def test_a_copy_taken_just_before_a_postmortem_was_recorded_fails_verify(
    workspace: Path,
) -> None:
    """The head the postmortem recorded is the copy's own head, so it is in the chain: the
    document's missing events are what give the rollback away."""
    cli = Cli(workspace)
    state = _state(workspace)
    old = workspace.parent / "old-state.sqlite"
    shutil.copyfile(state, old)
    assert cli("postmortem", "new", "INC-0002").exit_code == 0
    for sidecar in ("state.sqlite-wal", "state.sqlite-shm"):
        state.with_name(sidecar).unlink(missing_ok=True)
    shutil.copyfile(old, state)
    verify = cli("verify")
    assert verify.exit_code == 1, verify.output
    assert "recorded_heads: 2 checked, 0 problems" in verify.stdout
    assert "document PM-0002 has no events in the state database" in verify.stdout
