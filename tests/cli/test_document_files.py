"""Issue 16: a postmortem whose file is gone is reported by `verify` (with its path) and in
`postmortem list`, can be written again by `postmortem new`, or archived; an HTML export never
overwrites its own source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import Cli


@pytest.fixture
def postmortem(cli: Cli) -> tuple[str, Path]:
    opened = cli.json("incident", "open", "--title", "Webhook retries double-posted")
    incident_id = str(opened["incident"]["id"])
    assert cli("incident", "resolve", incident_id).exit_code == 0
    created = cli.json("postmortem", "new", incident_id)
    return incident_id, Path(created["path"])


def _problems(cli: Cli) -> list[str]:
    result = cli("verify", "--json")
    report = json.loads(result.stdout)
    return [p for c in report["checks"] for p in c["problems"]]


def test_a_moved_away_postmortem_is_reported_and_written_again(
    cli: Cli, postmortem: tuple[str, Path], tmp_path: Path
) -> None:
    incident_id, path = postmortem
    original = path.read_text()
    assert _problems(cli) == []
    path.rename(tmp_path / path.name)  # moved out of the workspace
    assert cli("verify").exit_code == 1
    shown = path.relative_to(cli.workspace).as_posix()
    assert _problems(cli) == [
        f"PM-{incident_id.split('-')[1]}: its file {shown} is gone (restore it, regenerate it"
        f" with postmortem new --refresh, or: incidentbook postmortem archive"
        f" PM-{incident_id.split('-')[1]})"
    ]
    listed = cli.json("postmortem", "list")
    assert [r["file_missing"] for r in listed if r["kind"] == "postmortem"] == [True]
    again = cli("postmortem", "new", incident_id)
    assert again.exit_code == 0, again.output
    assert "its file was gone; wrote it again" in again.stdout
    assert path.exists() and path.read_text().splitlines()[:3] == original.splitlines()[:3]
    assert _problems(cli) == []


def test_a_deleted_postmortem_can_be_archived(cli: Cli, postmortem: tuple[str, Path]) -> None:
    _, path = postmortem
    doc_id = cli.json("postmortem", "list")[0]["id"]
    refused = cli("postmortem", "archive", doc_id)
    assert refused.exit_code == 2 and "is still there" in refused.stderr
    path.unlink()
    assert cli("verify").exit_code == 1
    archived = cli.json("postmortem", "archive", doc_id)
    assert archived["status"] == "archived"
    assert _problems(cli) == []
    assert cli("verify").exit_code == 0


def test_export_refuses_to_overwrite_its_source(cli: Cli, postmortem: tuple[str, Path]) -> None:
    _, path = postmortem
    before = path.read_bytes()
    for out in (path, path.parent / ".." / path.parent.name / path.name):
        result = cli("postmortem", "export", str(path), "--html", str(out))
        assert result.exit_code == 2 and "over itself" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert path.read_bytes() == before
