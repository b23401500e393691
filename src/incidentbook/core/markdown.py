"""The one Markdown parser factory: the app's preview, the HTML export and every reading of a
document's structure (headings, code, HTML blocks) use it.

CommonMark plus GFM tables, strikethrough and task lists. HTML in the source is always
recognised as HTML (so a comment is one token, never prose). For reading (``make_markdown()``:
the app's viewers and the HTML export) raw HTML never passes through: comments are dropped,
and any other tag (``<script>``, ``<meta>``, ``<iframe>``) becomes plain text, shown as
written (a note quoting a log line keeps its words) and escaped by the renderer; a task
item's box is text (``☑``/``☐``) that the HTML and the terminal both show; and a link or image
may point only at http(s), mailto or a relative address (``javascript:``, ``data:``, ... in
any spelling stay as plain text). ``structure`` parses with the HTML kept
(``keep_html=True``).
Sections come from tokens (ATX and setext headings; fenced, indented and HTML blocks are not
headings), with exact lines from each token's ``map``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from mdit_py_plugins.front_matter import front_matter_plugin
from mdit_py_plugins.tasklists import tasklists_plugin

TASK_DONE = "☑"
TASK_OPEN = "☐"
SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
_SCHEME_RE = re.compile(r"^([a-z][a-z0-9+.-]*):", re.IGNORECASE)
# What a browser ignores inside a URL (C0 controls, space, DEL): "java\tscript:" is javascript:.
_IGNORED_RE = re.compile(r"[\x00-\x20\x7f]+")


def safe_url(url: str) -> bool:
    """A link or image address allowed in the output: http(s), mailto, or relative (no scheme),
    judged on the address as written and as a browser would decode it."""
    for form in (url, unquote(url)):
        match = _SCHEME_RE.match(_IGNORED_RE.sub("", form))
        if match and match.group(1).lower() not in SAFE_SCHEMES:
            return False
    return True


class DocumentMarkdown(MarkdownIt):
    """markdown-it with links and images limited to ``safe_url`` addresses."""

    def validateLink(self, url: str) -> bool:  # markdown-it's name
        return safe_url(url)


def make_markdown(*, keep_html: bool = False) -> MarkdownIt:
    parser = DocumentMarkdown("commonmark", {"html": True, "linkify": False, "typographer": False})
    parser.enable(["table", "strikethrough"])
    parser.use(front_matter_plugin)
    parser.use(tasklists_plugin, enabled=False)
    if not keep_html:
        parser.core.ruler.after("github-tasklists", "incidentbook-inert", _inert)
    return parser


def _inert(state: StateCore) -> None:
    """Task checkboxes become box characters; comments go; other raw HTML becomes text."""
    tokens: list[Token] = []
    for token in state.tokens:
        if token.type == "html_block":
            tokens.extend(_as_paragraph(token))
            continue
        if token.type == "inline" and token.children:
            token.children = [t for t in map(_inline_text, token.children) if t is not None]
        tokens.append(token)
    state.tokens = tokens


_COMMENT_RE = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)


def _text(content: str) -> Token:
    token = Token("text", "", 0)
    token.content = content
    return token


def _inline_text(token: Token) -> Token | None:
    if token.type != "html_inline":
        return token
    if _is_checkbox(token):
        return _text(TASK_DONE if 'checked="checked"' in token.content else TASK_OPEN)
    shown = _COMMENT_RE.sub("", token.content)
    return _text(shown) if shown else None


def _as_paragraph(block: Token) -> list[Token]:
    """An HTML block as a paragraph of its literal text (nothing, when it is all comments)."""
    shown = _COMMENT_RE.sub("", block.content).strip()
    if not shown:
        return []
    opening = Token("paragraph_open", "p", 1, map=block.map, level=block.level, block=True)
    inline = Token("inline", "", 0, map=block.map, level=block.level + 1, content=shown)
    inline.children = []
    for index, line in enumerate(shown.split("\n")):
        if index:
            inline.children.append(Token("softbreak", "br", 0))
        inline.children.append(_text(line))
    closing = Token("paragraph_close", "p", -1, level=block.level, block=True)
    return [opening, inline, closing]


def _is_checkbox(token: Token) -> bool:
    return token.type == "html_inline" and 'class="task-list-item-checkbox"' in token.content




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
    tokens = make_markdown(keep_html=True).parse(text)
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
