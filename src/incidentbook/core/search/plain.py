"""The plain text a search snippet is cut from: a Markdown body read by markdown-it-py (the one
parser, ``core.markdown``) and written back as words only.

No front matter, no heading markers, no table pipes (a row's cells are joined by " · "), no
emphasis marks or backticks, no HTML (comments included); code keeps its text, a link its
label, an image its alt text, a task item its box as ``[x]`` or ``[ ]``. Blocks end with a
newline (the snippet collapses whitespace). Rendering is cached per text: the same runbook
is a hit for keystroke after keystroke.
"""

from __future__ import annotations

from functools import lru_cache

from markdown_it.token import Token

from incidentbook.core.markdown import make_markdown

CELL_SEPARATOR = " · "
# kinds whose body is Markdown; the others (alert groups, changes) are plain lines already
MARKDOWN_KINDS = frozenset({"incident", "runbook", "postmortem", "premortem"})
_PARSER = make_markdown(keep_html=True)  # the tokens as written: HTML is dropped below
_CACHE_SIZE = 1024


def snippet_source(kind: str, body: str) -> str:
    """The text a hit's snippet is taken from."""
    return markdown_to_plain(body) if kind in MARKDOWN_KINDS else body


@lru_cache(maxsize=_CACHE_SIZE)
def markdown_to_plain(text: str) -> str:
    """``text`` (Markdown) as plain text, block by block."""
    out: list[str] = []
    row: list[str] | None = None
    for token in _PARSER.parse(text):
        kind = token.type
        if kind == "tr_open":
            row = []
        elif kind == "tr_close":
            if row is not None:
                out.append(CELL_SEPARATOR.join(c for c in row if c) + "\n")
            row = None
        elif kind == "inline":
            words = _inline(token.children or [])
            if row is not None:
                row.append(words.strip())
            else:
                out.append(words + "\n")
        elif kind in ("fence", "code_block"):
            out.append(token.content.rstrip("\n") + "\n")
        # front_matter, html_block, hr and the open/close tokens carry no words
    return "".join(out).rstrip("\n")


def _inline(children: list[Token]) -> str:
    parts: list[str] = []
    for child in children:
        kind = child.type
        if kind in ("text", "code_inline"):
            parts.append(child.content)
        elif kind in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif kind == "image":
            parts.append(_inline(child.children or []))
        elif kind == "html_inline" and "task-list-item-checkbox" in child.content:
            parts.append("[x]" if "checked" in child.content else "[ ]")
        # html_inline (comments, tags), and emphasis/link open and close marks: no words
    return "".join(parts)
