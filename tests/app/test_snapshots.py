"""Snapshot tests: each screen as the operator sees it (update with --snapshot-update)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import DataTable

from incidentbook.services import Services, make_services
from incidentbook.settings import Settings
from incidentbook.ui.app import IncidentbookApp, make_app
from incidentbook.ui.screens.audit import AuditScreen
from incidentbook.ui.screens.editor import EditorScreen
from incidentbook.ui.screens.fix import FixScreen
from incidentbook.ui.screens.incident import IncidentScreen
from incidentbook.ui.screens.reconcile import ReconcileProgress, reconcile_screen
from incidentbook.ui.screens.search import DocumentViewScreen, SearchScreen
from tests.support.app import settle
from tests.support.app_seed import seed_crowded, seed_postmortem
from tests.support.fixes import incident_with_findings, write_fix_ledger

SIZE = (130, 36)


@pytest.fixture(autouse=True)
def _no_search_timing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A search's time in milliseconds varies by run; the rest of its status line is shown."""
    monkeypatch.setattr(SearchScreen, "show_millis", False)


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


# Safety at 2 a.m. (issue 14): the questions before a state change, and the empty states.
SIZES = pytest.mark.parametrize("size", [NARROW, WIDE], ids=["80x24", "160x50"])


@SIZES
def test_acknowledge_dialog(snap_compare: Any, app: IncidentbookApp, size: tuple[int, int]) -> None:
    assert snap_compare(app, terminal_size=size, run_before=_then("a", focus="#groups"))


@SIZES
def test_reopen_dialog(
    snap_compare: Any, app: IncidentbookApp, seeded_services: Services, size: tuple[int, int]
) -> None:
    """A group whose incident was resolved while its alerts still fire: reopen, not a second
    incident."""
    ctx = seeded_services.context("fixed upstream", actor="user:ana")
    incident = seeded_services.alerts.acknowledge_group(ctx, "balance_mismatch").incident.id
    seeded_services.incidents.resolve(ctx, incident, force=True)
    assert snap_compare(app, terminal_size=size, run_before=_then("a", focus="#groups"))


@SIZES
def test_triage_empty(snap_compare: Any, app_settings: Settings, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(app_settings), terminal_size=size, run_before=_then())


@SIZES
def test_audit_empty(snap_compare: Any, app_settings: Settings, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)
        pilot.app.push_screen(AuditScreen(check="balance_mismatch"))
        await settle(pilot)

    assert snap_compare(make_app(app_settings), terminal_size=size, run_before=run_before)


# Health at a glance (issue 14): six full runs of a fix rolling out, overdue items.
def test_health_80x24(snap_compare: Any, health_app: IncidentbookApp) -> None:
    assert snap_compare(health_app, terminal_size=NARROW, run_before=_then("H"))


def test_health_160x50(snap_compare: Any, health_app: IncidentbookApp) -> None:
    assert snap_compare(health_app, terminal_size=WIDE, run_before=_then("H"))


def test_health_never_reconciled_80x24(snap_compare: Any, app: IncidentbookApp) -> None:
    assert snap_compare(app, terminal_size=NARROW, run_before=_then("H"))


# The CLI's jobs in the app (issue 14): the new screens and the pre-mortem dialog.


def _with_postmortem(app: IncidentbookApp, *keys: str) -> Callable[[Pilot[None]], Awaitable[None]]:
    async def run_before(pilot: Pilot[None]) -> None:
        seed_postmortem(app.services)
        await _then(*keys)(pilot)

    return run_before


def _resolved_then(app: IncidentbookApp, *keys: str) -> Callable[[Pilot[None]], Awaitable[None]]:
    async def run_before(pilot: Pilot[None]) -> None:
        services = app.services
        second = services.incidents.list_incidents()[1].id
        services.incidents.resolve(services.context("rolled back"), second, force=True)
        await _then(*keys)(pilot)

    return run_before


async def _reconcile_mid_run(pilot: Pilot[None]) -> None:
    """The Reconcile screen part-way through a run (progress as the worker reports it)."""
    await settle(pilot)
    screen = reconcile_screen(pilot.app)
    await pilot.app.push_screen(screen)
    await settle(pilot)
    for phase, done, total in (("plan", 1, 1), ("scan", 3, 8)):
        screen.post_message(ReconcileProgress(phase, done, total))
    await settle(pilot)


