"""Postmortem facts from ledger time (DESIGN §4, issue 12) and ``alerts ack-group`` joining an
existing incident and linking its runbook, over a real reconciled SQLite ledger.

The duplicates' entries are recorded hours before the reconcile; incidentbook's own time is a
``FakeClock`` that does not step (each moment is set by hand, in tests/support/ledger_time.py),
so every expected duration is computed from the timestamps chosen, in plain datetime arithmetic."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from incidentbook.core.documents.facts import collect
from incidentbook.core.ledger.reconcile.model import ReconcileOptions
from incidentbook.services import Services
from incidentbook.testing.clocks import FakeClock
from incidentbook.testing.synth import write_ledger
from tests.support.cli import Cli
from tests.support.ledger_time import (
    DAY,
    FINAL_RESOLVE,
    FIRST_ACK,
    RECONCILED,
    RECORDED,
    SECOND_ACK,
    iso,
    postmortem_ledger,
    resolve_reopen_reack,
    spoken,
)


@pytest.fixture
def still(clock: FakeClock) -> FakeClock:
    """The shared clock, made to stand still at each moment the test sets."""
    clock.step = timedelta(0)
    clock.now = RECONCILED
    return clock


@pytest.fixture
def reconciled(services: Services, still: FakeClock, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    write_ledger(url, postmortem_ledger())
    ctx = services.context("test", actor="reconciler")
    services.reconciler.run(ctx, ReconcileOptions(ledger_url=url, mode="full", batch=2))


def test_postmortem_times_run_from_the_first_bad_ledger_entry(
    services: Services, still: FakeClock, reconciled: None
) -> None:
    ctx = services.context("on call")
    still.now = FIRST_ACK
    incident_id = services.alerts.acknowledge_group(ctx, "duplicate_posting").incident.id
    resolve_reopen_reack(services, ctx, still, incident_id)

    first_bad = min(RECORDED[i] for i in (2, 3, 4, 5, 6))  # the duplicates' copies
    assert first_bad == DAY.replace(hour=20, minute=5)
    ttd = RECONCILED - first_bad
    tta = FIRST_ACK - RECONCILED
    duration = FINAL_RESOLVE - first_bad
    assert (ttd, tta, duration) == (
        timedelta(hours=5, minutes=55),
        timedelta(minutes=7, seconds=30),
        timedelta(hours=8, minutes=2, seconds=30),
    )

    with services.db.read() as session:
        facts = collect(session, incident_id)
    assert facts.from_reconciler and facts.accounts == 2
    assert facts.first_bad_at is not None and facts.first_alert is not None
    assert datetime.fromisoformat(facts.first_bad_at.replace("Z", "+00:00")) == first_bad
    assert datetime.fromisoformat(facts.first_alert.replace("Z", "+00:00")) == RECONCILED
    assert facts.ttd_s == ttd.total_seconds()
    assert facts.tta_s == tta.total_seconds()  # the FIRST acknowledge, not the one after reopen
    assert facts.duration_s == duration.total_seconds()
    assert facts.ttr_s == (FINAL_RESOLVE - FIRST_ACK).total_seconds()
    impact = {(i.check, i.currency): (i.accounts, i.delta_minor) for i in facts.impact}
    assert impact == {
        ("duplicate_posting", "EUR"): (1, 2_500),
        ("duplicate_posting", "JPY"): (1, 1_400),
    }

    text = services.postmortems.new(incident_id).read_text(encoding="utf-8")
    lines = text.split("\n")
    assert f"- Time to detect: {spoken(ttd)}" in lines
    assert f"- Time to acknowledge: {spoken(tta)}" in lines
    assert (
        f"- Duration: {spoken(duration)} (from the first bad ledger entry to resolution)" in lines
    )
    assert f"| First bad entry recorded (ledger time) | {iso(first_bad)} |" in lines
    assert f"| First acknowledged | {iso(FIRST_ACK)} |" in lines
    assert f"| Acknowledged | {iso(SECOND_ACK)} |" in lines
    assert "| duplicate_posting | EUR | 1 | 25.00 EUR |" in lines
    assert "| duplicate_posting | JPY | 1 | 1,400 JPY |" in lines
    # ack-group linked the runbook its alerts match (front matter alerts: duplicate_posting)
    supporting = text.split("Runbooks used:", 1)[1].split("Alerts:", 1)[0]
    assert "- duplicate_posting" in supporting.split("\n")


def test_incident_without_reconciler_alerts_keeps_todays_definitions(
    services: Services, still: FakeClock
) -> None:
    ctx = services.context("on call")
    still.now = RECONCILED
    incident_id = services.incidents.open(ctx, "Fees doubled", "error").incident.id
    still.now = FIRST_ACK
    services.incidents.acknowledge(ctx, incident_id)
    resolve_reopen_reack(services, ctx, still, incident_id, resolve=False)
    with services.db.read() as session:
        facts = collect(session, incident_id)
    assert not facts.from_reconciler and facts.first_bad_at is None and facts.impact == []
    assert facts.ttd_s is None  # no alert: no first bad event to detect from
    assert facts.tta_s == (SECOND_ACK - RECONCILED).total_seconds()  # today's: the last one


def test_ack_group_incident_joins_two_groups_to_one_incident(
    cli: Cli, services: Services, reconciled: None
) -> None:
    first = cli.json("alerts", "ack-group", "duplicate_posting")
    incident_id = first["incident"]["id"]
    assert first["incident"]["runbooks"] == ["duplicate_posting"]
    joined = cli.json("alerts", "ack-group", "balance_mismatch", "--incident", incident_id)
    assert joined["incident"]["id"] == incident_id and joined["changed"]
    state = services.incidents.get(incident_id)
    assert len(state.alerts) == 3  # acc_eur/evt_2, acc_jpy/evt_3, acc_bal
    assert state.runbooks == ("duplicate_posting", "balance_mismatch")
    assert [i.id for i in services.incidents.list_incidents(include_resolved=True)] == [incident_id]
    groups = {g["key"]: g["incident_id"] for g in cli.json("alerts", "groups")}
    assert groups == {"duplicate_posting": incident_id, "balance_mismatch": incident_id}
    types = [e.type for e in services.incidents.timeline(incident_id)]
    assert types.count("incident.group_joined") == 1
    # idempotent: again, with or without --incident, it is the same incident, nothing new
    again = cli.json("alerts", "ack-group", "balance_mismatch", "--incident", incident_id)
    plain = cli.json("alerts", "ack-group", "balance_mismatch")
    assert again["incident"]["id"] == plain["incident"]["id"] == incident_id
    assert not again["changed"] and not plain["changed"]
    assert len(services.incidents.timeline(incident_id)) == len(types)
    # the postmortem's impact counts both checks
    with services.db.read() as session:
        facts = collect(session, incident_id)
    assert {(i.check, i.currency): i.accounts for i in facts.impact} == {
        ("balance_mismatch", "EUR"): 1,
        ("duplicate_posting", "EUR"): 1,
        ("duplicate_posting", "JPY"): 1,
    }


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_ack_group_unknown_incident_is_one_line_exit_2(
    cli: Cli, services: Services, reconciled: None, as_json: bool
) -> None:
    args = ["alerts", "ack-group", "duplicate_posting", "--incident", "INC-0042"]
    result = cli(*args, *(["--json"] if as_json else []))
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert "INC-0042" in result.stderr
    assert result.stdout == ""
    assert services.incidents.list_incidents(include_resolved=True) == []
