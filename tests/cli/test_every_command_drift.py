"""Issue 16, "drift and lost updates": every command of DESIGN §10 run on a demo workspace
leaves `verify` green and the search index without drift (every write path that changes an
indexed document queues it through the outbox in the same transaction)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.support.cli import Cli

NO_DRIFT = {"drift": 0, "missing": [], "stale": [], "extra": []}


def _ok(cli: Cli, *args: str, codes: tuple[int, ...] = (0,), check: bool = True) -> str:
    """Run one command; then (``check``) drain the outbox as the next search would and
    require the index to match its sources: drift is named after the command that made it."""
    result = cli(*args)
    assert result.exit_code in codes, (args, result.output, result.stderr)
    if check:
        cli("search", "drain")
        assert _drift(cli) == NO_DRIFT, args
    return result.stdout


def _drift(cli: Cli) -> dict[str, object]:
    status = json.loads(_ok(cli, "index", "status", "--json", check=False))
    return {k: status[k] for k in ("drift", "missing", "stale", "extra")}


@pytest.fixture
def demo(cli: Cli) -> Cli:
    _ok(cli, "demo", "--accounts", "300", "--days", "3")
    return cli


def test_every_command_leaves_verify_green_and_no_index_drift(demo: Cli, tmp_path: Path) -> None:
    cli = demo
    _ok(cli, "search", "duplicate")  # the index is current to start with
    ledger = cli.workspace / ".incidentbook" / "ledger.sqlite"
    conn = sqlite3.connect(ledger)
    account = conn.execute("SELECT account_id FROM ledger_accounts LIMIT 1").fetchone()[0]
    conn.close()

    _ok(cli, "reconcile", codes=(0, 1))
    _ok(cli, "alerts", "groups")
    incident = json.loads(_ok(cli, "alerts", "ack-group", "duplicate_posting", "--json"))
    incident_id = str(incident["incident"]["id"])
    # (currency_mismatch: the demo always injects it; a balance_mismatch is left to chance)
    _ok(cli, "alerts", "ack-group", "currency_mismatch", "--incident", incident_id)
    _ok(cli, "alerts", "list")
    _ok(cli, "incident", "note", incident_id, "paused the webhook consumer")
    _ok(cli, "incident", "severity", incident_id, "critical", codes=(0, 2))
    _ok(cli, "incident", "link-runbook", incident_id, "duplicate_posting", codes=(0, 2))
    _ok(cli, "incident", "show", incident_id)
    _ok(cli, "incident", "list")
    _ok(cli, "incident", "accounts", incident_id)
    _ok(cli, "incident", "evidence", incident_id)
    _ok(cli, "audit", account)
    _ok(cli, "runbooks", "list")
    _ok(cli, "runbooks", "lint", codes=(0, 1))
    _ok(cli, "runbooks", "match", "duplicate_posting")
    _ok(cli, "changes", "list")
    plan = json.loads(_ok(cli, "fix", "plan", incident_id, "--json"))
    _ok(cli, "fix", "show", plan["plan_id"])
    _ok(cli, "fix", "list")
    _ok(cli, "fix", "export", plan["plan_id"], "--sql", str(tmp_path / "fix.sql"))
    _ok(cli, "fix", "apply", plan["plan_id"], "--dry-run")
    _ok(cli, "fix", "apply", plan["plan_id"], "--yes", codes=(0, 1))
    _ok(cli, "fix", "verify", plan["plan_id"], codes=(0, 1))
    _ok(cli, "reconcile", codes=(0, 1))
    _ok(cli, "incident", "resolve", incident_id, codes=(0, 1))
    _ok(cli, "incident", "resolve", incident_id, "--force", "--reason", "the rest is a human's")
    _ok(cli, "incident", "reopen", incident_id)
    _ok(cli, "incident", "ack", incident_id)
    _ok(cli, "incident", "resolve", incident_id, "--force", "--reason", "closed again")
    created = _ok(cli, "postmortem", "new", incident_id)
    postmortem = next(
        p for p in (cli.workspace / "postmortems").glob(f"{incident_id}-*.md")
    )  # the file the command wrote
    assert postmortem.name in created or str(postmortem) in created
    _ok(cli, "postmortem", "new", incident_id, "--refresh")
    _ok(cli, "postmortem", "lint", str(postmortem), codes=(0, 1))
    _ok(cli, "postmortem", "export", str(postmortem), "--html", str(tmp_path / "pm.html"))
    _ok(cli, "premortem", "new", "Instant payouts", "--services", "payouts")
    _ok(cli, "actions", "list")
    _ok(cli, "search", "kind:postmortem duplicate")
    _ok(cli, "stats")
    opened = json.loads(_ok(cli, "incident", "open", "--title", "disk almost full", "--json"))
    _ok(cli, "incident", "resolve", str(opened["incident"]["id"]))

    report = json.loads(_ok(cli, "verify", "--json", check=False))
    assert [c for c in report["checks"] if not c["ok"]] == [] and report["ok"] is True
