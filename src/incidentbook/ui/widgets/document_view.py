"""A Markdown document as the HTML export shows it, laid out once for the terminal.

The tokens come from the one parser factory (``incidentbook.core.markdown.make_markdown``), so
the viewer and the export agree: comments hidden, other raw HTML shown as text, task boxes as
``☑``/``☐``, unsafe link schemes left as text. The tokens become one Rich renderable (headings,
paragraphs, lists, quotes, code, tables, rules) shown by a single ``Static``: Textual renders
it once per width and scrolling only crops those lines. (Textual's ``Markdown`` widget mounts a
widget per block, and a long postmortem's hundreds of blocks made every scroll re-lay them
out: 0.3-1.6 s a step on 1,500 lines, ``bench/bench_viewer.py``.)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from markdown_it.token import Token
from rich import box
from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.rule import Rule
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from incidentbook.core.markdown import TASK_DONE, TASK_OPEN, make_markdown

HEADING_STYLES = {
    "h1": "bold underline",
    "h2": "bold",
    "h3": "bold italic",
}
INLINE_STYLES = {
    "strong": "bold",
    "em": "italic",
    "s": "strike",
}
CODE_STYLE = "bold"
LINK_STYLE = "underline"
QUOTE_STYLE = "italic dim"


class DocumentView(Static):
    """Markdown ``source`` rendered once; ``update_source`` shows another text."""

    DEFAULT_CSS = """
    DocumentView { height: auto; padding: 0 1; }
    """

    def __init__(self, source: str = "", *, id: str | None = None) -> None:
        self.source = source
        super().__init__(render_markdown(source), id=id)

    def update_source(self, source: str) -> None:
        if source != self.source:
            self.source = source
            self.update(render_markdown(source))


def render_markdown(source: str) -> RenderableType:
    """The document as one Rich renderable."""
    tokens = make_markdown().parse(source)
    blocks = list(_blocks(tokens, 0, len(tokens)))
    return Group(*_spaced(blocks))


def _spaced(blocks: list[RenderableType]) -> Iterator[RenderableType]:
    for index, block in enumerate(blocks):
        if index:
            yield Text("")
        yield block


def _close_of(tokens: Sequence[Token], start: int) -> int:
    """The index of the token closing the one opened at ``start``."""
    depth = 0
    for index in range(start, len(tokens)):
        depth += tokens[index].nesting
        if depth == 0:
            return index
    return len(tokens) - 1


def _blocks(tokens: Sequence[Token], start: int, end: int) -> Iterator[RenderableType]:
    """The block renderables of ``tokens[start:end]`` (one nesting level)."""
    index = start
    while index < end:
        token = tokens[index]
        kind = token.type
        if kind == "heading_open":
            text = _inline(tokens[index + 1])
            text.stylize(HEADING_STYLES.get(token.tag, "bold"))
            yield text
            index = _close_of(tokens, index) + 1
        elif kind == "paragraph_open":
            yield _inline(tokens[index + 1])
            index = _close_of(tokens, index) + 1
        elif kind in ("bullet_list_open", "ordered_list_open"):
            close = _close_of(tokens, index)
            yield _list(tokens, index, close)
            index = close + 1
        elif kind == "blockquote_open":
            close = _close_of(tokens, index)
            inner = Group(*_spaced(list(_blocks(tokens, index + 1, close))))
            yield Padding(inner, (0, 0, 0, 2), style=QUOTE_STYLE)
            index = close + 1
        elif kind in ("fence", "code_block"):
            lexer = (token.info or "").split(" ")[0] or "text"
            code = token.content.rstrip("\n")
            yield Syntax(code, lexer, word_wrap=True, padding=(0, 1), background_color="default")
            index += 1
        elif kind == "table_open":
            close = _close_of(tokens, index)
            yield _table(tokens, index, close)
            index = close + 1
        elif kind == "hr":
            yield Rule(style="dim")
            index += 1
        elif kind == "inline":
            yield _inline(token)
            index += 1
        else:  # front matter, stray closers: nothing to show
            index += 1


def _list(tokens: Sequence[Token], start: int, end: int) -> Table:
    ordered = tokens[start].type == "ordered_list_open"
    number = int(tokens[start].attrGet("start") or 1) if ordered else 1
    # A tight list's paragraphs are hidden (markdown-it's mark): no blank line between blocks.
    tight = all(t.hidden for t in tokens[start:end] if t.type == "paragraph_open")
    grid = Table.grid(padding=(0, 1, 0, 0))
    grid.add_column(no_wrap=True)
    grid.add_column(ratio=1)
    index = start + 1
    while index < end:
        if tokens[index].type != "list_item_open":
            index += 1
            continue
        close = _close_of(tokens, index)
        items = list(_blocks(tokens, index + 1, close))
        marker = f"{number}." if ordered else "•"
        first = items[0] if items else Text("")
        task = isinstance(first, Text) and first.plain.startswith((TASK_DONE, TASK_OPEN))
        body = Group(*(items if tight else _spaced(items)))
        grid.add_row(Text(" " if task else marker, style="dim"), body)
        number += 1
        index = close + 1
    return grid


def _table(tokens: Sequence[Token], start: int, end: int) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, expand=False, padding=(0, 1))
    row: list[Text] = []
    in_head = False
    for index in range(start, end):
        token = tokens[index]
        if token.type == "thead_open":
            in_head = True
        elif token.type == "thead_close":
            in_head = False
        elif token.type in ("th_open", "td_open"):
            row.append(_inline(tokens[index + 1]))
            if in_head:
                style = str(token.attrGet("style") or "")
                justify = "right" if "right" in style else "center" if "center" in style else "left"
                table.add_column(row[-1], justify=justify)  # type: ignore[arg-type]
        elif token.type == "tr_close":
            if not in_head:
                table.add_row(*row)
            row = []
    table.show_header = any(column.header for column in table.columns)
    return table


def _inline(token: Token) -> Text:
    """An inline token's children as styled text."""
    text = Text()
    styles: list[str] = []
    for child in token.children or []:
        kind = child.type
        if kind in ("text", "html_inline"):
            text.append(child.content, style=" ".join(styles) or None)
        elif kind == "code_inline":
            text.append(child.content, style=" ".join([*styles, CODE_STYLE]))
        elif kind == "softbreak":
            text.append(" ")
        elif kind == "hardbreak":
            text.append("\n")
        elif kind.endswith("_open"):
            name = kind.removesuffix("_open")
            if name == "link":
                href = str(child.attrGet("href") or "")
                styles.append(f"{LINK_STYLE} link {href}" if href else LINK_STYLE)
            else:
                styles.append(INLINE_STYLES.get(name, ""))
        elif kind.endswith("_close"):
            if styles:
                styles.pop()
        elif kind == "image":
            alt = child.content or "image"
            text.append(f"[image: {alt}]", style="dim")
    return text
