"""The documents demo step: examples copied and linked, one more postmortem, idempotent."""

from __future__ import annotations

from incidentbook.core.documents.store import list_actions, list_documents
from incidentbook.core.events.store import events_by_prefix
from incidentbook.core.health.verify import run_verify
from incidentbook.demo.documents import WEBHOOK_TITLE, demo_step
from incidentbook.demo.model import DemoOptions, DemoReport
from incidentbook.demo.past_incidents import past_incidents_step
from incidentbook.frontmatter import split
from incidentbook.services import Services


def test_demo_step_copies_links_writes_and_is_idempotent(services: Services) -> None:
    options = DemoOptions(accounts=10, days=1)
    past_incidents_step(services, options, DemoReport())
    demo_step(services, options, DemoReport())
    folder = services.settings.postmortems_dir
    names = sorted(p.name for p in folder.glob("*.md"))
    assert len(names) == 3
    webhook = next(
        i
        for i in services.incidents.list_incidents(include_resolved=True)
        if i.title == WEBHOOK_TITLE
    )
    example = split((folder / names[0]).read_text(encoding="utf-8"))
    assert example.meta["incident"] == webhook.id
    assert example.meta["id"] == "PM-" + webhook.id[4:]
    docs = {d.id: d for d in list_documents(services.db)}
    assert {d.kind for d in docs.values()} == {"postmortem", "premortem"}
    assert sum(1 for d in docs.values() if d.kind == "postmortem") == 2
    assert len(list_actions(services.db)) == 14
    # The demo's second postmortem is finished by hand (lint passes) with one overdue item.
    from incidentbook.core.documents.lint import has_errors, lint_text

    for path in folder.glob("*.md"):
        assert not has_errors(lint_text(path.read_text(encoding="utf-8"))), path.name
    today = services.settings.clock().date()
    assert [a.owner for a in list_actions(services.db, overdue_on=today)] == ["ravi"]

    texts = {p.name: p.read_text(encoding="utf-8") for p in folder.glob("*.md")}
    with services.db.read() as session:
        before = len(events_by_prefix(session, ""))
    report = DemoReport()
    demo_step(services, options, report)
    assert {p.name: p.read_text(encoding="utf-8") for p in folder.glob("*.md")} == texts
    with services.db.read() as session:
        assert len(events_by_prefix(session, "")) == before
    assert "0 example(s) copied, 0 written" in report.lines[0]
    assert all(r.ok for r in run_verify(services.settings, services.db))


def test_cli_postmortem_list(services: Services, cli) -> None:
    options = DemoOptions(accounts=10, days=1)
    past_incidents_step(services, options, DemoReport())
    demo_step(services, options, DemoReport())
    rows = cli.json("postmortem", "list")
    assert sorted(r["kind"] for r in rows) == ["postmortem", "postmortem", "premortem"]
    webhook = next(r for r in rows if r["title"].endswith(WEBHOOK_TITLE))
    assert webhook["actions"] == {"done": 7, "dropped": 1}
    assert [r["id"] for r in cli.json("postmortem", "list", "--kind", "premortem")] == ["PRE-0001"]
