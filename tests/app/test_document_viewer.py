"""The document viewer (search's ``DocumentViewScreen`` and the editor's preview) renders a
postmortem as the HTML export does: HTML comments hidden, task boxes shown with their state,
raw HTML as text, from the one parser factory."""

from __future__ import annotations

from pathlib import Path

from incidentbook.core.documents.export import render_html
from incidentbook.services import Services
from incidentbook.ui.app import IncidentbookApp
from incidentbook.ui.screens.editor import EditorScreen
from incidentbook.ui.screens.search import DocumentViewScreen
from incidentbook.ui.widgets.document_view import DocumentView
from tests.support.app import settle
from tests.support.painted import painted_text

SIZE = (140, 60)

DOC = """---
id: PM-0042
kind: postmortem
title: Duplicate postings
status: draft
---
# Postmortem: Duplicate postings

<!-- Template guidance: write the summary in two sentences. SECRETGUIDANCE -->

## Summary

The retry path posted twice. <!-- an inline remark: INLINEREMARK --> It was fixed forward.
A note quoted a log line: <script>steal()</script>.

<!--
A multi-line comment
MULTILINECOMMENT
-->

## Action items

- [x] prevent: Idempotency key on the retry path (ana, 2026-12-01)
- [ ] detect: Alert on duplicate postings (ravi, 2026-12-15)

| Check | Accounts |
|---|---:|
| duplicate_posting | 3 |
"""

HIDDEN = ("SECRETGUIDANCE", "INLINEREMARK", "MULTILINECOMMENT", "<!--", "-->")


def _write(services: Services) -> Path:
    path = services.settings.postmortems_dir / "PM-0042-duplicate-postings.md"
    path.write_text(DOC, encoding="utf-8")
    return path


def _assert_rendered_like_the_export(text: str) -> None:
    for hidden in HIDDEN:
        assert hidden not in text
    lines = [" ".join(line.split()) for line in text.splitlines()]
    assert "☑ prevent: Idempotency key on the retry path (ana, 2026-12-01)" in lines
    assert "☐ detect: Alert on duplicate postings (ravi, 2026-12-15)" in lines
    assert "<script>steal()</script>" in text  # raw HTML is text, shown as written
    assert "The retry path posted twice." in text and "It was fixed forward." in text
    assert any("duplicate_posting" in line and line.endswith("3") for line in lines)


async def test_the_viewer_hides_comments_and_shows_task_boxes(
    app: IncidentbookApp, seeded_services: Services
) -> None:
    path = _write(seeded_services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await app.push_screen(DocumentViewScreen(path, "Duplicate postings", path.parent))
        await settle(pilot)
        viewer = app.screen.query_one("#doc-body", DocumentView)
        _assert_rendered_like_the_export(painted_text(viewer))
    # The export of the same file agrees on what is shown and what is hidden.
    html = render_html(seeded_services.settings, DOC)
    assert "☑ prevent: Idempotency key" in html and "☐ detect: Alert on duplicate" in html
    assert not [h for h in HIDDEN if h in html.split("</style>", 1)[1]]


async def test_the_editor_preview_renders_the_same(
    app: IncidentbookApp, seeded_services: Services
) -> None:
    path = _write(seeded_services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await app.push_screen(EditorScreen(path))
        await settle(pilot)
        preview = app.screen.query_one("#editor-preview", DocumentView)
        _assert_rendered_like_the_export(painted_text(preview))
