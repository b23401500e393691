"""A side panel that reads the workspace through the services it is given."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import on
from textual.containers import VerticalScroll

from incidentbook.ui.messages import WorkFailed

if TYPE_CHECKING:
    from incidentbook.services import Services
    from incidentbook.settings import Settings


class WorkspacePanel(VerticalScroll):
    def __init__(self, services: Services, *, title: str = "", **kwargs: Any):
        super().__init__(**kwargs)
        self.services = services
        self.border_title = title

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @on(WorkFailed)
    def _on_work_failed(self, message: WorkFailed) -> None:
        message.stop()  # shown in the panel, never as the screen's failure
        self.work_failed(message)

    def work_failed(self, message: WorkFailed) -> None:
        """Show a failed load in the panel."""
