"""The one Markdown parser factory: the app's preview, the HTML export and every reading of a
document's structure (headings, code, HTML blocks) use it.

CommonMark plus GFM tables, strikethrough and task lists. For rendering, raw HTML in the
source is not passed through (``html=False``), so a note with ``<script>`` renders as text;
structure is read with ``html=True`` so an HTML comment block is one token, not prose.
Sections come from tokens (ATX and setext headings; fenced, indented and HTML blocks are not
headings), with exact lines from each token's ``map``.
"""

from __future__ import annotations

from dataclasses import dataclass

from markdown_it import MarkdownIt
from mdit_py_plugins.front_matter import front_matter_plugin
from mdit_py_plugins.tasklists import tasklists_plugin


def make_markdown(*, html: bool = False) -> MarkdownIt:
    parser = MarkdownIt("commonmark", {"html": html, "linkify": False, "typographer": False})
    parser.enable(["table", "strikethrough"])
    parser.use(front_matter_plugin)
    parser.use(tasklists_plugin, enabled=False)
    return parser


@dataclass(frozen=True)
class Heading:
    """A top-level heading: ``start`` its first line, ``end`` the line after it (0-based;
    a setext heading spans its text and its underline)."""

    level: int
    title: str
    start: int
    end: int


@dataclass(frozen=True)
class Structure:
    headings: tuple[Heading, ...]
    code_lines: frozenset[int]  # 0-based lines inside fenced or indented code
    html_lines: frozenset[int]  # 0-based lines of HTML blocks (comments included)


def structure(text: str) -> Structure:
    """The headings, code and HTML blocks of a Markdown body, as markdown-it reads it."""
    tokens = make_markdown(html=True).parse(text)
    heads: list[Heading] = []
    code: set[int] = set()
    html: set[int] = set()
    for index, token in enumerate(tokens):
        if token.map is None:
            continue
        start, end = token.map
        if token.type == "heading_open" and token.level == 0:
            inline = tokens[index + 1]
            heads.append(Heading(int(token.tag[1:]), inline.content.strip(), start, end))
        elif token.type in ("fence", "code_block"):
            code.update(range(start, end))
        elif token.type == "html_block":
            html.update(range(start, end))
    return Structure(tuple(heads), frozenset(code), frozenset(html))