@pytest.mark.parametrize("size", [NARROW, WIDE], ids=["80x24", "160x50"])
def test_action_items_screen(
    snap_compare: Any, app: IncidentbookApp, size: tuple[int, int]
) -> None:
    assert snap_compare(app, terminal_size=size, run_before=_with_postmortem(app, "I"))


@pytest.mark.parametrize("size", [NARROW, WIDE], ids=["80x24", "160x50"])
def test_action_items_empty(snap_compare: Any, app: IncidentbookApp, size: tuple[int, int]) -> None:
    assert snap_compare(app, terminal_size=size, run_before=_then("I"))


@pytest.mark.parametrize("size", [NARROW, WIDE], ids=["80x24", "160x50"])
def test_resolved_screen(snap_compare: Any, app: IncidentbookApp, size: tuple[int, int]) -> None:
    assert snap_compare(app, terminal_size=size, run_before=_resolved_then(app, "L"))


@pytest.mark.parametrize("size", [NARROW, WIDE], ids=["80x24", "160x50"])
def test_resolved_empty(snap_compare: Any, app: IncidentbookApp, size: tuple[int, int]) -> None:
    assert snap_compare(app, terminal_size=size, run_before=_then("L"))


@pytest.mark.parametrize("size", [NARROW, WIDE], ids=["80x24", "160x50"])
def test_premortem_dialog(snap_compare: Any, app: IncidentbookApp, size: tuple[int, int]) -> None:
    assert snap_compare(app, terminal_size=size, run_before=_then("P", *"Webhooks v2"))


@pytest.mark.parametrize("size", [NARROW, WIDE], ids=["80x24", "160x50"])
def test_reconcile_screen(snap_compare: Any, app: IncidentbookApp, size: tuple[int, int]) -> None:
    assert snap_compare(app, terminal_size=size, run_before=_reconcile_mid_run)


# Layouts at 80x24 and 160x50 (issue 14): every screen and dialog not covered above at both
# sizes, and the crowded night (cut cells, a long note) on Triage and the Incident screen.


def _push(make: Callable[[IncidentbookApp], Screen[Any]], *keys: str) -> Callable[
    [Pilot[None]], Awaitable[None]
]:
    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)
        app = pilot.app
        assert isinstance(app, IncidentbookApp)
        await app.push_screen(make(app))
        await _then(*keys)(pilot)

    return run_before


def _first(app: IncidentbookApp) -> str:
    return app.services.incidents.list_incidents()[0].id


@SIZES
def test_triage_seeded(snap_compare: Any, app: IncidentbookApp, size: tuple[int, int]) -> None:
    assert snap_compare(app, terminal_size=size, run_before=_then())


@SIZES
def test_triage_crowded(
    snap_compare: Any, app_settings: Settings, size: tuple[int, int]
) -> None:
    seed_crowded(make_services(app_settings))
    assert snap_compare(make_app(app_settings), terminal_size=size, run_before=_then())


@SIZES
def test_incident_crowded(
    snap_compare: Any, app_settings: Settings, size: tuple[int, int]
) -> None:
    """The long note's row highlighted: cut in the table, whole in the event detail."""
    incident = seed_crowded(make_services(app_settings))
    assert snap_compare(
        make_app(app_settings),
        terminal_size=size,
        run_before=_push(lambda _app: IncidentScreen(incident)),
    )


@SIZES
def test_incident_screen_seeded(
    snap_compare: Any, app: IncidentbookApp, size: tuple[int, int]
) -> None:
    assert snap_compare(app, terminal_size=size, run_before=_then("enter"))


@SIZES
def test_help_dialog(snap_compare: Any, app: IncidentbookApp, size: tuple[int, int]) -> None:
    assert snap_compare(app, terminal_size=size, run_before=_then("question_mark"))


@SIZES
def test_new_incident_dialog_sizes(
    snap_compare: Any, app: IncidentbookApp, size: tuple[int, int]
) -> None:
    assert snap_compare(app, terminal_size=size, run_before=_then("n"))


@SIZES
def test_severity_dialog_sizes(
    snap_compare: Any, app: IncidentbookApp, size: tuple[int, int]
) -> None:
    assert snap_compare(app, terminal_size=size, run_before=_then("enter", "s"))


@SIZES
def test_resolve_dialog(snap_compare: Any, app: IncidentbookApp, size: tuple[int, int]) -> None:
    assert snap_compare(app, terminal_size=size, run_before=_then("enter", "r"))


