"""Deploy context (DESIGN §5, issue 15): the changes in the window (``[alerts] change_window``,
default 2 h) before an incident's first bad ledger entry, else its first alert, named in
``incident show`` and in the postmortem's timeline and "Changes before detection" line.

The first bad entry's time is the test's own (the ledger rows it wrote, tests/support/
ledger_time.py); each change's time is chosen relative to it, so the minutes are the test's."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from incidentbook.clock import to_iso
from incidentbook.config import parse_window
from incidentbook.core.changes.model import parse_change_event
from incidentbook.core.ledger.reconcile.model import ReconcileOptions
from incidentbook.errors import UsageError
from incidentbook.services import Services
from incidentbook.settings import Settings
from incidentbook.testing.clocks import FakeClock
from incidentbook.testing.synth import write_ledger
from tests.support.cli import Cli
from tests.support.ledger_time import (
    FINAL_RESOLVE,
    FIRST_ACK,
    RECONCILED,
    RECORDED,
    postmortem_ledger,
)

FIRST_BAD = min(RECORDED[i] for i in (2, 3, 4, 5, 6))  # the first duplicate copy


def _change(services: Services, summary: str, at: datetime, source: str = "deploy-bot") -> None:
    event = parse_change_event(
        {"payload": {"summary": summary, "source": source, "timestamp": to_iso(at)}},
        require_routing_key=False,
    )
    services.changes.record(services.context("test", actor="webhook:pagerduty"), event)


@pytest.fixture
def incident_id(services: Services, clock: FakeClock, tmp_path: Path) -> str:
    clock.step = timedelta(0)
    clock.now = RECONCILED
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    write_ledger(url, postmortem_ledger())
    services.reconciler.run(
        services.context("test", actor="reconciler"),
        ReconcileOptions(ledger_url=url, mode="full", batch=2),
    )
    clock.now = FIRST_ACK
    ctx = services.context("on call")
    found = services.alerts.acknowledge_group(ctx, "duplicate_posting").incident.id
    clock.now = FINAL_RESOLVE
    # the findings still fire (this story is about the deploy before them): an override
    services.incidents.resolve(ctx, found, force=True)
    return found


def test_postmortem_names_the_change_7_minutes_before_the_first_bad_entry(
    services: Services, incident_id: str, cli: Cli
) -> None:
    deployed = FIRST_BAD - timedelta(minutes=7)
    _change(services, "api v2 deployed", deployed, source="api")
    _change(services, "db index rebuilt", FIRST_BAD - timedelta(hours=2, minutes=1))  # outside
    _change(services, "fees config reverted", FIRST_BAD + timedelta(minutes=30))  # after
    expected = f"api v2 deployed {deployed:%H:%M}, 7 minutes before the first duplicate"
    assert expected == "api v2 deployed 19:58, 7 minutes before the first duplicate"

    text = services.postmortems.new(incident_id).read_text()
    assert f"- Changes before detection: {expected}\n" in text
    rows = [line for line in text.splitlines() if "| change |" in line]
    assert rows == [f"| {deployed:%Y-%m-%d %H:%M:%S}Z | change | change: api v2 deployed (api) "
                    "| webhook:pagerduty |"]  # fmt: skip
    assert "db index rebuilt" not in text and "fees config reverted" not in text

    shown = cli.json("incident", "show", incident_id)["changes_before"]
    assert shown["anchor"] == {
        "at": to_iso(FIRST_BAD), "kind": "first_bad_entry", "check": "duplicate_posting"
    }
    assert shown["window_s"] == 7200
    assert [(c["summary"], c["seconds_before"]) for c in shown["changes"]] == [
        ("api v2 deployed", 420.0)
    ]
    human = cli("incident", "show", incident_id).stdout
    assert f"changes before detection:\n  {expected}  (api)\n" in human


def test_change_window_from_the_config_measured_from_the_first_alert(
    workspace: Path, cli: Cli, tmp_path: Path
) -> None:
    config = workspace / "incidentbook.toml"
    text = config.read_text()
    assert 'change_window = "2h"\n' in text  # the default, written by init
    config.write_text(text.replace('change_window = "2h"', 'change_window = "10m"'))
    first_alert = datetime(2026, 10, 17, 3, 0, tzinfo=UTC)
    alert = {"source": "shop", "name": "CheckoutErrors", "fingerprint": "co-1",
             "status": "firing", "severity": "error", "summary": "checkout 5xx",
             "starts_at": to_iso(first_alert)}  # fmt: skip
    alerts = tmp_path / "alerts.jsonl"
    alerts.write_text(json.dumps(alert) + "\n")
    assert cli("alerts", "ingest", str(alerts)).exit_code == 0
    changes = tmp_path / "changes.jsonl"
    changes.write_text("".join(
        json.dumps({"payload": {"summary": summary, "source": "shop-deploy",
                                "timestamp": to_iso(first_alert - before)}}) + "\n"
        for summary, before in (("cart v9 deployed", timedelta(minutes=5)),
                                ("cdn purge", timedelta(minutes=15)))
    ))  # fmt: skip
    assert cli("alerts", "ingest", str(changes), "--format", "pagerduty-change").exit_code == 0
    incident = cli.json("alerts", "ack-group", "CheckoutErrors")
    incident_id = incident.get("incident_id") or incident["incident"]["id"]
    shown = cli.json("incident", "show", incident_id)["changes_before"]
    assert shown["anchor"] == {"at": to_iso(first_alert), "kind": "first_alert", "check": None}
    assert shown["window_s"] == 600
    assert [(c["summary"], c["seconds_before"]) for c in shown["changes"]] == [
        ("cart v9 deployed", 300.0)
    ]
    human = cli("incident", "show", incident_id).stdout
    assert "  cart v9 deployed 02:55, 5 minutes before the first alert  (shop-deploy)\n" in human


def test_an_incident_without_alerts_has_no_deploy_context(cli: Cli) -> None:
    opened = cli.json("incident", "open", "--title", "checkout errors", "--severity", "error")
    incident_id = opened.get("id") or opened["incident"]["id"]
    # No alert and no bad entry: nothing to measure from.
    assert cli.json("incident", "show", incident_id)["changes_before"] is None


@pytest.mark.parametrize(
    ("value", "seconds"), [("2h", 7200), ("90m", 5400), ("1h30m", 5400), (600, 600), ("45s", 45)]
)
def test_change_window_values(value: object, seconds: int) -> None:
    assert parse_window(value) == seconds


@pytest.mark.parametrize("value", ["soon", "0m", "-5m", "8d", True, 2.5, ""])
def test_bad_change_window_is_a_one_line_error(value: object, settings: Settings) -> None:
    with pytest.raises(UsageError) as raised:
        parse_window(value)
    assert str(raised.value).startswith("[alerts] change_window is ")
    assert "\n" not in str(raised.value)


def test_bad_change_window_in_the_config_is_exit_2(workspace: Path, cli: Cli) -> None:
    config = workspace / "incidentbook.toml"
    config.write_text(config.read_text().replace('change_window = "2h"', 'change_window = "x"'))
    result = cli("changes", "list")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "incidentbook: error: incidentbook.toml: [alerts] change_window is 'x': "
        'give a duration from 1s to 7d, like "2h" or "90m"'
    ]
