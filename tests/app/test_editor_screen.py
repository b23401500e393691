"""The Document editor under Pilot: preview, lint that jumps, save, disk changes, $EDITOR."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import pytest
from textual.widgets import DataTable, TextArea

from incidentbook.core.documents import actions as act
from incidentbook.core.documents.model import ACTION_PREFIX
from incidentbook.core.documents.store import list_actions
from incidentbook.core.events.store import events_by_prefix
from incidentbook.services import Services
from incidentbook.ui.app import IncidentbookApp
from incidentbook.ui.screens.editor import EditorScreen, start_postmortem
from incidentbook.ui.widgets.document_view import DocumentView
from tests.support.app import settle
from tests.support.painted import painted_text

SIZE = (140, 40)


def _document(services: Services) -> Path:
    incident = services.incidents.list_incidents()[0]
    path = services.postmortems.new(incident.id)
    text = path.read_text(encoding="utf-8")
    text = text.replace(
        "## What went well\n",
        "## What went well\n\nThe reconciler found it. Bob broke the deploy.\n",
    )
    text = text.replace(
        "## Action items\n",
        "## Action items\n\n- [ ] prevent: Idempotency key on the retry path (ana, 2026-12-01)\n",
    )
    path.write_text(text, encoding="utf-8")
    return path


async def _open(app: IncidentbookApp, pilot, path: Path) -> EditorScreen:  # type: ignore[no-untyped-def]
    await settle(pilot)
    screen = EditorScreen(path)
    await app.push_screen(screen)
    await settle(pilot)
    return screen


def _findings(screen: EditorScreen) -> list[tuple[int, str]]:
    return [(f.line, f.rule) for f in screen.findings]


async def test_loads_previews_lints_and_jumps_to_the_line(
    app: IncidentbookApp, seeded_services: Services
) -> None:
    path = _document(seeded_services)
    text = path.read_text(encoding="utf-8")
    blame_line = text.split("\n").index("The reconciler found it. Bob broke the deploy.") + 1
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open(app, pilot, path)
        area = screen.query_one("#editor-source", TextArea)
        assert area.text == text
        assert area.language == "markdown"
        preview = screen.query_one("#editor-preview", DocumentView)
        assert "# Postmortem: Duplicate postings" in preview.source
        shown = painted_text(preview)
        assert "Postmortem: Duplicate postings" in shown
        assert "incidentbook:begin" not in shown  # comments are not previewed
        assert (blame_line, "person-as-cause") in _findings(screen)
        table = screen.query_one("#findings", DataTable)
        assert table.row_count == len(screen.findings)

        index = next(i for i, f in enumerate(screen.findings) if f.rule == "person-as-cause")
        await pilot.press("ctrl+l")
        assert table.has_focus
        table.move_cursor(row=index)
        await pilot.press("enter")
        await settle(pilot)
        assert area.has_focus
        assert area.cursor_location == (blame_line - 1, len("The reconciler found it. "))

        # f8 walks the findings from the cursor down, wrapping around.
        area.move_cursor((0, 0))
        await pilot.press("f8")
        assert area.cursor_location[0] + 1 == min(f.line for f in screen.findings)
        for _ in range(len({f.line for f in screen.findings})):  # one lap of distinct lines
            await pilot.press("f8")
        assert area.cursor_location[0] + 1 == min(f.line for f in screen.findings)


async def test_typing_updates_preview_and_lint_live(
    app: IncidentbookApp, seeded_services: Services
) -> None:
    path = _document(seeded_services)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open(app, pilot, path)
        area = screen.query_one("#editor-source", TextArea)
        assert not any(f.rule == "hindsight" for f in screen.findings)
        area.move_cursor((area.document.line_count - 1, 0))
        area.insert("\nWe should have paged sooner.\n")
        await pilot.pause(0.4)  # the preview is debounced; then lint runs in a worker
        await settle(pilot)
        line = area.text.split("\n").index("We should have paged sooner.") + 1
        assert (line, "hindsight") in _findings(screen)
        assert (
            "We should have paged sooner."
            in screen.query_one("#editor-preview", DocumentView).source
        )
        assert screen.dirty
        assert path.read_text(encoding="utf-8") != area.text  # not saved yet


async def test_ctrl_s_saves_and_a_ticked_box_closes_the_item(
    app: IncidentbookApp, seeded_services: Services
) -> None:
    path = _document(seeded_services)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open(app, pilot, path)
        area = screen.query_one("#editor-source", TextArea)
        # Saving once records the item as open.
        await pilot.press("ctrl+s")
        await settle(pilot)
        (item,) = list_actions(seeded_services.db)
        assert item.status == "open"
        line = area.text.split("\n").index(
            "- [ ] prevent: Idempotency key on the retry path (ana, 2026-12-01)"
        )
        area.load_text(act.set_checked(area.text, line + 1, True))
        assert screen.dirty
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert not screen.dirty
        assert path.read_text(encoding="utf-8") == area.text
        (item,) = list_actions(seeded_services.db)
        assert item.status == "done"
        with seeded_services.db.read() as session:
            done = events_by_prefix(session, ACTION_PREFIX)[-1]
        assert (done.type, done.actor, done.reason) == (
            "action.done",
            "user:ana",
            "saved in the editor",
        )
        assert list(path.parent.glob(".*.tmp")) == []


async def test_a_file_changed_on_disk_is_picked_up(
    app: IncidentbookApp, seeded_services: Services
) -> None:
    path = _document(seeded_services)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open(app, pilot, path)
        area = screen.query_one("#editor-source", TextArea)
        changed = path.read_text(encoding="utf-8").replace(
            "The reconciler found it. Bob broke the deploy.",
            "The reconciler found it within the hour.",
        )
        path.write_text(changed, encoding="utf-8")
        screen.mtime_ns = 0  # as if the poll saw an older time (no sleeping for mtime ticks)
        screen.check_disk()
        await settle(pilot)
        assert area.text == changed
        assert not screen.dirty
        assert not any(f.rule == "person-as-cause" for f in screen.findings)


async def test_unsaved_edits_are_not_overwritten_by_a_disk_change(
    app: IncidentbookApp, seeded_services: Services
) -> None:
    path = _document(seeded_services)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open(app, pilot, path)
        area = screen.query_one("#editor-source", TextArea)
        area.move_cursor((0, 0))
        area.insert("<!-- my unsaved words -->\n")
        path.write_text("---\nid: X\n---\nsomeone else\n", encoding="utf-8")
        screen.mtime_ns = 0
        screen.check_disk()
        await settle(pilot)
        assert area.text.startswith("<!-- my unsaved words -->")
        assert screen.dirty
        # Escape once warns; twice leaves without saving.
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is not screen
        assert path.read_text(encoding="utf-8") == "---\nid: X\n---\nsomeone else\n"


async def test_external_editor_runs_suspended_and_the_result_is_loaded(
    app: IncidentbookApp,
    seeded_services: Services,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    path = _document(seeded_services)
    script = tmp_path / "fake-editor.py"
    script.write_text(
        "import sys, pathlib\n"
        "p = pathlib.Path(sys.argv[1])\n"
        "p.write_text(p.read_text().replace('- [ ] prevent', '- [x] prevent'))\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("EDITOR", f"{sys.executable} {script}")
    monkeypatch.delenv("VISUAL", raising=False)
    async with app.run_test(size=SIZE) as pilot:
        suspended: list[bool] = []

        @contextlib.contextmanager
        def fake_suspend():  # type: ignore[no-untyped-def]
            # Headless tests have no terminal to hand over; the real call is the same shape.
            suspended.append(True)
            yield

        monkeypatch.setattr(app, "suspend", fake_suspend)
        screen = await _open(app, pilot, path)
        await pilot.press("ctrl+o")
        await settle(pilot)
        assert suspended == [True]
        area = screen.query_one("#editor-source", TextArea)
        assert "- [x] prevent: Idempotency key on the retry path" in area.text
        assert area.text == path.read_text(encoding="utf-8")
        await settle(pilot)
        (item,) = list_actions(seeded_services.db)
        assert item.status == "done"


async def test_one_key_from_an_incident_starts_its_postmortem(
    app: IncidentbookApp, seeded_services: Services
) -> None:
    incident = seeded_services.incidents.list_incidents()[0]
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        start_postmortem(app.screen, incident.id)  # type: ignore[arg-type]
        await settle(pilot)
        assert isinstance(app.screen, EditorScreen)
        first = app.screen.path
        assert first.name.startswith(incident.id)
        assert "## Timeline" in app.screen.query_one("#editor-source", TextArea).text
        # Again: the same file opens; nothing is created twice.
        await pilot.press("escape")
        await settle(pilot)
        start_postmortem(app.screen, incident.id)  # type: ignore[arg-type]
        await settle(pilot)
        assert isinstance(app.screen, EditorScreen) and app.screen.path == first
        assert len(list(first.parent.glob("*.md"))) == 1


async def test_palette_lists_the_editor_commands(
    app: IncidentbookApp, seeded_services: Services
) -> None:
    path = _document(seeded_services)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open(app, pilot, path)
        titles = {c.title for c in app.get_system_commands(screen)}
        assert {"Save", "$EDITOR", "Findings", "Next finding", "Preview", "Reload file"} <= titles


async def test_p_on_a_resolved_incident_opens_its_postmortem_and_shows_foreseen_risks(
    app: IncidentbookApp, seeded_services: Services
) -> None:
    from textual.widgets import Static

    from incidentbook.ui.screens.incident import IncidentScreen

    folder = seeded_services.settings.postmortems_dir
    (folder / "PRE-0003-launch-webhooks-v2.md").write_text(
        "---\nid: PRE-0003\nkind: premortem\ntitle: 'Launch: webhooks v2'\n"
        "services: [webhooks]\n---\n# Pre-mortem\n\n## Failure modes\n\n"
        "### Risk 1: Rate limits at the processor\n\n"
        "### Risk 2: Webhook retry path posts duplicate postings without an idempotency check\n"
        "- Services: webhooks\n",
        encoding="utf-8",
    )
    incidents = seeded_services.incidents.list_incidents()
    webhook = next(i for i in incidents if "webhooks" in i.title)
    other = next(i for i in incidents if i.id != webhook.id)
    ctx = seeded_services.context("done")
    seeded_services.incidents.resolve(ctx, webhook.id)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await app.push_screen(IncidentScreen(other.id))
        await settle(pilot)
        await pilot.press("p")  # not resolved: nothing opens
        await settle(pilot)
        assert isinstance(app.screen, IncidentScreen)

        await app.push_screen(IncidentScreen(webhook.id))
        await settle(pilot)
        detail = str(app.screen.query_one("#incident-detail", Static).render())
        assert "foreseen in PRE-0003: risk 2" in detail
        await pilot.press("p")
        await settle(pilot)
        assert isinstance(app.screen, EditorScreen)
        text = app.screen.query_one("#editor-source", TextArea).text
        assert "- Hit: foreseen in PRE-0003: risk 2" in text
        assert app.screen.path.name.startswith(webhook.id)


async def test_opening_records_a_box_ticked_outside_the_app(
    app: IncidentbookApp, seeded_services: Services
) -> None:
    path = _document(seeded_services)
    seeded_services.documents.sync_file(seeded_services.context("cli"), path)
    assert [i.status for i in list_actions(seeded_services.db)] == ["open"]
    path.write_text(
        path.read_text(encoding="utf-8").replace("- [ ] prevent", "- [x] prevent"),
        encoding="utf-8",
    )
    async with app.run_test(size=SIZE) as pilot:
        await _open(app, pilot, path)
        await settle(pilot)
        assert [i.status for i in list_actions(seeded_services.db)] == ["done"]


async def test_other_markdown_gets_only_the_language_lint(
    app: IncidentbookApp, seeded_services: Services
) -> None:
    runbook = seeded_services.settings.runbooks_dir / "fee-job.md"
    runbook.write_text(
        "# Fee job ran twice\n\n1. Pause the nightly jobs.\n2. Bob broke it last time.\n",
        encoding="utf-8",
    )
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open(app, pilot, runbook)
        assert _findings(screen) == [(4, "person-as-cause")]
