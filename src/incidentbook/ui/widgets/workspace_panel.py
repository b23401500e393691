"""A side panel that reads the workspace: its settings are given, or the app's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.containers import VerticalScroll

if TYPE_CHECKING:
    from incidentbook.settings import Settings


class WorkspacePanel(VerticalScroll):
    def __init__(self, settings: Settings | None = None, *, title: str = "", **kwargs: Any):
        super().__init__(**kwargs)
        self._settings = settings
        self.border_title = title

    @property
    def settings(self) -> Settings:
        if self._settings is not None:
            return self._settings
        return self.app.settings  # type: ignore[attr-defined,no-any-return]
