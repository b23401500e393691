"""The screens opened by name: every entry resolves to a Screen, and the app binds its key."""

from __future__ import annotations

import pytest
from textual.screen import Screen

from incidentbook.ui.app import IncidentbookApp
from incidentbook.ui.registry import SCREENS, SCREENS_BY_NAME, ScreenEntry


@pytest.mark.parametrize("entry", SCREENS, ids=[e.name for e in SCREENS])
def test_every_entry_resolves_to_a_screen_subclass(entry: ScreenEntry) -> None:
    screen_class = entry.load()
    assert isinstance(screen_class, type) and issubclass(screen_class, Screen)
    assert SCREENS_BY_NAME[entry.name] is entry


def test_the_app_binds_every_entry() -> None:
    bindings = {b.id: b for b in IncidentbookApp.BINDINGS if not isinstance(b, tuple)}
    for entry in SCREENS:
        binding = bindings[f"app.{entry.name}"]
        assert (binding.key, binding.action, binding.description) == (
            entry.key,
            f"open_screen('{entry.name}')",
            entry.description,
        )
