"""The workspace's keymap and theme (``[app.keys]``, ``[app] theme``), checked against the app's
own binding ids, Textual's key names and its themes: an unknown id, key or theme is one line
naming it (the core checks the file's shape; only the app knows its ids and keys).
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import pkgutil
from collections.abc import Iterable, Mapping

from textual.binding import Binding
from textual.dom import DOMNode
from textual.keys import REPLACED_KEYS, Keys, key_to_character

from incidentbook.errors import UsageError

MODIFIERS = frozenset({"ctrl", "shift", "alt", "meta", "super", "hyper"})
# The key names Textual gives keys that type nothing (escape, enter, f1, pageup, ...).
NAMED_KEYS = frozenset(key.value.rpartition("+")[2] for key in Keys) | {"space", "tab"}
# The packages whose widgets and screens hold the app's bindings.
UI_PACKAGES = ("incidentbook.ui.screens", "incidentbook.ui.widgets")


def binding_ids(classes: Iterable[type[DOMNode]]) -> set[str]:
    """Every binding id the classes (and their bases) declare."""
    found: set[str] = set()
    for cls in classes:
        for klass in cls.__mro__:
            for binding in getattr(klass, "BINDINGS", None) or ():
                if isinstance(binding, Binding) and binding.id:
                    found.add(binding.id)
    return found


def ui_classes() -> list[type[DOMNode]]:
    """The screens and widgets of the app: their modules are imported (only when a keymap
    is set: the first paint needs just Triage's)."""
    found: list[type[DOMNode]] = []
    for package_name in UI_PACKAGES:
        package = importlib.import_module(package_name)
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package_name}.{info.name}")
            found.extend(
                value
                for _, value in inspect.getmembers(module, inspect.isclass)
                if issubclass(value, DOMNode) and value.__module__ == module.__name__
            )
    return found


def key_problem(key: str) -> str | None:
    """Why ``key`` is not a key Textual can bind ("ctrl+r", "R", "question_mark", "?", "f5"),
    or None when it is one."""
    parts = key.split("+")
    *modifiers, base = parts
    if not base:
        return "it names no key"
    for modifier in modifiers:
        if modifier not in MODIFIERS:
            return f"'{modifier}' is not a modifier ({', '.join(sorted(MODIFIERS))})"
    if len(base) == 1:
        return None if base.isprintable() and not base.isspace() else "it is not printable"
    if base in NAMED_KEYS or key_to_character(REPLACED_KEYS.get(base, base)) is not None:
        return None
    close = difflib.get_close_matches(base, sorted(NAMED_KEYS), n=1)
    return f"'{base}' is not a key name" + (f" (did you mean '{close[0]}'?)" if close else "")


def checked_keymap(keys: Mapping[str, str], known_ids: set[str], where: str) -> dict[str, str]:
    """``[app.keys]`` as Textual's keymap: every id one of the app's, every key one Textual
    names; else a UsageError of one line naming it."""
    keymap: dict[str, str] = {}
    for binding_id, value in keys.items():
        if binding_id not in known_ids:
            close = difflib.get_close_matches(binding_id, sorted(known_ids), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise UsageError(f"{where}: [app.keys] unknown binding id '{binding_id}'{hint}")
        chosen = [part.strip() for part in value.split(",")]
        for key in chosen:
            problem = key_problem(key)
            if problem is not None:
                raise UsageError(
                    f"{where}: [app.keys] {binding_id} = {value!r}: '{key}' is not a key: {problem}"
                )
        keymap[binding_id] = ",".join(chosen)
    return keymap


def checked_theme(theme: str, available: Iterable[str], where: str) -> str:
    names = sorted(available)
    if theme not in names:
        raise UsageError(
            f"{where}: [app] theme {theme!r} is not a theme (themes: {', '.join(names)})"
        )
    return theme