@SIZES
def test_confirm_dialog_reopen_incident(
    snap_compare: Any, app: IncidentbookApp, seeded_services: Services, size: tuple[int, int]
) -> None:
    """The Incident screen's o on a resolved incident: a ConfirmDialog."""
    second = seeded_services.incidents.list_incidents()[1].id
    seeded_services.incidents.resolve(seeded_services.context("rolled back"), second, force=True)
    assert snap_compare(
        app, terminal_size=size, run_before=_push(lambda _app: IncidentScreen(second), "o")
    )


@SIZES
def test_audit_screen_for_a_group(
    snap_compare: Any, app: IncidentbookApp, size: tuple[int, int]
) -> None:
    assert snap_compare(app, terminal_size=size, run_before=_then("A", focus="#groups"))


@SIZES
def test_search_screen(snap_compare: Any, app: IncidentbookApp, size: tuple[int, int]) -> None:
    assert snap_compare(app, terminal_size=size, run_before=_then("slash", *"fee"))


@SIZES
def test_search_no_results(
    snap_compare: Any, app: IncidentbookApp, size: tuple[int, int]
) -> None:
    assert snap_compare(app, terminal_size=size, run_before=_then("slash", *"zebra"))


@SIZES
def test_search_empty_query(
    snap_compare: Any, app: IncidentbookApp, size: tuple[int, int]
) -> None:
    assert snap_compare(app, terminal_size=size, run_before=_then("slash"))


@SIZES
def test_document_viewer(
    snap_compare: Any, fixed_app: IncidentbookApp, size: tuple[int, int]
) -> None:
    def viewer(app: IncidentbookApp) -> Screen[Any]:
        path = seed_postmortem(app.services)
        return DocumentViewScreen(path, "postmortem", app.settings.workspace)

    assert snap_compare(fixed_app, terminal_size=size, run_before=_push(viewer))


# The editor shows the source, front matter included: a postmortem that ``postmortem new``
# writes records the event chain's head, a hash of events with fresh ids on every run, so the
# editor's snapshot edits a document written here instead.
EDITED = """---
id: PM-0001
kind: postmortem
incident: INC-0001
title: 'Postmortem: Duplicate postings from processor webhooks'
status: draft
severity: critical
authors: [ana]
created: '2026-10-17'
---
# Postmortem: Duplicate postings from processor webhooks

## Summary

The retry path of the processor webhook handler posted without an idempotency check.

## Action items

- [ ] prevent: Idempotency key on the retry path (ana, 2026-10-01)
"""


@SIZES
def test_editor_screen(
    snap_compare: Any, fixed_app: IncidentbookApp, size: tuple[int, int]
) -> None:
    def editor(app: IncidentbookApp) -> Screen[Any]:
        path = app.settings.workspace / "postmortems" / "INC-0001-duplicate-postings.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(EDITED, encoding="utf-8")
        return EditorScreen(path)

    assert snap_compare(fixed_app, terminal_size=size, run_before=_push(editor))


@SIZES
def test_fix_screen_without_a_ledger(
    snap_compare: Any, fixed_app: IncidentbookApp, size: tuple[int, int]
) -> None:
    """No ledger database yet: the Fix screen says so and how to get one (its empty state;
    the error names the workspace's path, so the workspace's is fixed)."""
    assert snap_compare(
        fixed_app, terminal_size=size, run_before=_push(lambda a: FixScreen(_first(a)))
    )


@SIZES
def test_fix_screen_with_a_plan(
    snap_compare: Any, fixed_app_settings: Settings, size: tuple[int, int]
) -> None:
    """The Fix screen of an incident whose findings the hand-made ledger holds: the plan, its
    accounts before and after, what needs a human (the workspace's path is fixed: the ledger
    URL is shown)."""
    services = make_services(fixed_app_settings)
    url = write_fix_ledger(Path(fixed_app_settings.ledger_url.removeprefix("sqlite:///")))
    incident_id = incident_with_findings(services, url)
    app = make_app(fixed_app_settings, services)
    assert snap_compare(
        app, terminal_size=size, run_before=_push(lambda a: FixScreen(incident_id))
    )

def test_health_never_reconciled_160x50(snap_compare: Any, app: IncidentbookApp) -> None:
    assert snap_compare(app, terminal_size=WIDE, run_before=_then("H"))
