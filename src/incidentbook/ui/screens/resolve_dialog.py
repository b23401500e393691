"""The resolve dialog: what still fires (the closure gate's words, as ``incident resolve``
says them), a reason, and — only when the gate is shut — an explicit override. Enter confirms,
escape cancels; nothing changes until it is confirmed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Label, Static

if TYPE_CHECKING:
    from incidentbook.core.incidents.model import ClosureCheck


@dataclass(frozen=True)
class ResolveChoice:
    reason: str
    force: bool


def gate_text(check: ClosureCheck | None) -> str:
    if check is None or not check.blocked:
        return "No reconciler finding of this incident still fires."
    return check.refusal().replace(", or --force with a reason", "") + "."


class ResolveDialog(ModalScreen[ResolveChoice | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="resolve.cancel")]

    def __init__(self, incident_id: str, check: ClosureCheck | None) -> None:
        super().__init__()
        self.incident_id = incident_id
        self.check = check

    @property
    def blocked(self) -> bool:
        return self.check is not None and self.check.blocked

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="resolve-dialog"):
            yield Label(f"Resolve {self.incident_id}?", classes="dialog-title")
            yield Static(gate_text(self.check), id="resolve-gate")
            yield Input(placeholder="reason (kept on the event)", id="resolve-reason")
            if self.blocked:
                yield Checkbox(
                    "Resolve anyway, with the reason above (recorded)", id="resolve-force"
                )
            yield Static("enter: resolve · escape: cancel", id="resolve-hint")
            yield Static("", id="resolve-error")

    def on_mount(self) -> None:
        self.query_one("#resolve-reason", Input).focus()

    @on(Input.Submitted, "#resolve-reason")
    def _confirm(self, event: Input.Submitted) -> None:
        reason = event.value.strip()
        force = self.blocked and self.query_one("#resolve-force", Checkbox).value
        error = self.query_one("#resolve-error", Static)
        if self.blocked and not force:
            error.update("The gate is shut: tick 'Resolve anyway' (tab, space) or escape.")
            return
        if force and not reason:
            error.update("Resolving with the gate shut needs a reason.")
            return
        self.dismiss(ResolveChoice(reason, force))

    def action_cancel(self) -> None:
        self.dismiss(None)
