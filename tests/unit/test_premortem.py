"""Pre-mortems: prefilled from the past, a risk register, and "foreseen in PRE-0003: risk 2"."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import incidentbook.core.documents.related as related
from incidentbook.core.documents import actions as act
from incidentbook.core.documents.blocks import regions
from incidentbook.core.documents.premortem import coverage_for_incident, foreseen_for_incident
from incidentbook.core.documents.related import Related
from incidentbook.core.documents.risks import parse_risks
from incidentbook.core.documents.store import list_documents
from incidentbook.frontmatter import split
from incidentbook.resources import shipped_dir
from incidentbook.services import Services
from tests.support.documents import GOLDEN

PAST_LESSON = "Every money path must be safe to repeat, including retries."


def _past_incident_with_postmortem(services: Services, ctx) -> str:
    incident = services.incidents.open(
        ctx, "Webhook retries double-posted processor payments", "critical"
    ).incident
    services.incidents.add_note(ctx, incident.id, "Retry path had no idempotency check.")
    services.incidents.resolve(ctx, incident.id)
    path = services.postmortems.new(incident.id)
    text = path.read_text(encoding="utf-8")
    text = text.replace(
        "## Action items\n",
        "## Action items\n\n- [x] prevent: Idempotency key on the retry path (ana, 2021-02-17)\n"
        "- [ ] process: Review retry paths (ravi, 2021-03-01)\n",
    )
    text = text.replace("## Lessons\n", f"## Lessons\n\n- {PAST_LESSON}\n")
    path.write_text(text, encoding="utf-8")
    services.documents.sync_file(ctx, path)
    return incident.id


@pytest.mark.parametrize("backend", ["index", "fallback"])
def test_what_has_bitten_us_before_is_prefilled(
    services: Services, ctx, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    if backend == "fallback":
        monkeypatch.setattr(related, "_search_terms_function", lambda: None)
    past = _past_incident_with_postmortem(services, ctx)
    services.incidents.open(ctx, "Printer out of paper in the office", "info")
    result = services.premortems.create(
        "Launch: instant payouts with webhook retries",
        launch_services=["payouts", "webhooks"],
        tags=["idempotency"],
    )
    expected = "whoosh" if backend == "index" else "fallback"
    assert result.search_backend == expected
    text = result.path.read_text(encoding="utf-8")
    (bitten,) = [r for r in regions(split(text).body.split("\n")) if r.name == "bitten"]
    block = "\n".join(bitten.content)
    assert f"incident {past}: Webhook retries double-posted processor payments" in block
    assert f"Lesson: {PAST_LESSON}" in block
    assert "Action items: 1 done, 1 open" in block
    assert "Printer" not in block


def test_golden_premortem(services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        related,
        "search_related",
        lambda *a, **k: [
            Related(
                "incident",
                "INC-0001",
                "Webhook retries double-posted processor payments",
                9.0,
                lesson=PAST_LESSON,
                actions={"done": 7, "dropped": 1},
            ),
            Related(
                "runbook",
                "duplicate_posting",
                "Duplicate posting",
                4.0,
                path="runbooks/duplicate_posting.md",
            ),
        ],
    )
    path = services.premortems.new("Launch: instant payouts", ["payouts", "ledger"], ["retries"])
    assert path.name == "PRE-0001-launch-instant-payouts.md"
    text = path.read_text(encoding="utf-8")
    golden = GOLDEN / "premortem_instant_payouts.md"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")
    # The template's example risk lives in a comment: it is not a registered risk.
    assert parse_risks(split(text).body) == []


def test_ids_increase_and_cli_json(services: Services, cli) -> None:
    first = cli.json("premortem", "new", "Launch: refunds v2", "--services", "refunds,ledger")
    second = cli.json("premortem", "new", "Launch: payouts", "--tags", "payouts")
    assert (first["id"], second["id"]) == ("PRE-0001", "PRE-0002")
    docs = {d.id: d for d in list_documents(services.db, "premortem")}
    assert docs["PRE-0001"].services == ("refunds", "ledger")
    assert docs["PRE-0002"].tags == ("payouts",)
    empty = cli("premortem", "new", "   ")
    assert empty.exit_code == 2 and "title" in empty.stderr


def test_shipped_premortem_risk_register() -> None:
    path = next(shipped_dir("postmortems").glob("PRE-*.md"))
    doc = split(path.read_text(encoding="utf-8"))
    risks = parse_risks(doc.body, doc.body_offset)
    assert [r.number for r in risks] == [1, 2, 3, 4]
    assert risks[0].likelihood == "medium" and risks[0].impact == "high"
    assert risks[0].services == ["payouts", "webhooks", "ledger"]
    assert "duplicate_posting" in risks[0].detection
    assert path.read_text(encoding="utf-8").split("\n")[risks[1].line - 1].startswith("### Risk 2:")
    # Go/no-go checkboxes are not action items; the action items are.
    items = act.parse_items(doc.body, doc.body_offset)
    assert [i.type for i in items] == ["prevent", "mitigate", "process"]


PREMORTEM = """---
id: PRE-0003
kind: premortem
title: 'Launch: instant payouts'
services: [payouts, ledger]
tags: [idempotency]
---
# Pre-mortem: Launch: instant payouts

