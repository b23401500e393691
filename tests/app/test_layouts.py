"""Layouts that hold at 80x24 and up (issue 14): the footer keeps Quit and Help on every
screen, Triage shows every group with its "Since", cut cells end with an ellipsis and the
detail pane shows them whole, the timeline's columns fit, the side panels never shrink to a
bare border."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import DataTable, Static

from incidentbook.services import Services
from incidentbook.settings import Settings
from incidentbook.ui.app import IncidentbookApp, make_app
from incidentbook.ui.screens.actions import ActionsScreen
from incidentbook.ui.screens.audit import AuditScreen
from incidentbook.ui.screens.editor import EditorScreen
from incidentbook.ui.screens.fix import FixScreen
from incidentbook.ui.screens.health import HealthScreen
from incidentbook.ui.screens.incident import IncidentScreen
from incidentbook.ui.screens.reconcile import reconcile_screen
from incidentbook.ui.screens.resolved import ResolvedScreen
from incidentbook.ui.screens.search import DocumentViewScreen, SearchScreen
from incidentbook.ui.widgets.runbook_panel import RunbookPanel
from tests.support.app import settle
from tests.support.app_seed import (
    CROWDED_GROUPS,
    LONG_GROUP,
    LONG_NOTE,
    LONG_TITLE,
    seed_crowded,
    seed_postmortem,
)

NARROW = (80, 24)

Opener = Callable[[IncidentbookApp], Awaitable[object]]


async def _stay(app: IncidentbookApp) -> None:
    """Triage, the home screen."""


def _push(make: Callable[[IncidentbookApp], object]) -> Opener:
    async def opener(app: IncidentbookApp) -> None:
        await app.push_screen(make(app))  # type: ignore[arg-type]

    return opener


def _first_incident(app: IncidentbookApp) -> str:
    return app.services.incidents.list_incidents()[0].id


def _document(app: IncidentbookApp) -> DocumentViewScreen:
    path = seed_postmortem(app.services)
    return DocumentViewScreen(path, "postmortem", app.settings.workspace)


def _editor(app: IncidentbookApp) -> EditorScreen:
    return EditorScreen(seed_postmortem(app.services))


SCREENS: dict[str, Opener] = {
    "triage": _stay,
    "incident": _push(lambda app: IncidentScreen(_first_incident(app))),
    "audit": _push(lambda app: AuditScreen(incident_id=_first_incident(app))),
    "search": _push(lambda app: SearchScreen("webhook")),
    "document": _push(_document),
    "editor": _push(_editor),
    "fix": _push(lambda app: FixScreen(_first_incident(app))),
    "health": _push(lambda app: HealthScreen()),
    "actions": _push(lambda app: ActionsScreen()),
    "resolved": _push(lambda app: ResolvedScreen()),
    "reconcile": _push(reconcile_screen),
}


def footer_keys(app: IncidentbookApp) -> tuple[list[Widget], Widget]:
    """The footer's keys, and the command palette's key docked at its right."""
    footer = app.screen.query_one("KeyFooter")
    keys = list(footer.query("FooterKey"))
    palette = next(k for k in keys if k.has_class("-command-palette"))
    return [k for k in keys if k is not palette], palette


@pytest.mark.parametrize("name", list(SCREENS))
async def test_the_footer_keeps_quit_and_help_whole_at_80x24(
    app: IncidentbookApp, name: str
) -> None:
    async with app.run_test(size=NARROW) as pilot:
        await settle(pilot)
        await SCREENS[name](app)
        await settle(pilot)
        keys, palette = footer_keys(app)
        shown = [str(getattr(k, "description", "")) for k in keys]
        assert "Quit" in shown and "Help" in shown, shown
        for key in keys:  # every key shown whole, none under the palette's key or cut off
            assert key.region.width > 0
            assert key.region.right <= palette.region.x, (name, shown)


async def _crowded(pilot: Pilot[None], services: Services) -> str:
    incident = seed_crowded(services)
    await settle(pilot)
    pilot.app.post_message(_refresh())
    await settle(pilot)
    return incident


def _refresh() -> object:
    from incidentbook.ui.messages import DataChanged

    return DataChanged("test")


def cells(table: DataTable[object], column: int) -> list[str]:
    return [str(table.get_row_at(r)[column]) for r in range(table.row_count)]


async def test_triage_at_80x24_shows_every_group_with_since(
    app_settings: Settings, tmp_path: Path
) -> None:
    app = make_app(app_settings)
    async with app.run_test(size=NARROW) as pilot:
        await _crowded(pilot, app.services)
        groups = app.screen.query_one("#groups", DataTable)
        labels = [str(c.label) for c in groups.columns.values()]
        assert labels == ["Group", "Since", "Impact", "Δ"]
        assert groups.row_count == len(CROWDED_GROUPS)
        assert groups.max_scroll_y == 0 and groups.max_scroll_x == 0  # all of it in view
        keys = cells(groups, 0)
        for key in keys:
            assert key in CROWDED_GROUPS or (
                key.endswith("…") and any(g.startswith(key[:-1]) for g in CROWDED_GROUPS)
            ), key
        assert {k for k in keys if not k.endswith("…")} <= set(CROWDED_GROUPS)
        # the long key is cut; with the cursor on it, the detail says it whole
        cut = next(r for r, k in enumerate(keys) if LONG_GROUP.startswith(k[:-1]))
        assert keys[cut].endswith("…") and keys[cut] != LONG_GROUP
        groups.focus()
        groups.move_cursor(row=cut)
        await settle(pilot)
        detail = str(app.screen.query_one("#triage-detail", Static).render())
        assert LONG_GROUP in detail


async def test_a_long_title_ends_with_an_ellipsis_and_the_detail_shows_it(
    app_settings: Settings,
) -> None:
    app = make_app(app_settings)
    async with app.run_test(size=NARROW) as pilot:
        incident = await _crowded(pilot, app.services)
        table = app.screen.query_one("#incidents", DataTable)
        assert table.max_scroll_x == 0
        row = cells(table, 0).index(incident)
        title = cells(table, 4)[row]
        assert title.endswith("…") and LONG_TITLE.startswith(title[:-1])
        table.focus()
        table.move_cursor(row=row)
        await settle(pilot)
        assert LONG_TITLE in str(app.screen.query_one("#triage-detail", Static).render())


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (160, 50), (180, 50), (200, 50)])
async def test_timeline_columns_fit_and_the_event_detail_shows_the_note_whole(
    app_settings: Settings, size: tuple[int, int]
) -> None:
    app = make_app(app_settings)
    async with app.run_test(size=size) as pilot:
        incident = await _crowded(pilot, app.services)
        await app.push_screen(IncidentScreen(incident))
        await settle(pilot)
        table = app.screen.query_one("#timeline", DataTable)
        assert table.max_scroll_x == 0  # no column off screen
        events = cells(table, 1)
        note = next(r for r, e in enumerate(events) if e.startswith("note"))
        assert events[note].endswith("…")  # the long note is cut to fit
        table.move_cursor(row=note)
        await settle(pilot)
        detail = " ".join(str(app.screen.query_one("#event-detail", Static).render()).split())
        assert LONG_NOTE in detail
        detail_widget = app.screen.query_one("#event-detail", Static)
        assert detail_widget.region.bottom <= app.screen.query_one("#incident-main").region.bottom


@pytest.mark.parametrize("size", [(80, 24), (100, 30)])
async def test_the_runbook_panel_keeps_lines_of_its_own(
    app: IncidentbookApp, size: tuple[int, int]
) -> None:
    """The issue's 100x30: the Incident's runbook panel shrank to its border."""
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        for opener in (_stay, SCREENS["incident"]):
            await opener(app)
            await settle(pilot)
            panel = app.screen.query_one(RunbookPanel)
            assert panel.size.height >= 6  # its border and four lines, at least


async def test_the_timeline_still_fits_after_the_terminal_shrinks(app_settings: Settings) -> None:
    """A refill for a narrower terminal: a DataTable's column keeps the widest width it had,
    so the columns are built anew for the new width."""
    app = make_app(app_settings)
    async with app.run_test(size=(200, 50)) as pilot:
        incident = await _crowded(pilot, app.services)
        await app.push_screen(IncidentScreen(incident))
        await settle(pilot)
        await pilot.resize_terminal(90, 30)
        await settle(pilot)
        table = app.screen.query_one("#timeline", DataTable)
        assert table.max_scroll_x == 0
