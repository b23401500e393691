"""What every data screen shares: load in a thread worker, run commands in a thread worker,
report results by message. Workers never touch widgets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from textual import on, work
from textual.message import Message
from textual.screen import Screen

from incidentbook.errors import IncidentbookError
from incidentbook.ui.messages import DataChanged, Reload

if TYPE_CHECKING:
    from incidentbook.services import Services
    from incidentbook.ui.app import IncidentbookApp


@dataclass
class CommandDone(Message):
    text: str
    changed: bool


@dataclass
class CommandFailed(Message):
    text: str


class DataScreen(Screen[None]):
    """A screen that shows state from the database and refreshes when it changes."""

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

    @work(thread=True, group="commands")
    def run_command(self, action: Callable[[], Any], describe: Callable[[Any], str]) -> None:
        """Run a core command off the UI thread and report by message."""
        try:
            outcome = action()
        except IncidentbookError as exc:
            self.post_message(CommandFailed(str(exc)))
            return
        except Exception as exc:
            self.post_message(CommandFailed(f"{type(exc).__name__}: {exc}"))
            return
        changed = bool(getattr(outcome, "changed", True))
        self.post_message(CommandDone(describe(outcome), changed))

    @on(CommandDone)
    def _on_command_done(self, message: CommandDone) -> None:
        self.notify(message.text, timeout=4)
        if message.changed:
            self.app.post_message(DataChanged("command"))

    @on(CommandFailed)
    def _on_command_failed(self, message: CommandFailed) -> None:
        self.notify(message.text, severity="error", timeout=8)
