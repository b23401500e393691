"""Safety at 2 a.m. (issue 14, DESIGN §9): typing never reaches a binding, anything that changes
an incident asks first (and a cancel changes nothing), a group's second `a` opens no second
incident, also after its incident was resolved while its alerts still fire."""

from __future__ import annotations

from textual.binding import Binding
from textual.keys import REPLACED_KEYS, key_to_character
from textual.widgets import DataTable, Input

from incidentbook.services import Services
from incidentbook.ui.app import IncidentbookApp
from incidentbook.ui.screens.confirm_dialog import ConfirmDialog
from incidentbook.ui.screens.incident import IncidentScreen
from incidentbook.ui.screens.triage import TriageScreen
from tests.support.app import settle

SIZE = (140, 40)


def char_of(key: str) -> str | None:
    # "slash" is Unicode's "solidus": Textual's key_to_character needs the long name
    return key_to_character(REPLACED_KEYS.get(key, key))


def printable_keys(*binding_lists: object) -> list[str]:
    """Every key of these bindings that types a character, each once."""
    keys: list[str] = []
    for bindings in binding_lists:
        assert isinstance(bindings, list)
        for binding in bindings:
            assert isinstance(binding, Binding)
            for key in binding.key.split(","):
                character = char_of(key.strip())
                if character and character.isprintable() and key not in keys:
                    keys.append(key.strip())
    return keys


def notes_of(services: Services, incident_id: str) -> list[str]:
    return [
        str(e.data["text"])
        for e in services.incidents.timeline(incident_id)
        if e.type == "incident.note_added"
    ]


async def test_typing_after_a_saved_note_never_fires_a_binding(
    app: IncidentbookApp, seeded_services: Services
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, IncidentScreen) and screen.incident_id == "INC-0001"
        before = seeded_services.incidents.get("INC-0001")
        events_before = len(seeded_services.incidents.timeline("INC-0001"))
        notes_before = notes_of(seeded_services, "INC-0001")
        await pilot.press("n", *"paused consumer", "enter")
        await settle(pilot)
        note = screen.query_one("#note-input", Input)
        assert app.focused is note  # the field keeps the focus after saving
        keys = printable_keys(IncidentScreen.BINDINGS, app.BINDINGS)
        # the screen's and the app's letters: a r o s n p F A ? H / q j k g G
        assert {"a", "r", "o", "s", "n", "p", "F", "A", "q", "slash", "question_mark"} <= set(
            keys
        )
        await pilot.press(*keys, "enter")
        await settle(pilot)
        assert app.is_running and app.screen is screen  # no dialog, no other screen, no quit
        assert app.focused is note
        after = seeded_services.incidents.get("INC-0001")
        assert (after.status, after.severity, after.acknowledged_at, after.resolved_at) == (
            before.status,
            before.severity,
            before.acknowledged_at,
            before.resolved_at,
        )
        typed = "".join(char_of(k) or "" for k in keys)
        assert notes_of(seeded_services, "INC-0001") == [*notes_before, "paused consumer", typed]
        # two notes and nothing else on the timeline
        assert len(seeded_services.incidents.timeline("INC-0001")) == events_before + 2
        await pilot.press("escape")  # leaves the field for the timeline, stays on the screen
        assert app.focused is screen.query_one("#timeline", DataTable)
        assert app.screen is screen
        await pilot.press("escape")
        assert isinstance(app.screen, TriageScreen)


async def test_no_printable_binding_acts_while_any_text_field_has_focus(
    app: IncidentbookApp,
) -> None:
    """The one check (ui.keys) in the app's and the screens' check_action."""
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("A")  # the audit screen, its account field focused
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, IncidentScreen)
        for action in ("acknowledge", "resolve", "reopen", "severity", "postmortem", "fix"):
            assert screen.check_action(action, ()) is True
        assert app.check_action("quit", ()) is True
        screen.query_one("#note-input", Input).focus()
        await pilot.pause()
        for action in ("acknowledge", "resolve", "reopen", "severity", "postmortem", "fix"):
            assert screen.check_action(action, ()) is False, action
        for action in ("quit", "help", "open_screen", "move"):
            assert app.check_action(action, ()) is False, action
        assert screen.check_action("back", ()) is True  # escape is no character
        assert app.check_action("refresh", ()) is True  # ctrl+r neither


async def test_acknowledge_asks_first_and_escape_changes_nothing(
    app: IncidentbookApp, seeded_services: Services
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert seeded_services.incidents.get("INC-0001").status == "open"
        events = len(seeded_services.incidents.timeline("INC-0001"))
        await pilot.press("a")  # the incidents table has the focus: INC-0001
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, TriageScreen)
        assert seeded_services.incidents.get("INC-0001").status == "open"
        assert len(seeded_services.incidents.timeline("INC-0001")) == events
        await pilot.press("enter")  # opens it
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("escape")
        await settle(pilot)
        assert seeded_services.incidents.get("INC-0001").status == "open"
        await pilot.press("a")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, IncidentScreen)
        assert seeded_services.incidents.get("INC-0001").status == "acknowledged"


async def test_reopen_asks_first_and_escape_changes_nothing(
    app: IncidentbookApp, seeded_services: Services
) -> None:
    ctx = seeded_services.context("closed for the test", actor="user:ana")
    seeded_services.incidents.resolve(ctx, "INC-0002")
    events = len(seeded_services.incidents.timeline("INC-0002"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.push_screen(IncidentScreen("INC-0002"))
        await settle(pilot)
        await pilot.press("o")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, IncidentScreen)
        assert seeded_services.incidents.get("INC-0002").status == "resolved"
        assert len(seeded_services.incidents.timeline("INC-0002")) == events
        await pilot.press("o")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert seeded_services.incidents.get("INC-0002").status == "open"
        assert seeded_services.incidents.timeline("INC-0002")[-1].type == "incident.reopened"


async def test_a_group_opens_one_incident_also_after_it_was_resolved(
    app: IncidentbookApp, seeded_services: Services
) -> None:
    def all_incidents() -> list[str]:
        return [i.id for i in seeded_services.incidents.list_incidents(include_resolved=True)]

    start = all_incidents()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.screen.query_one("#groups", DataTable).focus()
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("escape")  # cancelled: nothing opened
        await settle(pilot)
        assert all_incidents() == start
        assert seeded_services.alerts.groups()[0].incident_id is None
        await pilot.press("a")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        opened = [i for i in all_incidents() if i not in start]
        assert len(opened) == 1
        iid = opened[0]
        assert seeded_services.incidents.get(iid).status == "acknowledged"
        await pilot.press("a")  # the second a: already acknowledged, no question, nothing new
        await settle(pilot)
        assert isinstance(app.screen, TriageScreen)
        assert set(all_incidents()) == {*start, iid}

        # Resolved (the gate overridden) while its alerts still fire.
        ctx = seeded_services.context("fixed upstream, reconcile pending", actor="user:ana")
        seeded_services.incidents.resolve(ctx, iid, force=True)
        app.check_for_changes()
        await settle(pilot)
        group = seeded_services.alerts.groups()[0]
        assert group.firing == 12 and group.incident_id == iid
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        assert app.screen.title_text == f"Reopen {iid}?"
        assert "12 alerts still firing" in app.screen.body
        await pilot.press("escape")
        await settle(pilot)
        assert seeded_services.incidents.get(iid).status == "resolved"
        assert len(all_incidents()) == len(start) + 1
        await pilot.press("a")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert len(all_incidents()) == len(start) + 1  # no second incident
        assert seeded_services.incidents.get(iid).status == "acknowledged"
        assert seeded_services.alerts.groups()[0].incident_id == iid
