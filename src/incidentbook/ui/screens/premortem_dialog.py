"""Dialog: start a pre-mortem (title, services, tags) through the pre-mortem service, then
open it in the editor (``premortem new TITLE --services A,B --tags X,Y``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from incidentbook.errors import IncidentbookError
from incidentbook.text import as_str_list
from incidentbook.ui.messages import WorkFailed
from incidentbook.ui.workers import run_in_worker

if TYPE_CHECKING:
    from incidentbook.ui.app import IncidentbookApp


@dataclass
class PremortemStarted(Message):
    doc_id: str
    path: Path
    related: int  # past items prefilled


class NewPremortemDialog(ModalScreen[Path | None]):
    """Dismissed with the new file's path (the caller opens it), or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="premortem.cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="premortem-dialog"):
            yield Label("Start a pre-mortem", classes="dialog-title")
            yield Input(placeholder="The launch, in a line", id="premortem-title")
            yield Input(
                placeholder="Services it touches: payments, ledger", id="premortem-services"
            )
            yield Input(placeholder="Tags: retries, migration", id="premortem-tags")
            yield Static("", id="premortem-error", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Start", variant="primary", id="premortem-start")
                yield Button("Cancel", id="premortem-cancel")

    def on_mount(self) -> None:
        # Named in their borders: the placeholders go once something is typed.
        for widget_id, name in (
            ("premortem-title", "Title"),
            ("premortem-services", "Services"),
            ("premortem-tags", "Tags"),
        ):
            self.query_one(f"#{widget_id}", Input).border_title = name
        self.query_one("#premortem-title", Input).focus()

    def _value(self, widget_id: str) -> str:
        return self.query_one(f"#{widget_id}", Input).value

    @on(Input.Submitted)
    @on(Button.Pressed, "#premortem-start")
    def _submit(self) -> None:
        title = self._value("premortem-title").strip()
        if not title:
            self._error("A pre-mortem needs a title.")
            self.query_one("#premortem-title", Input).focus()
            return
        services = cast("IncidentbookApp", self.app).services
        launch = as_str_list(self._value("premortem-services"))
        tags = as_str_list(self._value("premortem-tags"))

        def start() -> PremortemStarted:
            ctx = services.context("pre-mortem started in the app")
            result = services.premortems.create(title, launch_services=launch, tags=tags, ctx=ctx)
            return PremortemStarted(result.id, result.path, len(result.related))

        self._error("starting…")
        run_in_worker(self, start, group="premortem-start", catch=IncidentbookError)

    def _error(self, text: str) -> None:
        self.query_one("#premortem-error", Static).update(text)

    @on(PremortemStarted)
    def _started(self, message: PremortemStarted) -> None:
        prefilled = f", {message.related} related item(s) prefilled" if message.related else ""
        self.notify(f"{message.doc_id}: wrote {message.path.name}{prefilled}", timeout=6)
        self.dismiss(message.path)

    @on(WorkFailed)
    def _failed(self, message: WorkFailed) -> None:
        message.stop()
        self._error(message.error)

    @on(Button.Pressed, "#premortem-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
