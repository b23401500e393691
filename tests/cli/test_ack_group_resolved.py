"""``alerts ack-group`` on a group whose incident was resolved while its alerts still fire
(issue 14): refused in one line rather than a silent second incident, ``--reopen`` reopens
that incident, and a real recurrence (the alert resolved, then fired again after the resolve)
still opens a new one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.cli import Cli, event_count


def _ingest(cli: Cli, tmp_path: Path, **alert: Any) -> None:
    line = {
        "source": "test",
        "name": "BalanceMismatch",
        "fingerprint": "fp-1",
        "status": "firing",
        "severity": "error",
        "starts_at": "2026-10-17T02:00:00Z",
        "labels": {"account": "acc-1"},
        **alert,
    }
    path = tmp_path / "alerts.jsonl"
    path.write_text(json.dumps(line) + "\n")
    result = cli("alerts", "ingest", str(path))
    assert result.exit_code == 0, result.output


def _acked_then_resolved(cli: Cli, tmp_path: Path) -> str:
    _ingest(cli, tmp_path)
    incident = str(cli.json("alerts", "ack-group", "BalanceMismatch")["incident"]["id"])
    resolved = cli("incident", "resolve", incident, "--force", "--reason", "looked fixed")
    assert resolved.exit_code == 0, resolved.output
    return incident


def test_a_group_still_firing_after_its_resolve_is_refused_in_one_line(
    cli: Cli, workspace: Path, tmp_path: Path
) -> None:
    incident = _acked_then_resolved(cli, tmp_path)
    before = event_count(workspace)

    refused = cli("alerts", "ack-group", "BalanceMismatch")

    assert refused.exit_code == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and incident in lines[0] and "--reopen" in lines[0]
    assert event_count(workspace) == before
    assert [i["id"] for i in cli.json("incident", "list", "--all")] == [incident]


def test_reopen_acknowledges_the_same_incident(cli: Cli, tmp_path: Path) -> None:
    incident = _acked_then_resolved(cli, tmp_path)

    reopened = cli.json("alerts", "ack-group", "BalanceMismatch", "--reopen")

    assert reopened["incident"]["id"] == incident
    assert reopened["incident"]["status"] == "acknowledged"
    assert [i["id"] for i in cli.json("incident", "list", "--all")] == [incident]


def test_a_recurrence_after_the_resolve_opens_a_new_incident(cli: Cli, tmp_path: Path) -> None:
    first = _acked_then_resolved(cli, tmp_path)
    _ingest(cli, tmp_path, status="resolved", ends_at="2026-10-17T03:00:00Z")
    # it fires again, in an episode that began after the incident was resolved (today)
    _ingest(cli, tmp_path, starts_at="2099-01-01T00:00:00Z")

    second = cli.json("alerts", "ack-group", "BalanceMismatch")["incident"]["id"]

    assert second != first
    assert sorted(i["id"] for i in cli.json("incident", "list", "--all")) == sorted(
        [first, second]
    )
