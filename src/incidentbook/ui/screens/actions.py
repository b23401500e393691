"""Action items: every tracked item of the postmortems and pre-mortems (``actions list``),
``o`` shows only the overdue ones (``actions list --overdue``), ``x`` ticks the selected item
done in its document, attributed to the operator, and enter opens the document it comes from.

The documents are re-read first, as the CLI does, so a box ticked in an editor is counted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable, Header, Label, Static

from incidentbook.errors import IncidentbookError
from incidentbook.ui.messages import DataChanged
from incidentbook.ui.screens.base import DataScreen
from incidentbook.ui.widgets.footer import KeyFooter
from incidentbook.ui.workers import run_in_worker

if TYPE_CHECKING:
    from incidentbook.core.documents.model import ActionState

COLUMNS = ("Item", "Status", "Type", "Due", "Owner", "Text")


@dataclass
class ActionsLoaded(Message):
    items: list[ActionState]
    files: dict[str, Path]  # document id -> its file
    today: date


@dataclass
class ActionTicked(Message):
    key: str
    changed: bool


def item_row(item: ActionState, today: date) -> tuple[str | Text, ...]:
    """The item's cells; what people wrote is shown as written (not read as markup)."""
    status = "OVERDUE" if item.overdue(today) else item.status
    owner = Text(item.owner) if item.owner else "—"
    return (item.key, status, item.type or "—", item.due or "—", owner, Text(item.text))


def empty_text(overdue_only: bool) -> str:
    if overdue_only:
        return "No overdue action items. o: show them all"
    return (
        "No action items yet: they are the '- [ ] …' lines under \"Action items\" in a "
        "postmortem (p on an incident) or a pre-mortem (P)."
    )


class ActionsScreen(DataScreen):
    """The action items of every document, open first by due date."""

    DEFAULT_CSS = """
    ActionsScreen #actions-table { height: 1fr; }
    ActionsScreen #actions-status { height: auto; padding: 0 1; }
    """

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="actions.back"),
        # Not in the footer (at 80 columns it would push Quit off): the status line says it.
        Binding("enter,e", "open_document", "Open document", id="actions.open", show=False),
        Binding("o", "toggle_overdue", "Overdue", id="actions.overdue",
                tooltip="Show only open items past their due date, or all items again"),
        Binding("x", "tick_done", "Done", id="actions.done",
                tooltip="Tick the selected item done in its document (attributed to you)"),
    ]  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self.overdue_only = False
        self.items: list[ActionState] = []
        self.files: dict[str, Path] = {}
        self.today: date | None = None
        self.loaded = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Label("Action items", classes="section-title", id="actions-title")
        yield DataTable(id="actions-table", cursor_type="row", zebra_stripes=True)
        yield Static("Loading…", id="actions-status")
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one("#actions-table", DataTable)
        table.add_columns(*COLUMNS)
        table.focus()
        super().on_mount()

    def reload(self) -> None:
        services = self.services
        overdue_only = self.overdue_only

        def load() -> ActionsLoaded:
            documents = services.documents
            documents.sync_all(services.context("documents re-read"))
            today = services.settings.clock().date()
            items = documents.list_actions(overdue_on=today if overdue_only else None)
            files = {d.id: documents.file_of(d) for d in documents.list_documents()}
            return ActionsLoaded(items, files, today)

        run_in_worker(self, load, group="actions-load")

    @on(ActionsLoaded)
    def _show(self, message: ActionsLoaded) -> None:
        self.items, self.files, self.today = message.items, message.files, message.today
        self.loaded = True
        table = self.query_one("#actions-table", DataTable)
        cursor = table.cursor_row
        table.clear()
        for item in message.items:
            table.add_row(*item_row(item, message.today), key=item.key)
        if message.items:
            table.move_cursor(row=min(max(cursor, 0), len(message.items) - 1))
        which = "Overdue action items" if self.overdue_only else "Action items"
        overdue = sum(1 for i in message.items if i.overdue(message.today))
        late = f", {overdue} overdue" if overdue and not self.overdue_only else ""
        self.query_one("#actions-title", Label).update(f"{which} ({len(message.items)}{late})")
        status = self.query_one("#actions-status", Static)
        if not message.items:
            status.update(empty_text(self.overdue_only))
        else:
            self._show_selected()

    @on(DataTable.RowHighlighted, "#actions-table")
    def _highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._show_selected()

    def _show_selected(self) -> None:
        """The selected item in full (the table cuts long texts at narrow widths)."""
        item = self.selected()
        if item is None or self.today is None:
            return
        path = self.files.get(item.doc_id)
        where = path.name if path is not None else item.doc_id
        who = ", ".join(
            part for part in (item.owner, f"due {item.due}" if item.due else None) if part
        )
        late = " · OVERDUE" if item.overdue(self.today) else ""
        line = Text(f"{item.key} · {item.status}{late} · {where}\n")
        line.append(item.text + (f" ({who})" if who else ""), style="bold")
        line.append("\nenter: open its document · x: done · o: ")
        line.append("all items" if self.overdue_only else "overdue only")
        self.query_one("#actions-status", Static).update(line)

    def selected(self) -> ActionState | None:
        table = self.query_one("#actions-table", DataTable)
        row = table.cursor_row
        return self.items[row] if self.items and 0 <= row < len(self.items) else None

    # -- actions -------------------------------------------------------------------------

    def action_toggle_overdue(self) -> None:
        self.overdue_only = not self.overdue_only
        self.reload()

    def action_open_document(self) -> None:
        # Deferred: the editor pulls in the documents core (SQLAlchemy).
        from incidentbook.ui.screens.editor import EditorScreen

        item = self.selected()
        if item is None:
            self.notify("No action item selected.", severity="warning")
            return
        path = self.files.get(item.doc_id)
        if path is None:
            self.notify(f"no file for {item.doc_id}", severity="warning")
            return
        self.app.push_screen(EditorScreen(path))

    @on(DataTable.RowSelected, "#actions-table")
    def _row_selected(self, _event: DataTable.RowSelected) -> None:
        self.action_open_document()

    def action_tick_done(self) -> None:
        item = self.selected()
        if item is None:
            self.notify("No action item selected.", severity="warning")
            return
        if item.status == "done":
            self.notify(f"{item.key} is already done", timeout=3)
            return
        services = self.services
        key = item.key

        def tick() -> ActionTicked:
            ctx = services.context(f"action item {key} done in the app")
            report = services.documents.set_action_done(ctx, key)
            return ActionTicked(key, report.changed)

        run_in_worker(self, tick, group="actions-tick", exclusive=False, catch=IncidentbookError)

    @on(ActionTicked)
    def _ticked(self, message: ActionTicked) -> None:
        self.notify(
            f"{message.key} done, ticked in its document" if message.changed
            else f"{message.key} was already done",
            timeout=4,
        )  # fmt: skip
        self.app.post_message(DataChanged("actions"))  # this screen reloads with the others
