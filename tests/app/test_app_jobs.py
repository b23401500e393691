"""The CLI's jobs in the app, under Pilot, checked by their effects on disk and in the state
database: HTML export and block refresh in the editor, a new pre-mortem, the action items
(overdue filter, ticking one done), resolved incidents, reconcile now; each once in the
palette."""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path

import pytest
from textual.widgets import DataTable, ProgressBar, Static, TextArea

from incidentbook.core.documents.export import export_html
from incidentbook.errors import UsageError
from incidentbook.services import Services
from incidentbook.testing.synth import write_ledger
from incidentbook.ui.app import IncidentbookApp
from incidentbook.ui.screens.actions import ActionsScreen
from incidentbook.ui.screens.editor import EditorScreen
from incidentbook.ui.screens.incident import IncidentScreen
from incidentbook.ui.screens.reconcile import ReconcileScreen
from incidentbook.ui.screens.resolved import ResolvedScreen
from tests.support.app import record_notifications, settle
from tests.support.app_seed import LATER_ITEM, OVERDUE_ITEM, seed_postmortem
from tests.support.ledgers import rows

SIZE = (140, 40)


def _state_db(services: Services) -> sqlite3.Connection:
    return sqlite3.connect(services.settings.db_path)


async def _editor(app: IncidentbookApp, pilot, path: Path) -> EditorScreen:  # type: ignore[no-untyped-def]
    await settle(pilot)
    screen = EditorScreen(path)
    await app.push_screen(screen)
    await settle(pilot)
    return screen


# -- the editor: export and refresh ----------------------------------------------------------


async def test_f9_exports_the_document_to_html_beside_it(
    app: IncidentbookApp, seeded_services: Services
) -> None:
    path = seed_postmortem(seeded_services)
    title = "Postmortem: Duplicate postings from processor webhooks"
    assert f"title: '{title}'" in path.read_text() or f"title: {title}" in path.read_text()
    async with app.run_test(size=SIZE) as pilot:
        notes = record_notifications(app)
        await _editor(app, pilot, path)
        await pilot.press("f9")
        await settle(pilot)
        html = path.with_suffix(".html")
        assert html.is_file()
        page = html.read_text(encoding="utf-8")
        assert f"<title>{title}</title>" in page
        assert "Idempotency key on the retry path" in page
        assert f"exported postmortems/{html.name}" in notes


async def test_export_waits_for_unsaved_edits(
    app: IncidentbookApp, seeded_services: Services
) -> None:
    path = seed_postmortem(seeded_services)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _editor(app, pilot, path)
        screen.query_one("#editor-source", TextArea).insert("unsaved words\n", (0, 0))
        await settle(pilot)
        await pilot.press("f9")
        await settle(pilot)
        assert not path.with_suffix(".html").exists()


def test_export_refuses_to_overwrite_the_document(seeded_services: Services) -> None:
    path = seed_postmortem(seeded_services)
    before = path.read_bytes()
    with pytest.raises(UsageError, match="over itself"):
        export_html(seeded_services.settings, path, path.parent / "." / path.name)
    assert path.read_bytes() == before


async def test_f5_refreshes_the_generated_blocks_and_keeps_hand_edits(
    app: IncidentbookApp, seeded_services: Services
) -> None:
    path = seed_postmortem(seeded_services)
    incident = seeded_services.incidents.list_incidents()[0].id
    note = "Processor confirmed the retry storm at 02:40"
    assert note not in path.read_text()
    async with app.run_test(size=SIZE) as pilot:
        notes = record_notifications(app)
        screen = await _editor(app, pilot, path)
        seeded_services.incidents.add_note(seeded_services.context(), incident, note)
        await pilot.press("f5")
        await settle(pilot)
        text = path.read_text(encoding="utf-8")
        assert note in text  # the generated blocks re-rendered with the new note
        assert f"- [ ] {OVERDUE_ITEM}" in text and f"- [ ] {LATER_ITEM}" in text  # hand edits kept
        assert screen.query_one("#editor-source", TextArea).text == text
        assert not screen.dirty
        assert any(n.startswith("refreshed ") and path.name in n for n in notes)


# -- a new pre-mortem --------------------------------------------------------------------------


