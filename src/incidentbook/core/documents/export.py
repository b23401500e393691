"""``postmortem export FILE --html OUT``: one standalone, readable HTML page.

The Markdown body is rendered by ``incidentbook.core.markdown.make_markdown()`` (raw HTML in
the source is not passed through, so ``<script>`` in a note appears as text); the page comes
from the autoescaped, sandboxed ``export.html.j2`` with inline CSS and no external resources.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from markupsafe import Markup

from incidentbook.core.documents import templating
from incidentbook.core.documents.blocks import without_comments
from incidentbook.core.markdown import make_markdown
from incidentbook.errors import UsageError
from incidentbook.frontmatter import split
from incidentbook.fs import atomic_write, read_text

if TYPE_CHECKING:
    from incidentbook.settings import Settings

TEMPLATE = "export.html.j2"


def render_html(settings: Settings, text: str, *, source: str = "document") -> str:
    doc = split(text, source=source)
    body_html = make_markdown().render(without_comments(doc.body))
    title = str(doc.meta.get("title") or doc.id or Path(source).stem)
    meta_rows = [
        (key, ", ".join(str(v) for v in value) if isinstance(value, list) else str(value))
        for key, value in doc.meta.items()
        if value not in (None, "", [])
    ]
    return templating.render(
        settings,
        TEMPLATE,
        {"title": title, "meta": meta_rows, "body": Markup(body_html), "kind": doc.kind},
    )


def default_html_path(source: Path) -> Path:
    """Where a document's page goes when no output is named: beside it, ``.html``."""
    return source.with_suffix(".html")


def export_html(settings: Settings, source: Path, out: Path) -> Path:
    """Write ``source`` as one HTML page at ``out``; an ``out`` that is the source itself
    (the same file by any path) is refused before anything is read or written."""
    if out.resolve() == source.resolve() or (
        out.exists() and source.exists() and out.samefile(source)
    ):
        raise UsageError(f"refusing to export {source} over itself: choose another --html OUT")
    html = render_html(settings, read_text(source), source=str(source))
    atomic_write(out, html)
    return out
