"""Snapshot tests: each screen as the operator sees it (update with --snapshot-update)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from textual.pilot import Pilot
from textual.widgets import DataTable

from incidentbook.ui.app import IncidentbookApp
from tests.support.app import settle

SIZE = (130, 36)


def _then(*keys: str, focus: str | None = None) -> Callable[[Pilot[None]], Awaitable[None]]:
    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)
        if focus:
            pilot.app.screen.query_one(focus, DataTable).focus()
            await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return run_before


def test_triage_screen(snap_compare: Any, app: IncidentbookApp) -> None:
    assert snap_compare(app, terminal_size=SIZE, run_before=_then())


def test_triage_with_a_group_selected(snap_compare: Any, app: IncidentbookApp) -> None:
    assert snap_compare(app, terminal_size=SIZE, run_before=_then(focus="#groups"))


def test_incident_screen(snap_compare: Any, app: IncidentbookApp) -> None:
    assert snap_compare(app, terminal_size=SIZE, run_before=_then("enter"))


def test_help_screen(snap_compare: Any, app: IncidentbookApp) -> None:
    assert snap_compare(app, terminal_size=SIZE, run_before=_then("question_mark"))


def test_health_screen(snap_compare: Any, app: IncidentbookApp) -> None:
    assert snap_compare(app, terminal_size=SIZE, run_before=_then("H"))


def test_new_incident_dialog(snap_compare: Any, app: IncidentbookApp) -> None:
    assert snap_compare(app, terminal_size=SIZE, run_before=_then("n"))


def test_severity_dialog(snap_compare: Any, app: IncidentbookApp) -> None:
    assert snap_compare(app, terminal_size=SIZE, run_before=_then("enter", "s"))


# A group's impact (issue 12): a reconciler group joined to INC-0001, Berlin time.
NARROW, WIDE = (80, 24), (160, 50)


def test_triage_impact_80x24(snap_compare: Any, impact_app: IncidentbookApp) -> None:
    assert snap_compare(impact_app, terminal_size=NARROW, run_before=_then(focus="#groups"))


def test_triage_impact_160x50(snap_compare: Any, impact_app: IncidentbookApp) -> None:
    assert snap_compare(impact_app, terminal_size=WIDE, run_before=_then(focus="#groups"))


def test_incident_impact_80x24(snap_compare: Any, impact_app: IncidentbookApp) -> None:
    assert snap_compare(impact_app, terminal_size=NARROW, run_before=_then("enter"))


def test_incident_impact_160x50(snap_compare: Any, impact_app: IncidentbookApp) -> None:
    assert snap_compare(impact_app, terminal_size=WIDE, run_before=_then("enter"))


# Health at a glance (issue 14): six full runs of a fix rolling out, overdue items.
def test_health_80x24(snap_compare: Any, health_app: IncidentbookApp) -> None:
    assert snap_compare(health_app, terminal_size=NARROW, run_before=_then("H"))


def test_health_160x50(snap_compare: Any, health_app: IncidentbookApp) -> None:
    assert snap_compare(health_app, terminal_size=WIDE, run_before=_then("H"))


def test_health_never_reconciled_80x24(snap_compare: Any, app: IncidentbookApp) -> None:
    assert snap_compare(app, terminal_size=NARROW, run_before=_then("H"))