async def test_P_starts_a_premortem_and_opens_it(
    app: IncidentbookApp, seeded_services: Services
) -> None:
    folder = seeded_services.settings.postmortems_dir
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("P")
        await settle(pilot)
        await pilot.press(*"Webhooks v2")
        await pilot.press("tab", *"webhooks, ledger", "tab", *"retries")
        await pilot.press("enter")
        await settle(pilot)
        files = sorted(folder.glob("PRE-*.md"))
        assert [f.name for f in files] == ["PRE-0001-webhooks-v2.md"]
        text = files[0].read_text(encoding="utf-8")
        assert "kind: premortem" in text and "Webhooks v2" in text
        assert "webhooks" in text and "ledger" in text and "retries" in text
        assert isinstance(app.screen, EditorScreen) and app.screen.path == files[0]
        with _state_db(seeded_services) as db:
            assert db.execute(
                "SELECT kind, title FROM documents WHERE id = 'PRE-0001'"
            ).fetchall() == [("premortem", "Webhooks v2")]


async def test_a_premortem_without_a_title_is_not_started(
    app: IncidentbookApp, seeded_services: Services
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("P", "enter")
        await settle(pilot)
        assert "needs a title" in str(app.screen.query_one("#premortem-error", Static).render())
        await pilot.press("escape")
        await settle(pilot)
        assert not list(seeded_services.settings.postmortems_dir.glob("PRE-*.md"))


# -- action items ------------------------------------------------------------------------------


def _keys_in_table(table: DataTable) -> list[str]:  # type: ignore[type-arg]
    return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]


async def test_action_items_filter_overdue_tick_done_and_open_the_document(
    app: IncidentbookApp, seeded_services: Services
) -> None:
    path = seed_postmortem(seeded_services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("I")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ActionsScreen)
        table = screen.query_one("#actions-table", DataTable)
        cells = [table.get_row_at(i) for i in range(table.row_count)]
        texts = {str(c[5]): str(c[1]) for c in cells}
        assert texts == {
            "Idempotency key on the retry path": "OVERDUE",
            "Page the ledger team on duplicates": "open",
        }

        await pilot.press("o")
        await settle(pilot)
        assert [str(table.get_row_at(i)[5]) for i in range(table.row_count)] == [
            "Idempotency key on the retry path"
        ]
        key = _keys_in_table(table)[0]

        await pilot.press("x")
        await settle(pilot)
        text = path.read_text(encoding="utf-8")
        assert f"- [x] {OVERDUE_ITEM}" in text and f"- [ ] {LATER_ITEM}" in text
        with _state_db(seeded_services) as db:
            assert db.execute(
                "SELECT status FROM action_items WHERE key = ?", (key,)
            ).fetchall() == [("done",)]
            assert db.execute(
                "SELECT actor FROM events WHERE stream = ? AND type = 'action.done'",
                (f"action:{key}",),
            ).fetchall() == [("user:ana",)]
        assert table.row_count == 0  # nothing overdue any more
        assert "No overdue action items" in str(
            screen.query_one("#actions-status", Static).render()
        )

        await pilot.press("o")
        await settle(pilot)
        assert table.row_count == 2
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, EditorScreen)
        assert app.screen.path.resolve() == path.resolve()


async def test_an_item_ticked_twice_records_one_done(
    app: IncidentbookApp, seeded_services: Services
) -> None:
    seed_postmortem(seeded_services)
    async with app.run_test(size=SIZE) as pilot:
        notes = record_notifications(app)
        await settle(pilot)
        await pilot.press("I")
        await settle(pilot)
        table = app.screen.query_one("#actions-table", DataTable)
        key = _keys_in_table(table)[0]
        await pilot.press("x")
        await settle(pilot)
        keys = _keys_in_table(table)
        assert keys[-1] == key  # done sorts after open
        table.move_cursor(row=len(keys) - 1)
        await pilot.press("x")
        await settle(pilot)
        assert f"{key} is already done" in notes
        # and through the service too: ticking a done item records nothing
        report = seeded_services.documents.set_action_done(seeded_services.context(), key)
        assert not report.changed
        with _state_db(seeded_services) as db:
            done = db.execute("SELECT count(*) FROM events WHERE type = 'action.done'").fetchone()
        assert done == (1,)
        assert f"{key} done, ticked in its document" in notes


# -- resolved incidents ------------------------------------------------------------------------


