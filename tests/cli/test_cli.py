"""The CLI: DESIGN §10 shapes, --json, exit codes, one-line errors, nothing written on error."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import Cli, event_count, venv_bin


def test_incident_commands_round_trip(cli: Cli) -> None:
    opened = cli.json("incident", "open", "--title", "Balances disagree", "--severity", "critical")
    iid = opened["incident"]["id"]
    assert (iid, opened["changed"]) == ("INC-0001", True)
    assert cli.json("incident", "ack", iid, "--reason", "on it")["incident"]["status"] == (
        "acknowledged"
    )
    assert cli.json("incident", "note", iid, "paused the consumer")["changed"] is True
    assert cli.json("incident", "severity", iid, "error")["incident"]["severity"] == "error"
    assert cli.json("incident", "resolve", iid)["incident"]["status"] == "resolved"
    assert cli.json("incident", "reopen", iid)["incident"]["status"] == "open"
    shown = cli.json("incident", "show", iid)
    types = [e["type"] for e in shown["timeline"]]
    assert types == [
        "incident.opened",
        "incident.acknowledged",
        "incident.note_added",
        "incident.severity_changed",
        "incident.resolved",
        "incident.reopened",
    ]
    assert shown["timeline"][1]["reason"] == "on it"
    listed = cli.json("incident", "list")
    assert [i["id"] for i in listed] == [iid]


def test_rerunning_commands_leaves_one_result(cli: Cli) -> None:
    args = ("incident", "open", "--title", "Fees doubled", "--idempotency-key", "pager-123")
    first, second = cli.json(*args), cli.json(*args)
    assert first["incident"]["id"] == second["incident"]["id"]
    assert second["changed"] is False
    for _ in range(2):
        cli.json("incident", "ack", "INC-0001")
        cli.json("incident", "note", "INC-0001", "same words")
    shown = cli.json("incident", "show", "INC-0001")
    assert len(shown["timeline"]) == 3
    assert len(cli.json("incident", "list")) == 1


def test_human_output(cli: Cli) -> None:
    result = cli("incident", "open", "--title", "Clock skew", "--severity", "warning")
    assert result.exit_code == 0
    assert result.stdout.strip() == "INC-0001 [open, warning] Clock skew"
    listing = cli("incident", "list")
    assert "INC-0001" in listing.stdout and "Clock skew" in listing.stdout


BAD_INPUTS = [
    (["incident", "open"], "Missing option '--title'"),
    (["incident", "open", "--title", "x", "--severity", "huge"], "Invalid value for '--severity'"),
    (["incident", "open", "--title", "  "], "needs a non-empty --title"),
    (["incident", "ack", "INC-0404"], "no incident INC-0404"),
    (["incident", "ack", "pineapple"], "not an incident id"),
    (["incident", "resolve", "INC-0404"], "no incident INC-0404"),
    (["incident", "reopen", "INC-0404"], "no incident INC-0404"),
    (["incident", "note", "INC-0404", "text"], "no incident INC-0404"),
    (["incident", "note", "INC-0001", "   "], "a note needs some text"),
    (["incident", "severity", "INC-0001", "loud"], "Invalid value for '{critical|error"),
    (["incident", "show", "INC-0404"], "no incident INC-0404"),
    (["incident", "show"], "Missing argument 'ID'"),
    (["incident", "link-alert", "INC-0001", "nope"], "no alert with fingerprint 'nope'"),
    (["incident", "link-runbook", "INC-0404", "balance_mismatch"], "no incident INC-0404"),
    (["incident", "link-runbook", "INC-0001", "  "], "a runbook link needs a runbook id"),
    (["incident", "frobnicate"], "No such command 'frobnicate'"),
    (["nonsense"], "No such command 'nonsense'"),
    (["demo", "--accounts", "-5"], "Invalid value for '--accounts'"),
    (["reconcile", "--jobs", "0"], "Invalid value for '--jobs'"),
]


@pytest.mark.parametrize(("argv", "message"), BAD_INPUTS, ids=[" ".join(a) for a, _ in BAD_INPUTS])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    cli: Cli, workspace: Path, argv: list[str], message: str
) -> None:
    cli("incident", "open", "--title", "existing")
    before = event_count(workspace)
    result = cli(*argv)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert "Traceback" not in result.output
    assert event_count(workspace) == before


def test_failed_check_exits_1(cli: Cli, workspace: Path) -> None:
    cli("incident", "open", "--title", "existing")
    conn = sqlite3.connect(workspace / ".incidentbook" / "state.sqlite")
    conn.execute("UPDATE incidents SET title = 'rewritten'")
    conn.commit()
    conn.close()
    result = cli("verify", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False


def test_conflict_is_exit_2(cli: Cli) -> None:
    cli("incident", "open", "--title", "x")
    cli("incident", "resolve", "INC-0001")
    result = cli("incident", "ack", "INC-0001")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "incidentbook: error: INC-0001 is resolved; reopen it before acknowledging"
    )


def test_missing_workspace_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    result = Cli(missing)("incident", "list")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert f"no workspace at {missing}" in result.stderr
    assert not missing.exists()


def test_init_and_stats_and_json(tmp_path: Path) -> None:
    target = tmp_path / "fresh"
    made = Cli(target)("init", str(target), "--json", workspace=False)
    assert made.exit_code == 0
    assert json.loads(made.stdout)["workspace"] == str(target)
    again = Cli(target)("init", str(target), "--json", workspace=False)
    assert json.loads(again.stdout)["created"] == []
    stats = Cli(target).json("stats")
    assert stats["events_total"] == 0 and stats["schema_revision"]


def test_demo_builds_past_incidents_once(cli: Cli) -> None:
    cli.json("demo", "--accounts", "200", "--days", "3")
    cli.json("demo", "--accounts", "200", "--days", "3")
    all_incidents = cli.json("incident", "list", "--all")
    titles = [i["title"] for i in all_incidents]
    assert "Webhook retries double-posted processor payments" in titles
    assert len(titles) == len(set(titles))


def test_real_entry_point_errors_without_traceback(tmp_path: Path) -> None:
    exe = venv_bin("incidentbook")
    result = subprocess.run(
        [exe, "--workspace", str(tmp_path / "no"), "incident", "list"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("incidentbook: error: no workspace at")
    assert "Traceback" not in result.stderr
    helped = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0
    for command in ("init", "incident", "verify", "stats", "demo"):
        assert f"  {command} " in helped.stdout
    version = subprocess.run(
        [sys.executable, "-m", "incidentbook", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert version.stdout.startswith("incidentbook, version ")


def test_logs_are_json_lines_with_correlation_ids(cli: Cli, workspace: Path) -> None:
    cli("--correlation-id", "req-42", "incident", "open", "--title", "logged", workspace=True)
    cli("incident", "ack", "INC-0999")
    log = workspace / ".incidentbook" / "logs" / "incidentbook.jsonl"
    records = [json.loads(line) for line in log.read_text().splitlines()]
    opened = [r for r in records if r["event"] == "incident.opened"]
    assert opened and opened[0]["correlation_id"] == "req-42"
    assert opened[0]["incident"] == "INC-0001" and opened[0]["actor"]
    failures = [r for r in records if r["event"] == "command_failed"]
    assert failures and failures[0]["error"] == "no incident INC-0999"
    assert failures[0]["correlation_id"]


def test_link_alert_links_both_ways_once(cli: Cli) -> None:
    alert = {"source": "test", "name": "balance_mismatch", "fingerprint": "balance_mismatch/a1",
             "status": "firing", "severity": "critical", "starts_at": "2026-10-17T02:14:00Z"}
    ingested = cli("alerts", "ingest", "-", input=json.dumps(alert) + "\n")
    assert ingested.exit_code == 0, ingested.output
    cli("incident", "open", "--title", "Balances disagree")
    first = cli.json("incident", "link-alert", "INC-0001", "balance_mismatch/a1")
    again = cli.json("incident", "link-alert", "INC-0001", "balance_mismatch/a1")
    assert (first["changed"], again["changed"]) == (True, False)
    assert again["incident"]["alerts"] == ["balance_mismatch/a1"]
    assert cli.json("alerts", "show", "balance_mismatch/a1")["incident_id"] == "INC-0001"


def test_serve_bad_listen_address_is_one_line(cli: Cli) -> None:
    result = cli("serve", "--listen", "nonsense")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "incidentbook: error: --listen wants HOST:PORT (e.g. 127.0.0.1:9797), not 'nonsense'")


def test_every_listed_command_imports_and_matches_its_listed_help() -> None:
    """``COMMANDS`` is what ``--help`` lists without importing: each entry must be the click
    command it names, and its one-line help must be the command's own short help."""
    import click

    from incidentbook.cli import COMMANDS, cli

    assert len({entry.name for entry in COMMANDS}) == len(COMMANDS)
    for entry in COMMANDS:
        command = entry.load()
        assert isinstance(command, click.Command), entry
        assert command.name == entry.name, entry
        assert command.get_short_help_str(limit=200) == entry.help, entry
        assert cli.get_command(click.Context(cli), entry.name) is command


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_clicks_own_script(cli: Cli, shell: str) -> None:
    from click.testing import CliRunner

    from incidentbook.cli import cli as command

    result = cli("completion", shell, workspace=False)
    assert result.exit_code == 0, result.output
    generated = CliRunner().invoke(
        command, [], env={"_INCIDENTBOOK_COMPLETE": f"{shell}_source"}, prog_name="incidentbook"
    )
    assert generated.exit_code == 0 and generated.stdout.strip()
    assert result.stdout == generated.stdout
    assert "_INCIDENTBOOK_COMPLETE" in result.stdout


def test_completion_unknown_shell_is_one_line(cli: Cli) -> None:
    result = cli("completion", "tcsh", workspace=False)
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "incidentbook: error: completion: unknown shell 'tcsh' (use bash, zsh, fish)"
    )
