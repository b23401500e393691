""" "Seen before": past incidents with the same alert name or similar text, with the lessons of
their postmortems (Triage and Incident embed this).

``widget.show_for(alert_name=..., text=..., exclude=incident_id)`` searches in a thread worker.
Each past incident is an option of a list: enter on one posts ``SeenBefore.Chosen`` with its id
(the screen opens it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from incidentbook.ui.messages import WorkFailed
from incidentbook.ui.widgets.workspace_panel import WorkspacePanel
from incidentbook.ui.workers import run_in_worker

if TYPE_CHECKING:
    from textual.app import ComposeResult

    from incidentbook.core.search.seen import SeenBefore as Seen
    from incidentbook.services import Services


@dataclass
class SeenBeforeLoaded(Message):
    items: list[Seen]


class SeenBefore(WorkspacePanel):
    DEFAULT_CSS = """
    SeenBefore { height: auto; max-height: 16; border: round $secondary; padding: 0 1; }
    SeenBefore > #seen-list { height: auto; }
    SeenBefore > #seen-options { height: auto; max-height: 14; border: none; padding: 0; }
    SeenBefore > #seen-options:focus { border-left: tall $accent; }
    """

    @dataclass
    class Chosen(Message):
        """Enter on a past incident: open it."""

        incident_id: str

    def __init__(self, services: Services, *, limit: int = 5, **kwargs: Any):
        super().__init__(services, title="Seen before", **kwargs)
        self.limit = limit
        self.items: list[Seen] = []

    def compose(self) -> ComposeResult:
        yield Static("", id="seen-list")
        yield OptionList(id="seen-options")

    def show_for(
        self, *, alert_name: str | None = None, text: str = "", exclude: str | None = None
    ) -> None:
        self.query_one("#seen-list", Static).update("looking for similar past incidents…")
        self.query_one("#seen-options", OptionList).clear_options()

        def load() -> SeenBeforeLoaded:
            # Deferred: Triage embeds this widget and the search engine's import would add
            # ~50 ms to the first paint (187 -> 238 ms, bench/bench_startup.py's script).
            from incidentbook.core.search.seen import seen_before

            items = seen_before(
                self.settings,
                alert_name=alert_name,
                text=text,
                exclude=exclude,
                limit=self.limit,
                db=self.services.db,
            )
            return SeenBeforeLoaded(items)

        # Errors are shown in the widget, never a crash.
        run_in_worker(self, load, group="seen-before")

    @on(SeenBeforeLoaded)
    def _loaded(self, message: SeenBeforeLoaded) -> None:
        message.stop()
        self.items = message.items
        target = self.query_one("#seen-list", Static)
        options = self.query_one("#seen-options", OptionList)
        options.clear_options()
        options.display = bool(message.items)
        if not message.items:
            target.update("Nothing like this before.")
            return
        target.update(Text("enter opens the highlighted one", style="dim"))
        options.add_options(
            [Option(self._label(item), id=item.incident_id) for item in message.items]
        )

    @on(OptionList.OptionSelected, "#seen-options")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.post_message(self.Chosen(event.option.id))

    @staticmethod
    def _label(item: Seen) -> Text:
        out = Text()
        when = item.created.strftime("%Y-%m-%d") if item.created else ""
        out.append(f"{item.incident_id}", style="bold")
        out.append(f"  {when}  {item.title}")
        out.append(f"  ({item.why})\n", style="dim")
        if item.lessons:
            for lesson in item.lessons[:3]:
                out.append("    lesson: ", style="green")
                out.append(f"{lesson}\n")
        elif item.postmortem:
            out.append(f"    postmortem {item.postmortem}: no lessons written\n", style="dim")
        else:
            out.append("    no postmortem yet\n", style="dim")
        out.rstrip()
        return out

    def work_failed(self, message: WorkFailed) -> None:
        self.items = []
        options = self.query_one("#seen-options", OptionList)
        options.clear_options()
        options.display = False
        self.query_one("#seen-list", Static).update(Text(message.error, style="red"))
