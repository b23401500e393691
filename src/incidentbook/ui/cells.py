"""Table cells that fit their table: a value cut to a width ends with an ellipsis (…), and a
table's flexible column gets the width the other columns leave. The screens show the full
value of the row under the cursor in their detail pane."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.message import Message
from textual.widgets import DataTable

CELL_PADDING = 2  # a DataTable cell's padding, one cell on each side
ELLIPSIS = "…"


def ellipsized(value: str | Text, width: int) -> Text:
    """``value`` as one line of at most ``width`` cells, its last cell an ellipsis when cut
    (text, never markup: a note's brackets stay as typed)."""
    text = value.copy() if isinstance(value, Text) else Text(value)
    text.plain = text.plain.replace("\n", " ")
    text.truncate(max(width, 1), overflow="ellipsis")
    return text


def widest(cells: Iterable[str | Text], header: str = "") -> int:
    """The widest of a column's cells (its header included), in cells."""
    return max([cell_len(header), *(cell_len(str(c)) for c in cells)])


def room(table: DataTable[object], fallback: int, rows: int | None = None) -> int:
    """The cells a table has for its columns: its width less its border and scrollbar, or
    ``fallback`` before it is laid out. Given the ``rows`` it is about to hold, the vertical
    scrollbar they will need is counted before it shows."""
    region = table.scrollable_content_region
    width = region.width if region.width > 0 else fallback
    needs_bar = rows is not None and rows + 1 > region.height > 0
    if needs_bar and not table.show_vertical_scrollbar:
        width -= table.styles.scrollbar_size_vertical
    return width


def flexible_width(total: int, fixed: Sequence[int], *, minimum: int = 8) -> int:
    """The width left in ``total`` for one more column after the ``fixed`` columns (each its
    content width), paddings counted; never less than ``minimum``."""
    used = sum(width + CELL_PADDING for width in fixed) + CELL_PADDING
    return max(minimum, total - used)


class FittedTable(DataTable[object]):
    """A table whose screen cuts its cells to its width: it says when that width changes
    (the screen's layout settles after the first fill, and on every resize)."""

    @dataclass
    class Resized(Message):
        table: FittedTable

    def on_resize(self, event: events.Resize) -> None:
        self.post_message(self.Resized(self))
