"""Dialog: choose a severity."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList

from incidentbook.core.incidents.model import SEVERITIES


class SeverityDialog(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="severity.cancel")]

    def __init__(self, current: str) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Severity (now {self.current})", classes="dialog-title")
            yield OptionList(*SEVERITIES, id="levels")

    def on_mount(self) -> None:
        options = self.query_one("#levels", OptionList)
        options.highlighted = SEVERITIES.index(self.current) if self.current in SEVERITIES else 0
        options.focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(SEVERITIES[event.option_index])

    def action_cancel(self) -> None:
        self.dismiss(None)
