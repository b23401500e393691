"""Navigation as in the best terminal apps (issue 14, DESIGN §9): j/k and g/G in every table
and list, enter opens the row under the cursor, escape goes back one step, `/` searches from
every screen, each command once in the palette, empty tables that say why, words not event
names."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable, Input, OptionList, Static

from incidentbook.services import Services
from incidentbook.settings import Settings
from incidentbook.testing.synth import write_ledger
from incidentbook.ui.app import IncidentbookApp, make_app
from incidentbook.ui.screens.audit import AuditScreen
from incidentbook.ui.screens.health import HealthScreen
from incidentbook.ui.screens.incident import IncidentScreen
from incidentbook.ui.screens.search import SearchScreen
from incidentbook.ui.screens.triage import TriageScreen
from incidentbook.ui.words import outcome_text
from tests.support.app import settle
from tests.support.impact import impact_ledger, reconcile

SIZE = (140, 40)


async def test_j_k_g_G_move_in_tables_and_lists(app: IncidentbookApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        groups = app.screen.query_one("#groups", DataTable)
        groups.focus()
        await settle(pilot)
        assert (groups.row_count, groups.cursor_row) == (2, 0)
        await pilot.press("j")
        assert groups.cursor_row == 1
        await pilot.press("k")
        assert groups.cursor_row == 0
        await pilot.press("G")
        assert groups.cursor_row == 1
        await pilot.press("g")
        assert groups.cursor_row == 0
        await pilot.press("slash")
        await settle(pilot)
        await pilot.press(*"balance")
        await settle(pilot)
        results = app.screen.query_one("#search-results", OptionList)
        assert results.option_count >= 2
        results.focus()
        await pilot.press("j")
        assert results.highlighted == 1
        await pilot.press("k")
        assert results.highlighted == 0
        await pilot.press("G")
        assert results.highlighted == results.option_count - 1
        await pilot.press("g")
        assert results.highlighted == 0


async def test_enter_on_a_seen_before_item_opens_that_past_incident(
    app: IncidentbookApp, seeded_services: Services
) -> None:
    ctx = seeded_services.context("past", actor="user:ana")
    past = seeded_services.incidents.open(ctx, "balance_mismatch after webhook retries").incident
    seeded_services.incidents.resolve(ctx, past.id)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.screen.query_one("#groups", DataTable).focus()
        await settle(pilot)
        seen = app.screen.query_one("#triage-seen #seen-options", OptionList)
        ids = [seen.get_option_at_index(i).id for i in range(seen.option_count)]
        assert past.id in ids
        seen.focus()
        seen.highlighted = ids.index(past.id)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, IncidentScreen) and screen.incident_id == past.id
        await pilot.press("escape")
        assert isinstance(app.screen, TriageScreen)


async def test_slash_opens_search_from_every_screen_and_escape_comes_back(
    app: IncidentbookApp,
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        opened = [
            app.screen,  # Triage
            IncidentScreen("INC-0001"),
            HealthScreen(),
            AuditScreen(check="balance_mismatch"),
        ]
        for screen in opened:
            if screen is not app.screen:
                app.push_screen(screen)
                await settle(pilot)
            await pilot.press("slash")
            await settle(pilot)
            assert isinstance(app.screen, SearchScreen), screen
            await pilot.press("escape")
            await settle(pilot)
            assert app.screen is screen


async def test_the_palette_lists_every_command_once(app: IncidentbookApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for screen in (app.screen, IncidentScreen("INC-0001"), AuditScreen()):
            if screen is not app.screen:
                app.push_screen(screen)
                await settle(pilot)
            titles = [c.title for c in app.get_system_commands(app.screen)]
            assert titles.count("Quit") == 1
            assert len(titles) == len(set(titles)), titles


async def test_triage_footer_shows_search(app: IncidentbookApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        slash = app.screen.active_bindings["slash"].binding
        assert (slash.description, slash.key_display, slash.show) == ("Search", "/", True)


async def test_audit_keys_stay_in_the_footer_while_its_input_has_focus(
    app: IncidentbookApp,
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.push_screen(AuditScreen())
        await settle(pilot)
        screen = app.screen
        assert isinstance(app.focused, Input)
        shown = {a.binding.description for a in screen.active_bindings.values() if a.binding.show}
        assert {"Back", "Account", "Balance at", "Correlation trace", "Open trace entry"} <= shown
        await pilot.press("c")  # typed, not the trace
        assert screen.query_one("#audit-account", Input).value == "c"
        await pilot.press("ctrl+b")  # the footer's key for "Balance at" works from the input
        assert app.focused is screen.query_one("#audit-at", Input)


async def test_A_opens_the_affected_accounts_focused(services: Services) -> None:
    rows = impact_ledger()
    write_ledger(services.settings.ledger_url, rows)
    reconcile(services, services.settings.ledger_url)
    ctx = services.context("t")
    incident = services.alerts.acknowledge_group(ctx, "duplicate_posting").incident.id
    copies: dict[tuple[str, str | None, str, int], int] = {}
    for e in rows.entries:
        key = (e[1], e[7], e[4], e[2])
        copies[key] = copies.get(key, 0) + 1
    duplicated = {account for (account, *_), n in copies.items() if n >= 2}
    app = make_app(services.settings, services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.push_screen(IncidentScreen(incident))
        await settle(pilot)
        await pilot.press("A")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, AuditScreen) and screen.incident_id == incident
        affected = screen.query_one("#affected", DataTable)
        assert app.focused is affected
        assert {str(affected.get_row_at(i)[0]) for i in range(affected.row_count)} == duplicated
        await pilot.press("enter")  # the row under the cursor: the largest delta
        await settle(pilot)
        assert screen.audit is not None
        assert screen.audit.account_id == str(affected.get_row_at(0)[0])
        await pilot.press("escape")
        assert isinstance(app.screen, IncidentScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, TriageScreen)
        app.screen.query_one("#groups", DataTable).focus()
        await settle(pilot)
        await pilot.press("A")
        await settle(pilot)
        assert isinstance(app.screen, AuditScreen)
        assert app.focused is app.screen.query_one("#affected", DataTable)


async def test_empty_tables_say_why_and_what_to_do(app_settings: Settings, tmp_path: Path) -> None:
    app = make_app(app_settings)  # a fresh workspace: nothing firing, nothing open
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        for table, words in (
            ("groups", "No firing alert groups"),
            ("incidents", "No open incidents — a: acknowledge a group"),
        ):
            assert screen.query_one(f"#{table}", DataTable).row_count == 0
            empty = screen.query_one(f"#{table}-empty", Static)
            assert empty.display and words in str(empty.render())
        app.push_screen(AuditScreen(check="balance_mismatch"))
        await settle(pilot)
        empty = app.screen.query_one("#affected-empty", Static)
        assert empty.display and "No accounts with firing reconciler findings" in str(
            empty.render()
        )


async def test_messages_are_words_with_plurals_right(
    app: IncidentbookApp, seeded_services: Services
) -> None:
    ctx = seeded_services.context("t", actor="user:ana")
    outcome = seeded_services.incidents.set_severity(ctx, "INC-0001", "error")
    assert outcome_text(outcome) == "INC-0001: severity changed to error"
    assert "severity_changed" not in outcome_text(outcome)
    again = seeded_services.incidents.set_severity(ctx, "INC-0001", "error")
    assert outcome_text(again) == "INC-0001: severity is already error"
    notes = [
        e
        for e in seeded_services.incidents.timeline("INC-0001")
        if e.type == "incident.note_added"
    ]
    assert len(notes) == 1
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        detail = str(app.screen.query_one("#incident-detail", Static).render())
        assert "1 note" in detail.splitlines() and "1 notes" not in detail
