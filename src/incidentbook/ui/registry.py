"""The screens opened by name from a key or the command palette, one typed entry each.

Each screen takes no argument (it reaches the app's services itself); screens that need an
argument are pushed by their callers. The app makes its bindings from these entries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from textual.binding import Binding
from textual.screen import Screen

# The screens' modules are imported only when a screen is opened, because the first paint
# would wait for them: Health and Audit pull in SQLAlchemy, Search the search engine. Measured
# with bench/bench_startup.py's first-paint script: importing them here took the app's first
# paint from 187 ms to 509 ms (a bare Textual app: 106 ms).


def _health() -> type[Screen[Any]]:
    from incidentbook.ui.screens.health import HealthScreen  # deferred: see above

    return HealthScreen


def _search() -> type[Screen[Any]]:
    from incidentbook.ui.screens.search import SearchScreen  # deferred: see above

    return SearchScreen


def _audit() -> type[Screen[Any]]:
    from incidentbook.ui.screens.audit import AuditScreen  # deferred: see above

    return AuditScreen


def _actions() -> type[Screen[Any]]:
    from incidentbook.ui.screens.actions import ActionsScreen  # deferred: see above

    return ActionsScreen


def _resolved() -> type[Screen[Any]]:
    from incidentbook.ui.screens.resolved import ResolvedScreen  # deferred: see above

    return ResolvedScreen


@dataclass(frozen=True)
class ScreenEntry:
    name: str  # what ``action_open_screen(name)`` takes
    key: str  # the binding's key, as Textual names it
    description: str  # the footer's, the palette's and the help's text
    load: Callable[[], type[Screen[Any]]]  # imports the screen's module, returns its class
    key_display: str | None = None
    show: bool = True  # in the footer

    def binding(self) -> Binding:
        return Binding(
            self.key,
            f"open_screen('{self.name}')",
            self.description,
            key_display=self.key_display,
            id=f"app.{self.name}",
            show=self.show,
        )


SCREENS: tuple[ScreenEntry, ...] = (
    ScreenEntry("health", "H", "Health", _health),
    # Hidden from the footer (so the screens' snapshots stay as they are); in the palette.
    ScreenEntry("search", "slash", "Search", _search, key_display="/", show=False),
    ScreenEntry("audit", "A", "Account audit", _audit, show=False),
    ScreenEntry("actions", "I", "Action items", _actions, show=False),
    ScreenEntry("resolved", "L", "Resolved incidents", _resolved, show=False),
)
SCREENS_BY_NAME: dict[str, ScreenEntry] = {entry.name: entry for entry in SCREENS}
