"""The Search screen and the runbook / seen-before widgets, in the real app under Pilot."""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult
from textual.widgets import Button, Input, OptionList, Static

from incidentbook.context import Context
from incidentbook.services import Services
from incidentbook.settings import Settings
from incidentbook.ui.app import IncidentbookApp
from incidentbook.ui.screens.incident import IncidentScreen
from incidentbook.ui.screens.search import DocumentViewScreen, SearchScreen
from incidentbook.ui.widgets.document_view import DocumentView
from incidentbook.ui.widgets.runbook_panel import RunbookPanel
from incidentbook.ui.widgets.seen_before import SeenBefore
from tests.support.app import settle
from tests.support.painted import painted_text

SIZE = (140, 40)

PM = """---
id: PM-0001
kind: postmortem
incident: {incident}
title: Duplicate postings from webhooks
---
# Duplicate postings

## Lessons
- Every write path needs an idempotency key.
"""


async def type_query(pilot, text: str) -> None:  # type: ignore[no-untyped-def]
    for char in text:
        names = {" ": "space", '"': "quotation_mark", ":": "colon"}
        await pilot.press(names.get(char, char))
    await settle(pilot)


async def test_slash_opens_search_and_typing_finds_with_highlights(app: IncidentbookApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SearchScreen)
        await type_query(pilot, "idempotency")
        assert screen.searches >= 5  # one search per keystroke, earlier ones superseded
        await pilot.press("f2")  # incidents chip
        await settle(pilot)
        assert screen.hits and {h.kind for h in screen.hits} == {"incident"}
        results = screen.query_one("#search-results", OptionList)
        assert results.option_count == len(screen.hits)
        first = results.get_option_at_index(0).prompt
        assert "idempotency" in str(first)
        assert any("reverse" in str(span.style) for span in first.spans)  # type: ignore[union-attr]
        assert "result" in str(screen.query_one("#search-status", Static).render())
        # Enter on the incident hit opens it.
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, IncidentScreen)
        assert app.screen.incident_id == screen.hits[0].doc_id


async def test_filter_chips_and_malformed_query(app: IncidentbookApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SearchScreen)
        await type_query(pilot, "balance")
        kinds = {h.kind for h in screen.hits}
        assert {"runbook", "alert_group"} <= kinds
        await pilot.press("f4")  # runbooks chip
        await settle(pilot)
        assert screen.kinds == {"runbook"}
        assert screen.query_one("#chip-runbook", Button).has_class("-on")
        assert screen.hits and {h.kind for h in screen.hits} == {"runbook"}
        # Enter opens the runbook rendered as Markdown.
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DocumentViewScreen)
        assert app.screen.path.suffix == ".md"
        await pilot.press("escape")
        await settle(pilot)
        await type_query(pilot, ' "unclosed')
        assert screen.hits == []
        status = str(screen.query_one("#search-status", Static).render())
        assert "unbalanced quote" in status


class WidgetHost(App[None]):
    def __init__(self, settings: Settings, services: Services) -> None:
        super().__init__()
        self.settings = settings
        self.services = services

    def compose(self) -> ComposeResult:
        yield RunbookPanel(self.services, id="panel")
        yield SeenBefore(self.services, id="seen")


async def test_runbook_panel_and_seen_before(
    app_settings: Settings, seeded_services: Services
) -> None:
    services = seeded_services
    ctx = Context(actor="user:ana", correlation_id="t", clock=app_settings.clock)
    past = services.incidents.open(ctx, "Webhook retry double-posted payments", "critical")
    services.incidents.add_note(ctx, past.incident.id, "webhook retry posted twice")
    services.incidents.resolve(ctx, past.incident.id)
    pm_dir = Path(app_settings.postmortems_dir)
    pm_dir.mkdir(parents=True, exist_ok=True)
    (pm_dir / "PM-0001.md").write_text(PM.format(incident=past.incident.id))
    host = WidgetHost(app_settings, services)
    async with host.run_test(size=SIZE) as pilot:
        panel = host.query_one(RunbookPanel)
        panel.show_alert("balance_mismatch", {"check": "balance_mismatch"})
        seen = host.query_one(SeenBefore)
        seen.show_for(text="processor webhook retry posted payments twice")
        await settle(pilot)
        assert panel.matches[0].runbook.id == "balance_mismatch"
        assert panel.matches[0].rule == "alerts"
        body = panel.query_one(DocumentView)
        assert "Diagnosis" in body.source and "Diagnosis" in painted_text(body)
        assert seen.items and seen.items[0].incident_id == past.incident.id
        assert seen.items[0].lessons == ("Every write path needs an idempotency key.",)
        options = seen.query_one("#seen-options", OptionList)
        rendered = "\n".join(
            str(options.get_option_at_index(i).prompt) for i in range(options.option_count)
        )
        assert "lesson: Every write path" in rendered
        panel.show_alert("NoSuchAlertAnywhereZzz")
        await settle(pilot)
        assert "No runbook" in str(panel.query_one("#runbook-why", Static).render()) or all(
            m.suggestion for m in panel.matches
        )


async def test_search_input_is_focused(app: IncidentbookApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        await settle(pilot)
        assert isinstance(app.focused, Input)
