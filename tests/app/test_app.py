"""The real app under Pilot: first paint, triage, incidents, dialogs, palette, help."""

from __future__ import annotations

import threading
from pathlib import Path

from textual.widgets import DataTable, Input, OptionList, Static

from incidentbook.services import Services, make_services
from incidentbook.settings import Settings, load_settings
from incidentbook.storage.db import Database
from incidentbook.ui.app import IncidentbookApp, make_app
from incidentbook.ui.screens.health import HealthScreen
from incidentbook.ui.screens.help import HelpScreen
from incidentbook.ui.screens.incident import IncidentScreen
from incidentbook.ui.screens.resolve_dialog import ResolveDialog
from incidentbook.ui.screens.triage import TriageScreen
from tests.support.app import settle
from tests.support.cli import Cli

SIZE = (140, 40)


async def test_make_run_path_reaches_triage(tmp_path: Path) -> None:
    """What `make run` does: init, demo, open the app on the workspace."""
    workspace = tmp_path / "demo"
    Cli(workspace)("init", str(workspace), workspace=False)
    demo = Cli(workspace)("demo", "--accounts", "300", "--days", "3")
    assert demo.exit_code == 0, demo.output
    settings = load_settings(workspace)
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, TriageScreen)
        services = make_services(settings)
        groups = app.screen.query_one("#groups", DataTable)
        incidents = app.screen.query_one("#incidents", DataTable)
        assert groups.row_count == len(services.alerts.groups())
        assert incidents.row_count == len(services.incidents.list_incidents())


class GatedDatabase(Database):
    """A real database whose opening waits for a gate: proves the UI does not wait for it."""

    gate = threading.Event()

    @property
    def engine(self):  # type: ignore[no-untyped-def,override]
        assert self.gate.wait(timeout=30)
        return super().engine


async def test_first_paint_does_not_wait_for_the_database(
    app_settings: Settings, seeded_services: Services
) -> None:
    services = make_services(app_settings)
    GatedDatabase.gate.clear()
    services.__dict__["db"] = GatedDatabase(app_settings.db_path)
    app = IncidentbookApp(app_settings, services)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, TriageScreen)
        assert not app.db_ready
        detail = app.screen.query_one("#triage-detail", Static)
        assert "Opening the workspace" in str(detail.render())
        await pilot.press("down")  # input is live while the database is closed
        GatedDatabase.gate.set()
        await settle(pilot)
        assert app.db_ready
        assert app.screen.query_one("#incidents", DataTable).row_count == 2


async def test_triage_lists_groups_and_incidents(app: IncidentbookApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        groups = app.screen.query_one("#groups", DataTable)
        assert groups.row_count == 2
        first = groups.get_row_at(0)
        assert first[0] == "balance_mismatch" and first[1] == "12"
        incidents = app.screen.query_one("#incidents", DataTable)
        assert [incidents.get_row_at(r)[0] for r in range(incidents.row_count)] == [
            "INC-0001",
            "INC-0002",
        ]


async def test_acknowledging_a_group_opens_its_incident(
    app: IncidentbookApp, seeded_services: Services
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.screen.query_one("#groups", DataTable).focus()
        await pilot.press("a")
        await settle(pilot)
        await pilot.press("enter")  # the confirmation
        await settle(pilot)
        incident_id = seeded_services.alerts.groups()[0].incident_id
        assert incident_id is not None
        incident = seeded_services.incidents.get(incident_id)
        assert incident.status == "acknowledged" and len(incident.alerts) == 12
        groups = app.screen.query_one("#groups", DataTable)
        assert groups.get_row_at(0)[4] == incident_id


async def test_resolving_while_findings_fire_needs_the_override_and_a_reason(
    app: IncidentbookApp, seeded_services: Services
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.screen.query_one("#groups", DataTable).focus()
        await pilot.press("a")
        await settle(pilot)
        await pilot.press("enter")  # the confirmation
        await settle(pilot)
        group = seeded_services.alerts.groups()[0]
        assert group.incident_id is not None
        firing = group.firing  # the gate counts the incident's firing findings: these
        app.push_screen(IncidentScreen(group.incident_id))
        await settle(pilot)
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, ResolveDialog)
        gate = str(app.screen.query_one("#resolve-gate", Static).render())
        assert f"{firing} findings still firing: run reconcile after the fix" in gate
        await pilot.press("enter")  # not ticked: refused in the dialog
        await settle(pilot)
        assert isinstance(app.screen, ResolveDialog)
        assert "gate is shut" in str(app.screen.query_one("#resolve-error", Static).render())
        await pilot.press("escape")
        await settle(pilot)
        assert seeded_services.incidents.get(group.incident_id).status != "resolved"
        await pilot.press("r")
        await settle(pilot)
        await pilot.press(*"known double post", "tab", "space", "shift+tab", "enter")
        await settle(pilot)
        state = seeded_services.incidents.get(group.incident_id)
        assert state.status == "resolved"
        event = seeded_services.incidents.timeline(group.incident_id)[-1]
        assert event.data["forced"] is True and event.reason == "known double post"


async def test_incident_screen_ack_note_resolve(
    app: IncidentbookApp, seeded_services: Services
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, IncidentScreen)
        assert app.screen.incident_id == "INC-0001"
        timeline = app.screen.query_one("#timeline", DataTable)
        assert timeline.row_count == 2
        await pilot.press("a")
        await settle(pilot)
        await pilot.press("enter")  # the confirmation
        await settle(pilot)
        await pilot.press("n")
        assert isinstance(app.focused, Input)
        await pilot.press(*"paused consumer", "enter")
        await settle(pilot)
        assert isinstance(app.focused, Input)  # the note field keeps the focus
        await pilot.press("escape")  # to the timeline
        assert app.focused is timeline
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, ResolveDialog)  # nothing changes before it is confirmed
        assert seeded_services.incidents.get("INC-0001").status == "acknowledged"
        await pilot.press(*"consumer restarted", "enter")
        await settle(pilot)
        incident = seeded_services.incidents.get("INC-0001")
        assert (incident.status, incident.notes_count) == ("resolved", 2)
        resolved = seeded_services.incidents.timeline("INC-0001")[-1]
        assert (resolved.type, resolved.reason) == ("incident.resolved", "consumer restarted")
        assert app.screen.query_one("#timeline", DataTable).row_count == 5
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, TriageScreen)
        assert app.screen.query_one("#incidents", DataTable).row_count == 1


