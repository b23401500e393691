"""``postmortem export FILE --html OUT``: one standalone, readable HTML page.

The Markdown body is rendered by ``incidentbook.core.markdown.make_markdown()`` (raw HTML in
the source is dropped, comments included; links and images only to http(s), mailto or relative
addresses); the page comes from the autoescaped, sandboxed ``export.html.j2`` with inline CSS,
no external resources and a Content-Security-Policy (``CSP``) that forbids scripts. The page
is checked before it is written (``active_content``): a workspace ``export.html.j2`` that adds
a script, a frame, an ``on*`` attribute, an unsafe URL or a ``<meta>`` other than the charset
and the policy is refused in one line.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING

from markupsafe import Markup

from incidentbook.core.documents import templating
from incidentbook.core.markdown import make_markdown, safe_url
from incidentbook.errors import UsageError
from incidentbook.frontmatter import split
from incidentbook.fs import atomic_write, read_text

if TYPE_CHECKING:
    from incidentbook.settings import Settings

TEMPLATE = "export.html.j2"
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: http:; "
    "base-uri 'none'; form-action 'none'"
)
ACTIVE_TAGS = frozenset(
    {
        "script",
        "iframe",
        "frame",
        "frameset",
        "object",
        "embed",
        "applet",
        "form",
        "base",
        "link",
        "svg",
        "math",
        "template",
        "portal",
        "noscript",
    }
)
URL_ATTRIBUTES = frozenset(
    {
        "href",
        "src",
        "srcset",
        "action",
        "formaction",
        "data",
        "poster",
        "xlink:href",
        "background",
        "cite",
        "longdesc",
        "usemap",
        "manifest",
        "ping",
    }
)


def render_html(settings: Settings, text: str, *, source: str = "document") -> str:
    doc = split(text, source=source)
    body_html = make_markdown().render(doc.body)
    title = str(doc.meta.get("title") or doc.id or Path(source).stem)
    meta_rows = [
        (key, ", ".join(str(v) for v in value) if isinstance(value, list) else str(value))
        for key, value in doc.meta.items()
        if value not in (None, "", [])
    ]
    page = templating.render(
        settings,
        TEMPLATE,
        {
            "title": title,
            "meta": meta_rows,
            "body": Markup(body_html),
            "kind": doc.kind,
            "csp": Markup(CSP),  # constant text: quotes kept readable
        },
    )
    found = active_content(page)
    if found is not None:
        raise UsageError(f"template {TEMPLATE}: refused, the page would carry {found}")
    return page


class _ActiveContent(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._check(tag, attrs)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._check(tag, attrs)

    def _check(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.found is not None:
            return
        values = {name: value or "" for name, value in attrs}
        if tag in ACTIVE_TAGS:
            self.found = f"a <{tag}> element"
        elif tag == "meta" and not _allowed_meta(values):
            self.found = "a <meta> other than the charset and the content security policy"
        elif any(name.startswith("on") for name in values):
            self.found = f"an event handler attribute on <{tag}>"
        elif any(name in URL_ATTRIBUTES and not safe_url(v) for name, v in values.items()):
            self.found = f"an unsafe address on <{tag}>"
        elif "style" in values and "url(" in values["style"].lower():
            self.found = f"a style that loads an address on <{tag}>"


def _allowed_meta(values: dict[str, str]) -> bool:
    if set(values) == {"charset"}:
        return True
    policy = values.get("http-equiv", "").lower() == "content-security-policy"
    return policy and set(values) == {"http-equiv", "content"} and values["content"] == CSP


def active_content(page: str) -> str | None:
    """What in ``page`` could act (run, navigate, load), or None for an inert page."""
    parser = _ActiveContent()
    parser.feed(page)
    parser.close()
    return parser.found


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
