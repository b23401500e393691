"""CLI parity with the app: ``incident show`` and ``alerts show`` list "seen before" (past
incidents with their lessons) and "foreseen in PRE-…: risk N". The shipped PRE-0001's risk 1
names ``duplicate_posting`` in its detection field: a reconciler duplicate incident is foreseen
by it (and not by risk 2, whose detection names ``balance_mismatch``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from incidentbook.core.documents.premortem import coverage_for_incident, foreseen_for_incident
from incidentbook.resources import shipped_dir
from incidentbook.services import Services
from incidentbook.testing.synth import write_ledger
from tests.support.cli import Cli
from tests.support.impact import impact_ledger, reconcile

LESSON = "Every operation that touches money must be safe to repeat."


@pytest.fixture
def night(cli: Cli, services: Services, tmp_path: Path) -> dict[str, str]:
    """A past duplicate_posting incident (resolved, with a postmortem and its lesson), the
    shipped PRE-0001, then tonight's reconciler duplicates acknowledged as a new incident."""
    pre = next(shipped_dir("postmortems").glob("PRE-0001-*.md"))
    shutil.copy(pre, cli.workspace / "postmortems" / pre.name)
    old = tmp_path / "old.jsonl"
    alert = {"source": "test", "name": "duplicate_posting", "fingerprint": "old-dup",
             "status": "firing", "severity": "critical", "summary": "payments posted twice",
             "labels": {}, "annotations": {}, "starts_at": "2026-01-02T03:00:00Z",
             "ends_at": None}  # fmt: skip
    old.write_text(json.dumps(alert) + "\n")
    cli.json("alerts", "ingest", str(old))
    past = cli.json("alerts", "ack-group", "duplicate_posting")["incident"]["id"]
    old.write_text(
        json.dumps({**alert, "status": "resolved", "ends_at": "2026-01-02T04:00:00Z"}) + "\n"
    )
    cli.json("alerts", "ingest", str(old))
    cli.json("incident", "resolve", past)
    (cli.workspace / "postmortems" / f"{past}-payments-posted-twice.md").write_text(
        f"---\nid: {past}\nkind: postmortem\nincident: {past}\n"
        "title: 'Payments posted twice'\n---\n# Payments posted twice\n\n"
        f"## Lessons\n\n- {LESSON}\n",
        encoding="utf-8",
    )
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    write_ledger(url, impact_ledger())
    reconcile(services, url)
    now = cli.json("alerts", "ack-group", "duplicate_posting")["incident"]["id"]
    assert now != past
    return {"past": past, "now": now}


def test_the_reconciler_duplicate_incident_is_foreseen_by_pre_0001_risk_1(
    services: Services, night: dict[str, str]
) -> None:
    (found,) = foreseen_for_incident(services.settings, services.db, night["now"])
    assert found.label == "foreseen in PRE-0001: risk 1"
    assert found.risk_title.startswith("A payout is sent twice")
    assert "detection:duplicate_posting" in found.matched
    (coverage,) = coverage_for_incident(services.settings, services.db, night["now"])
    assert coverage.premortem_id == "PRE-0001" and not coverage.missed
    assert [h.risk for h in coverage.hits] == [1]


def test_incident_show_lists_seen_before_and_foreseen(cli: Cli, night: dict[str, str]) -> None:
    shown = cli.json("incident", "show", night["now"])
    (seen,) = [s for s in shown["seen_before"] if s["incident"] == night["past"]]
    assert seen["why"] == "same alert duplicate_posting"
    assert seen["lessons"] == [LESSON]
    assert night["now"] not in [s["incident"] for s in shown["seen_before"]]
    assert [(f["premortem_id"], f["risk"]) for f in shown["foreseen"]] == [("PRE-0001", 1)]

    result = cli("incident", "show", night["now"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    at = lines.index("seen before:")
    assert any(x.startswith(f"  {night['past']}  ") and "same alert" in x for x in lines[at:])
    assert f"    lesson: {LESSON}" in lines[at:]
    assert any(x.startswith("foreseen in PRE-0001: risk 1 — A payout is sent twice") for x in lines)


def test_alerts_show_lists_seen_before_and_foreseen(cli: Cli, night: dict[str, str]) -> None:
    fingerprint = next(
        a["fingerprint"]
        for a in cli.json("alerts", "list")
        if a["name"] == "duplicate_posting" and a["incident_id"] == night["now"]
    )
    shown = cli.json("alerts", "show", fingerprint)
    assert [s["incident"] for s in shown["seen_before"]][:1] == [night["past"]]
    assert shown["seen_before"][0]["lessons"] == [LESSON]
    assert [f["label"] for f in shown["foreseen"]] == ["foreseen in PRE-0001: risk 1"]
    result = cli("alerts", "show", fingerprint)
    assert result.exit_code == 0, result.output
    assert "  seen before:" in result.stdout.splitlines()
    assert f"      lesson: {LESSON}" in result.stdout.splitlines()
    assert "  foreseen in PRE-0001: risk 1 — A payout is sent twice" in result.stdout


def test_nothing_in_the_past_is_said_plainly(cli: Cli) -> None:
    incident = cli.json("incident", "open", "--title", "office printer jammed")["incident"]["id"]
    shown = cli.json("incident", "show", incident)
    assert shown["seen_before"] == [] and shown["foreseen"] == []
    result = cli("incident", "show", incident)
    assert "  nothing like this before" in result.stdout.splitlines()
