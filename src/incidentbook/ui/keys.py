"""Keys that are safe at 2 a.m., in one place: a binding on a printable key (a letter, ``/``,
``?``) never acts while a text field has focus, and j/k, g/G move in whichever list has focus.

The app and every data screen ask ``typing_blocks`` from their ``check_action``; Textual also
drops such bindings from the chain of a focused Input, and this check keeps the rule true for
any binding, any screen and any text widget (an Input, a TextArea) whatever Textual does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual.binding import Binding, BindingType
from textual.keys import REPLACED_KEYS, key_to_character
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import DataTable, Input, ListView, OptionList, TextArea

TEXT_FIELDS: tuple[type[Widget], ...] = (Input, TextArea)

# Move in the focused table or list like the arrows (and to its first and last row).
NAVIGATION_BINDINGS: list[BindingType] = [
    Binding("j", "move('down')", "Down", show=False, tooltip="Down in the focused list"),
    Binding("k", "move('up')", "Up", show=False, tooltip="Up in the focused list"),
    Binding("g", "move('first')", "First", show=False, tooltip="First row of the list"),
    Binding("G", "move('last')", "Last", show=False, tooltip="Last row of the list"),
]


def printable(key: str) -> bool:
    """Whether a Textual key name types a character ("a", "A", "slash", "question_mark").
    Textual's ``key_to_character`` misses the names it shortens ("slash" is Unicode's
    "solidus"), so they are looked up by their Unicode name."""
    character = key_to_character(REPLACED_KEYS.get(key, key))
    return character is not None and character.isprintable()


def typing_in(screen: Screen[Any] | None) -> bool:
    """Whether a text field has the screen's focus."""
    return screen is not None and isinstance(screen.focused, TEXT_FIELDS)


# The attribute on the app holding the workspace's keymap (binding id -> keys) as applied:
# a rebound binding is judged by the keys it has now, not those it was declared with.
KEYMAP_ATTRIBUTE = "keymap_in_use"


def typing_blocks(bindings: Iterable[BindingType], action: str, screen: Screen[Any]) -> bool:
    """Whether ``action`` must not run now: a text field has the focus and every key bound
    to the action in ``bindings`` (as the workspace's keymap binds it) is a printable one (an
    action with another key, enter or escape or ctrl+…, stays live)."""
    if not typing_in(screen):
        return False
    keymap: dict[str, str] = getattr(screen.app, KEYMAP_ATTRIBUTE, {})
    keys = [
        key.strip()
        for binding in bindings
        if isinstance(binding, Binding) and _action_name(binding.action) == action
        for key in keymap.get(binding.id or "", binding.key).split(",")
    ]
    return bool(keys) and all(printable(key) for key in keys)


def _action_name(action: str) -> str:
    # "open_screen('search')" -> "open_screen"; "app.pop_screen" -> "pop_screen"
    return action.split("(", 1)[0].rsplit(".", 1)[-1]


def move(widget: Widget | None, where: str) -> bool:
    """Move the cursor of a table or list; False when ``widget`` is neither."""
    if isinstance(widget, DataTable):
        if where in ("up", "down"):
            widget.action_cursor_up() if where == "up" else widget.action_cursor_down()
        elif widget.row_count:
            widget.move_cursor(row=0 if where == "first" else widget.row_count - 1)
        return True
    if isinstance(widget, OptionList):
        actions = {"up": widget.action_cursor_up, "down": widget.action_cursor_down,
                   "first": widget.action_first, "last": widget.action_last}  # fmt: skip
        actions[where]()
        return True
    if isinstance(widget, ListView):
        if where in ("up", "down"):
            widget.action_cursor_up() if where == "up" else widget.action_cursor_down()
        elif len(widget):
            widget.index = 0 if where == "first" else len(widget) - 1
        return True
    return False
