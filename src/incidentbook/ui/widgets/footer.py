"""The footer every screen shows: Textual's, but at any width it keeps Quit and Help whole and
leaves out the other keys that do not fit (the last ones first) instead of cutting one in half;
a name bound to two keys (Quit: q and ctrl+q) is shown once.

The keys it leaves out are still bound, in the command palette and in the help (``?``).
"""

from __future__ import annotations

from collections.abc import Iterator

from rich.cells import cell_len
from textual import events
from textual.widget import Widget
from textual.widgets import Footer

from incidentbook.ui.keys import printable

# The actions whose keys the footer always shows (the app's ``?`` and ``q``, and f1 and
# ctrl+q while a field has the focus).
PINNED_ACTIONS = frozenset({"help", "quit", "help_anywhere", "quit_anywhere"})
COMPACT_BELOW = 120  # narrower screens get the compact footer (one space less per key)


def key_width(widget: Widget, *, compact: bool) -> int:
    """The cells a footer key takes, its margin included (Textual's FooterKey CSS: compact
    ``K desc`` and a margin of one; otherwise `` K desc `` and no margin)."""
    text = cell_len(str(getattr(widget, "key_display", "")))
    description = str(getattr(widget, "description", ""))
    if description:
        text += 1 + cell_len(description)
    return text + 1 if compact else text + 2


def pinned(widget: Widget) -> bool:
    return getattr(widget, "action", None) in PINNED_ACTIONS


def one_per_name(keys: list[Widget]) -> list[Widget]:
    """One key per description (Quit is bound to q and to ctrl+q): the one that types a
    character where both are live (ctrl+q is there for when a field takes the q)."""
    chosen: dict[str, Widget] = {}
    for widget in keys:
        name = str(getattr(widget, "description", ""))
        other = chosen.get(name)
        if other is None or (typed(widget) and not typed(other)):
            chosen[name] = widget
    return [w for w in keys if chosen.get(str(getattr(w, "description", ""))) is w]


def typed(widget: Widget) -> bool:
    return printable(str(getattr(widget, "key", "")))


def fitting_keys(keys: list[Widget], width: int, *, compact: bool) -> list[Widget]:
    """``keys`` less the unpinned ones, from the last, until the rest fit ``width``."""
    kept = list(keys)
    unpinned = [k for k in keys if not pinned(k)]
    while unpinned and sum(key_width(k, compact=compact) for k in kept) > width:
        kept.remove(unpinned.pop())
    return kept


class KeyFooter(Footer):
    """A footer that never cuts a key and always shows Quit and Help."""

    def __init__(self, *, compact: bool = False) -> None:
        super().__init__(compact=compact)
        self.always_compact = compact
        self.composed_width = 0

    def compose(self) -> Iterator[Widget]:
        width = self.size.width or self.app.size.width
        self.compact = self.always_compact or width < COMPACT_BELOW
        widgets = list(super().compose())
        # Textual's FooterKey is not exported: a key is a widget with a key_display.
        palette = [w for w in widgets if w.has_class("-command-palette")]
        keys = [w for w in widgets if hasattr(w, "key_display") and w not in palette]
        shown = one_per_name(keys)
        keys, widgets = shown, [w for w in widgets if w in shown or w not in keys]
        self.composed_width = width
        room = width - sum(key_width(p, compact=False) + 1 for p in palette)
        kept = fitting_keys(keys, room, compact=self.compact)
        yield from (w for w in widgets if w not in keys or w in kept)

    def on_resize(self, event: events.Resize) -> None:
        if event.size.width != self.composed_width:
            self.call_after_refresh(self.recompose)
