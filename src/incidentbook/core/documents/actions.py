"""Action items in a document: ``- [ ] prevent: text (owner, due)`` under "Action items".

The line grammar (the type prefix is optional, but lint asks for it)::

    - [ ] mitigate|prevent|process: what to do (owner, YYYY-MM-DD)
    - [x] ...        done
    - [ ] ~~...~~    dropped (struck through)

A ``### Mitigate`` / ``### Prevent`` / ``### Process`` sub-heading gives items below it a
default type. ``render_item(parse_line(line)) == line`` for every well-formed line, so items
can be written back to the file without disturbing anything else.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from incidentbook.core.markdown import structure

TYPES = ("mitigate", "prevent", "process")

ITEM_RE = re.compile(r"^(?P<indent>\s*)(?P<bullet>[-*+])\s\[(?P<box>[ xX])\]\s+(?P<rest>.*?)\s*$")
CHECKBOX_RE = re.compile(r"^\s*[-*+]\s*\[[^\]]?\]")
TYPE_RE = re.compile(r"^(?P<type>mitigate|prevent|process)\s*:\s*", re.IGNORECASE)
TAIL_RE = re.compile(r"\((?P<owner>[^(),]*),\s*(?P<due>[^(),]*)\)$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass
class ActionItem:
    text: str
    checked: bool = False
    dropped: bool = False
    type: str | None = None
    explicit_type: bool = False
    owner: str | None = None
    due: str | None = None
    line: int = 0  # 1-based line in the file
    indent: str = ""
    bullet: str = "-"
    box: str = " "

    @property
    def status(self) -> str:
        if self.dropped:
            return "dropped"
        return "done" if self.checked else "open"

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["status"] = self.status
        for private in ("indent", "bullet", "box", "explicit_type"):
            values.pop(private)
        return values


def parse_line(line: str, *, default_type: str | None = None, number: int = 0) -> ActionItem | None:
    match = ITEM_RE.match(line)
    if not match:
        return None
    rest = match.group("rest")
    item = ActionItem(
        text="",
        checked=match.group("box") in "xX",
        line=number,
        indent=match.group("indent"),
        bullet=match.group("bullet"),
        box=match.group("box"),
    )
    type_match = TYPE_RE.match(rest)
    if type_match:
        item.type = type_match.group("type").lower()
        item.explicit_type = True
        rest = rest[type_match.end() :]
    else:
        item.type = default_type
    tail = TAIL_RE.search(rest)
    if tail:
        item.owner = tail.group("owner").strip() or None
        item.due = tail.group("due").strip() or None
        rest = rest[: tail.start()].rstrip()
    if rest.startswith("~~") and rest.endswith("~~") and len(rest) > 4:
        item.dropped = True
        rest = rest[2:-2].strip()
    item.text = rest
    return item


def render_item(item: ActionItem) -> str:
    box = item.box if (item.box in "xX") == item.checked else ("x" if item.checked else " ")
    text = f"~~{item.text}~~" if item.dropped else item.text
    prefix = f"{item.type}: " if item.type and item.explicit_type else ""
    tail = f" ({item.owner or ''}, {item.due or ''})" if (item.owner or item.due) else ""
    return f"{item.indent}{item.bullet} [{box}] {prefix}{text}{tail}"


def is_action_heading(title: str) -> bool:
    return "action item" in title.lower()


@dataclass
class Section:
    title: str
    level: int
    line: int  # 1-based line of the heading
    body: list[tuple[int, str]]  # (1-based line, text)
    code: set[int] = field(default_factory=set)  # 1-based lines of its body inside code


def sections(body: str, offset: int = 1, *, skip_code: bool = True) -> list[Section]:
    """Headings (from markdown-it tokens: ATX and setext, never inside code or HTML) and the
    lines under them. HTML comments are blanked; lines inside code are kept as text but
    listed in ``code`` (``skip_code``) so nothing there is read as an item."""
    shape = structure(body)
    head_at = {h.start: h for h in shape.headings}
    under_heading = {i for h in shape.headings for i in range(h.start + 1, h.end)}
    found: list[Section] = []
    current: Section | None = None
    in_comment = False
    for index, line in enumerate(body.split("\n")):
        number = index + offset
        in_code = index in shape.code_lines
        if in_code:
            visible = line  # comment markers inside code are text
        else:
            visible, in_comment = strip_comments(line, in_comment)
        heading = head_at.get(index)
        if heading is not None:
            current = Section(heading.title, heading.level, number, [])
            found.append(current)
            continue
        if index in under_heading or current is None:
            continue
        # HTML comments (template guidance) are blanked: not items, not prose.
        current.body.append((number, visible if visible.strip() else ""))
        if in_code and skip_code:
            current.code.add(number)
    return found


def strip_comments(line: str, in_comment: bool) -> tuple[str, bool]:
    """Blank out HTML comments (which may span lines); returns the text and whether a comment
    is still open at the end of the line."""
    out: list[str] = []
    i = 0
    while i < len(line):
        if in_comment:
            end = line.find("-->", i)
            if end < 0:
                out.append(" " * (len(line) - i))
                return "".join(out), True
            out.append(" " * (end + 3 - i))
            i = end + 3
            in_comment = False
        else:
            start = line.find("<!--", i)
            if start < 0:
                out.append(line[i:])
                break
            out.append(line[i:start])
            i = start
            in_comment = True
    return "".join(out), in_comment


def parse_items(body: str, offset: int = 1) -> list[ActionItem]:
    """Every action item under an "Action items" heading (and its sub-headings)."""
    items: list[ActionItem] = []
    inside_level: int | None = None
    default_type: str | None = None
    for section in sections(body, offset):
        if inside_level is not None and section.level <= inside_level:
            inside_level = None
        if is_action_heading(section.title):
            inside_level = section.level
            default_type = None
        elif inside_level is not None:
            lowered = section.title.strip().lower()
            default_type = next((t for t in TYPES if lowered.startswith(t)), None)
        if inside_level is None:
            continue
        for number, line in section.body:
            if number in section.code:
                continue
            item = parse_line(line, default_type=default_type, number=number)
            if item is not None:
                items.append(item)
    return items


def malformed_checkboxes(body: str, offset: int = 1) -> list[tuple[int, str]]:
    """Lines in action-item sections that look like a checkbox but do not parse as one."""
    bad: list[tuple[int, str]] = []
    inside_level: int | None = None
    for section in sections(body, offset):
        if inside_level is not None and section.level <= inside_level:
            inside_level = None
        if is_action_heading(section.title):
            inside_level = section.level
        if inside_level is None:
            continue
        for number, line in section.body:
            if number in section.code:
                continue
            if CHECKBOX_RE.match(line) and parse_line(line) is None:
                bad.append((number, line))
    return bad


def write_items(text: str, items: list[ActionItem]) -> str:
    """Write items back into the file text at their lines (the other lines untouched)."""
    lines = text.split("\n")
    for item in items:
        if 1 <= item.line <= len(lines):
            lines[item.line - 1] = render_item(item)
    return "\n".join(lines)


def set_checked(text: str, line: int, checked: bool) -> str:
    """Tick or untick the action item at ``line`` (1-based); other lines untouched."""
    lines = text.split("\n")
    item = parse_line(lines[line - 1], number=line) if 1 <= line <= len(lines) else None
    if item is None:
        return text
    item.checked = checked
    lines[line - 1] = render_item(item)
    return "\n".join(lines)


def is_date(value: str | None) -> bool:
    if not value or not DATE_RE.match(value):
        return False
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True