async def test_severity_dialog(app: IncidentbookApp, seeded_services: Services) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("s")
        await pilot.pause()
        await pilot.press("down", "enter")  # critical -> error
        await settle(pilot)
        assert seeded_services.incidents.get("INC-0001").severity == "error"


async def test_new_incident_dialog(app: IncidentbookApp, seeded_services: Services) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await pilot.pause()
        await pilot.press(*"Refunds in wrong currency", "enter")
        await settle(pilot)
        titles = [i.title for i in seeded_services.incidents.list_incidents()]
        assert "Refunds in wrong currency" in titles
        assert app.screen.query_one("#incidents", DataTable).row_count == 3


async def test_changes_from_outside_are_picked_up(
    app: IncidentbookApp, seeded_services: Services
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        ctx = seeded_services.context(actor="user:cli")
        seeded_services.incidents.open(ctx, "Opened from another terminal", "info")
        app.check_for_changes()  # what the app's timer does every few seconds
        await settle(pilot)
        assert app.screen.query_one("#incidents", DataTable).row_count == 3


async def test_every_binding_is_in_the_command_palette(app: IncidentbookApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {
            "Acknowledge",
            "Resolve",
            "New incident",
            "Help",
            "Health",
            "Refresh",
            "Quit",
        } <= titles
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Health")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, HealthScreen)


async def test_help_screen_lists_keys(app: IncidentbookApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        text = app.screen.text()
        for row in (
            "| `a` | Acknowledge the selected incident",
            "| `n` | New incident",
            "| `?` | Help",
            "| `H` | Health",
        ):
            assert row in text
        await pilot.press("escape")
        assert isinstance(app.screen, TriageScreen)


async def test_triage_shows_the_runbook_and_past_incidents_for_a_group(
    app: IncidentbookApp, seeded_services: Services
) -> None:
    from incidentbook.ui.widgets.runbook_panel import RunbookPanel

    ctx = seeded_services.context(actor="user:ana")
    past = seeded_services.incidents.open(ctx, "balance_mismatch after webhook retries").incident
    seeded_services.incidents.resolve(ctx, past.id)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.screen.query_one("#groups", DataTable).focus()
        await settle(pilot)
        panel = app.screen.query_one("#triage-runbook", RunbookPanel)
        assert panel.matches, "no runbook matched balance_mismatch"
        assert "balance_mismatch" in panel.matches[0].runbook.id
        options = app.screen.query_one("#triage-seen #seen-options", OptionList)
        seen = [str(options.get_option_at_index(i).id) for i in range(options.option_count)]
        assert past.id in seen


async def test_account_audit_opens_for_the_selected_group(app: IncidentbookApp) -> None:
    from incidentbook.ui.screens.audit import AuditScreen

    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.screen.query_one("#groups", DataTable).focus()
        await pilot.press("A")
        await settle(pilot)
        assert isinstance(app.screen, AuditScreen)
        assert app.screen.check == "balance_mismatch"