## Failure modes

### Risk 1: Bank rejects a payout after the ledger debited the merchant
- Likelihood: medium
- Impact: medium
- Detection: payouts stuck in sent

### Risk 2: Payout webhook retries send a payout twice
- Likelihood: medium
- Impact: high
- Services: payouts, webhooks
- Detection: reconciler duplicate_posting on payout entries
"""


def test_foreseen_for_a_later_incident(services: Services, ctx, workspace: Path) -> None:
    (workspace / "postmortems" / "PRE-0003-launch-instant-payouts.md").write_text(
        PREMORTEM, encoding="utf-8"
    )
    hit = services.incidents.open(ctx, "Payouts sent twice after webhook retries", "critical")
    services.incidents.add_note(ctx, hit.incident.id, "Duplicate payout entries on 40 merchants")
    miss = services.incidents.open(ctx, "Payouts dashboard slow to load", "warning")
    other = services.incidents.open(ctx, "Office printer jammed", "info")

    (found,) = foreseen_for_incident(services.settings, services.db, hit.incident.id)
    assert found.label == "foreseen in PRE-0003: risk 2"
    assert found.risk_title == "Payout webhook retries send a payout twice"
    assert "service:payouts" in found.matched
    assert foreseen_for_incident(services.settings, services.db, miss.incident.id) == []
    assert foreseen_for_incident(services.settings, services.db, other.incident.id) == []

    # The pre-mortem covered "payouts" but foresaw nothing like the slow dashboard: missed.
    (coverage,) = coverage_for_incident(services.settings, services.db, miss.incident.id)
    assert coverage.missed and coverage.services == ["payouts"]
    assert coverage_for_incident(services.settings, services.db, other.incident.id) == []

    # The postmortems record the hit and the miss.
    services.incidents.resolve(ctx, hit.incident.id)
    hit_text = services.postmortems.new(hit.incident.id).read_text(encoding="utf-8")
    assert '- Hit: foreseen in PRE-0003: risk 2 — "Payout webhook retries send a payout twice"' in (
        hit_text
    )
    miss_text = services.postmortems.new(miss.incident.id).read_text(encoding="utf-8")
    assert '- Missed: PRE-0003 ("Launch: instant payouts") covered payouts' in miss_text


def test_concurrent_premortems_get_distinct_ids(services: Services) -> None:
    import threading

    from incidentbook.services import make_services

    barrier = threading.Barrier(4)
    ids: list[str] = []
    errors: list[BaseException] = []

    def start(n: int) -> None:
        own = make_services(services.settings)  # its own connections, like another process
        barrier.wait()
        try:
            ids.append(own.premortems.create(f"Launch number {n}").id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(ids) == ["PRE-0001", "PRE-0002", "PRE-0003", "PRE-0004"]
    files = sorted(p.name[:8] for p in services.settings.postmortems_dir.glob("PRE-*.md"))
    assert files == sorted(ids)
