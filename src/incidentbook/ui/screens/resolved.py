"""Resolved incidents (``incident list --all``, the resolved ones): newest resolution first,
with how long each took; enter opens the incident (its timeline, its postmortem key)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable, Header, Label, Static

from incidentbook.clock import humanize_age, parse_iso
from incidentbook.ui.screens.base import DataScreen
from incidentbook.ui.widgets.footer import KeyFooter
from incidentbook.ui.widgets.severity import severity_text
from incidentbook.ui.workers import run_in_worker

if TYPE_CHECKING:
    from incidentbook.core.incidents.model import IncidentState

COLUMNS = ("Incident", "Severity", "Resolved", "Took", "Title")
EMPTY = "No resolved incidents yet: r on an open incident resolves it (with a reason)."


@dataclass
class ResolvedLoaded(Message):
    incidents: list[IncidentState]


def resolved_row(incident: IncidentState) -> tuple[str, str, str, str]:
    """Id, when it was resolved (UTC, to the minute), how long it was open, title."""
    resolved = incident.resolved_at or ""
    took = (
        humanize_age((parse_iso(resolved) - parse_iso(incident.opened_at)).total_seconds())
        if resolved
        else "—"
    )
    return (incident.id, resolved[:16].replace("T", " ") or "—", took, incident.title)


class ResolvedScreen(DataScreen):
    DEFAULT_CSS = """
    ResolvedScreen #resolved-table { height: 1fr; }
    ResolvedScreen #resolved-status { height: auto; padding: 0 1; }
    """

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="resolved.back"),
        Binding("enter,o", "open_selected", "Open", id="resolved.open"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.incidents: list[IncidentState] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Label("Resolved incidents", classes="section-title", id="resolved-title")
        yield DataTable(id="resolved-table", cursor_type="row", zebra_stripes=True)
        yield Static("Loading…", id="resolved-status")
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one("#resolved-table", DataTable)
        table.add_columns(*COLUMNS)
        table.focus()
        super().on_mount()

    def reload(self) -> None:
        incidents = self.services.incidents

        def load() -> ResolvedLoaded:
            every = incidents.list_incidents(include_resolved=True)
            done = [i for i in every if i.status == "resolved"]
            done.sort(key=lambda i: (i.resolved_at or "", i.number), reverse=True)
            return ResolvedLoaded(done)

        run_in_worker(self, load, group="resolved-load")

    @on(ResolvedLoaded)
    def _show(self, message: ResolvedLoaded) -> None:
        self.incidents = message.incidents
        table = self.query_one("#resolved-table", DataTable)
        table.clear()
        for incident in message.incidents:
            iid, resolved, took, title = resolved_row(incident)
            row = (iid, severity_text(incident.severity), resolved, took, Text(title))
            table.add_row(*row, key=iid)
        self.query_one("#resolved-title", Label).update(
            f"Resolved incidents ({len(message.incidents)})"
        )
        self.query_one("#resolved-status", Static).update(
            "enter: open · escape: back" if message.incidents else EMPTY
        )

    @on(DataTable.RowSelected, "#resolved-table")
    def _row_selected(self, _event: DataTable.RowSelected) -> None:
        self.action_open_selected()

    def action_open_selected(self) -> None:
        # Deferred: the Incident screen pulls in SQLAlchemy.
        from incidentbook.ui.screens.incident import IncidentScreen

        row = self.query_one("#resolved-table", DataTable).cursor_row
        if not self.incidents or not 0 <= row < len(self.incidents):
            self.notify("No resolved incident selected.", severity="warning")
            return
        self.app.push_screen(IncidentScreen(self.incidents[row].id))
