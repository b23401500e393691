"""Dialog: open an incident by hand (title, severity)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select

from incidentbook.core.incidents.model import SEVERITIES


class NewIncidentDialog(ModalScreen[tuple[str, str] | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="new_incident.cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Open an incident", classes="dialog-title")
            yield Input(placeholder="What is wrong, in a line", id="title")
            yield Select(
                [(s, s) for s in SEVERITIES], value="error", allow_blank=False, id="severity"
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Open", variant="primary", id="open")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#title", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#open")
    def _submit(self) -> None:
        title = self.query_one("#title", Input).value.strip()
        if not title:
            self.notify("An incident needs a title.", severity="warning")
            return
        severity = str(self.query_one("#severity", Select).value)
        self.dismiss((title, severity))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