async def test_resolved_incidents_are_listed_and_open(
    app: IncidentbookApp, seeded_services: Services
) -> None:
    second = seeded_services.incidents.list_incidents()[1].id
    ctx = seeded_services.context("fixed by the fee job rollback")
    seeded_services.incidents.resolve(ctx, second, force=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("L")
        await settle(pilot)
        assert isinstance(app.screen, ResolvedScreen)
        table = app.screen.query_one("#resolved-table", DataTable)
        assert _keys_in_table(table) == [second]
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, IncidentScreen) and app.screen.incident_id == second


# -- reconcile now -----------------------------------------------------------------------------


async def test_R_reconciles_in_a_worker_and_its_findings_fire(
    app: IncidentbookApp, seeded_services: Services
) -> None:
    write_ledger(seeded_services.settings.ledger_url, rows())  # acc_1 off by 5, a ghost entry
    async with app.run_test(size=SIZE) as pilot:
        notes = record_notifications(app)
        await settle(pilot)
        await pilot.press("R")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ReconcileScreen) and not screen.running
        with _state_db(seeded_services) as db:
            runs = db.execute("SELECT run_id, status, mode FROM reconcile_runs").fetchall()
            assert [(s, m) for _r, s, m in runs] == [("complete", "full")]
            run_id = runs[0][0]
            found = set(
                db.execute(
                    "SELECT fingerprint, check_name, account_id FROM reconcile_findings"
                    " WHERE run_id = ?",
                    (run_id,),
                ).fetchall()
            )
            firing = set(
                db.execute(
                    "SELECT fingerprint FROM alerts WHERE source = 'reconciler'"
                    " AND status = 'firing'"
                ).fetchall()
            )
        assert {(c, a) for _f, c, a in found} >= {("balance_mismatch", "acc_1")}
        assert any(a == "ghost" for _f, _c, a in found)
        assert {(f,) for f, _c, _a in found} <= firing
        bar = screen.query_one("#reconcile-bar", ProgressBar)
        assert bar.total is not None and bar.progress == bar.total
        assert screen.phases  # the progress messages arrived, phase by phase
        assert f"run {run_id} [full]" in str(screen.query_one("#reconcile-log", Static).render())
        assert f"reconcile run {run_id}: {len(found)} findings (firing as alerts)" in notes

        # A second run asked for while one is going is not started twice.
        await pilot.press("escape")
        await settle(pilot)
        assert screen.start()
        app.action_reconcile()
        await settle(pilot)
        assert any(n.startswith("a reconcile run is going") for n in notes)
        with _state_db(seeded_services) as db:
            assert db.execute("SELECT count(*) FROM reconcile_runs").fetchone() == (2,)


# -- the palette -------------------------------------------------------------------------------

NEW_COMMANDS = {"Reconcile now", "New pre-mortem", "Action items", "Resolved incidents"}


def _palette_names(app: IncidentbookApp) -> list[str]:
    return [c.title for c in app.get_system_commands(app.screen)]


async def test_every_palette_entry_is_listed_once_on_every_new_screen(
    app: IncidentbookApp, seeded_services: Services
) -> None:
    path = seed_postmortem(seeded_services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        names = _palette_names(app)
        assert [n for n, count in Counter(names).items() if count > 1] == []
        assert set(names) >= NEW_COMMANDS
        for key in ("I", "L"):
            await pilot.press(key)
            await settle(pilot)
            names = _palette_names(app)
            assert [n for n, count in Counter(names).items() if count > 1] == []
            await pilot.press("escape")
            await settle(pilot)
        await _editor(app, pilot, path)
        names = _palette_names(app)
        assert [n for n, count in Counter(names).items() if count > 1] == []
        assert {"Export HTML", "Refresh blocks"} <= set(names)
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("I")
        await settle(pilot)
        assert {"Overdue", "Done", "Open document"} <= set(_palette_names(app))


async def test_the_palette_runs_reconcile_now(
    app: IncidentbookApp, seeded_services: Services
) -> None:
    write_ledger(seeded_services.settings.ledger_url, rows())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Reconcile now")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ReconcileScreen)
        with _state_db(seeded_services) as db:
            assert db.execute("SELECT status FROM reconcile_runs").fetchall() == [("complete",)]
