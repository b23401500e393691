"""What every data screen shares: load in a thread worker, run commands in a thread worker,
report results and failures by message (``ui.workers``). Workers never touch widgets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar, cast

from textual import on
from textual.message import Message
from textual.screen import Screen

from incidentbook.ui.keys import typing_blocks
from incidentbook.ui.messages import DataChanged, Reload, WorkFailed
from incidentbook.ui.screens.confirm_dialog import ConfirmDialog
from incidentbook.ui.screens.resolve_dialog import ResolveChoice, ResolveDialog
from incidentbook.ui.words import outcome_text
from incidentbook.ui.workers import run_in_worker

if TYPE_CHECKING:
    from incidentbook.core.incidents.model import ClosureCheck
    from incidentbook.services import Services
    from incidentbook.ui.app import IncidentbookApp

Outcome = TypeVar("Outcome")


@dataclass
class CommandDone(Message):
    text: str
    changed: bool


@dataclass
class ClosureRead(Message):
    """The closure gate's answer for an incident, read in a worker, for the resolve dialog."""

    incident_id: str
    check: ClosureCheck | None


class DataScreen(Screen[None]):
    """A screen that shows state from the database and refreshes when it changes."""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """A printable key's binding never acts while a text field has focus (``ui.keys``)."""
        return not typing_blocks(self.BINDINGS, action, self)

    @property
    def ib_app(self) -> IncidentbookApp:
        return cast("IncidentbookApp", self.app)

    @property
    def services(self) -> Services:
        return self.ib_app.services

    def on_mount(self) -> None:
        """Subclasses build their widgets here; the first load comes with ScreenResume (or,
        before the database is open, with the app's Reload once it is)."""

    def on_screen_resume(self) -> None:
        if self.ib_app.db_ready:
            self.reload()

    @on(Reload)
    def _reload_requested(self, _message: Reload) -> None:
        if self.ib_app.db_ready:
            self.reload()

    def reload(self) -> None:
        """Start loading this screen's data (a thread worker that posts a message)."""

    def run_command(
        self, action: Callable[[], Outcome], describe: Callable[[Outcome], str]
    ) -> None:
        """Run a core command off the UI thread and report by message."""

        def command() -> CommandDone:
            outcome = action()
            return CommandDone(describe(outcome), bool(getattr(outcome, "changed", True)))

        run_in_worker(self, command, group="commands", exclusive=False)

    def confirm_command(
        self,
        title: str,
        body: str,
        action: Callable[[], Outcome],
        describe: Callable[[Outcome], str],
        *,
        cancelled: str,
    ) -> None:
        """Run a command that changes an incident only after the operator confirms it in a
        ``ConfirmDialog`` (enter: yes, escape: no; nothing changes before)."""

        def chosen(yes: bool | None) -> None:
            if yes:
                self.run_command(action, describe)
            else:
                self.notify(cancelled, timeout=3)

        self.app.push_screen(ConfirmDialog(title, body), chosen)

    def confirm_resolve(self, incident_id: str) -> None:
        """Resolve only after the dialog: read the gate (worker), ask, then resolve."""
        incidents = self.services.incidents
        run_in_worker(
            self,
            lambda: ClosureRead(incident_id, incidents.closure(incident_id)),
            group="commands",
            exclusive=False,
        )

    @on(ClosureRead)
    def _ask_to_resolve(self, message: ClosureRead) -> None:
        iid = message.incident_id

        def chosen(choice: ResolveChoice | None) -> None:
            if choice is None:
                self.notify(f"{iid} not resolved", timeout=3)
                return
            ctx = self.services.context(choice.reason or "resolved in the app")
            incidents = self.services.incidents
            self.run_command(
                lambda: incidents.resolve(ctx, iid, force=choice.force), outcome_text
            )

        self.app.push_screen(ResolveDialog(iid, message.check), chosen)

    @on(CommandDone)
    def _on_command_done(self, message: CommandDone) -> None:
        self.notify(message.text, timeout=4)
        if message.changed:
            self.app.post_message(DataChanged("command"))

    @on(WorkFailed)
    def _on_work_failed(self, message: WorkFailed) -> None:
        message.stop()
        self.work_failed(message)

    def work_failed(self, message: WorkFailed) -> None:
        """Show a failed load or command; screens with a place for the error override this."""
        self.notify(message.error, severity="error", timeout=8)
