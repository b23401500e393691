"""Triage (home): firing alert groups and open incidents, worst first, with their age."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.coordinate import Coordinate
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Label, Static

from incidentbook.clock import humanize_age, parse_iso
from incidentbook.ui.impact import (
    accounts_text,
    has_impact,
    impact_cell,
    impact_detail,
    money_short,
    money_text,
    workspace_zone,
)
from incidentbook.ui.screens.base import DataScreen
from incidentbook.ui.widgets.runbook_panel import RunbookPanel
from incidentbook.ui.widgets.seen_before import SeenBefore
from incidentbook.ui.widgets.severity import severity_text

if TYPE_CHECKING:
    from incidentbook.core.alerts.model import AlertGroup
    from incidentbook.core.incidents.model import IncidentState


@dataclass
class TriageLoaded(Message):
    groups: list[AlertGroup]
    incidents: list[IncidentState]
    now: datetime


# The group table's columns by the screen's width. Wide: every column, Δ in every currency;
# medium: Δ shortened to its first currency and how many more; narrow (80 columns): the group,
# one impact cell (accounts and Δ, or the firing count for other sources) and the incident.
WIDE, MEDIUM, NARROW = "wide", "medium", "narrow"
FULL_COLUMNS = ("Group", "Firing", "Severity", "Since", "Incident", "Accounts", "Δ")
NARROW_COLUMNS = ("Group", "Impact", "Incident")


def group_layout(width: int) -> str:
    if width < 110:
        return NARROW
    return WIDE if width >= 150 else MEDIUM


def group_row(group: AlertGroup, now: datetime, layout: str) -> tuple[object, ...]:
    """A group's cells in ``layout``: reconciler groups with their accounts and Δ per currency,
    other groups with their firing count only."""
    incident = group.incident_id or "—"
    if layout == NARROW:
        return (group.key, impact_cell(group), incident)
    impact = has_impact(group)
    money = group.delta_minor_by_currency
    return (
        group.key,
        f"{group.firing:,}",
        severity_text(group.severity),
        humanize_age((now - parse_iso(group.since)).total_seconds()),
        incident,
        accounts_text(group.accounts) if impact else "",
        (money_text(money) if layout == WIDE else money_short(money)) if impact else "",
    )


class TriageScreen(DataScreen):
    BINDINGS = [
        Binding("enter", "open_selected", "Open", id="triage.open"),
        Binding(
            "a",
            "acknowledge",
            "Acknowledge",
            id="triage.ack",
            tooltip="Acknowledge the selected incident, or the selected alert group "
            "(opens or joins its incident)",
        ),
        Binding("r", "resolve", "Resolve", id="triage.resolve"),
        Binding("n", "new_incident", "New incident", id="triage.new"),
        Binding(
            "A",
            "audit",
            "Account audit",
            id="triage.audit",
            tooltip="Affected accounts of the selected group or incident, with audit trails",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.groups: list[AlertGroup] = []
        self.incidents: list[IncidentState] = []
        self.loaded = False  # until the first load, the panel says so rather than "all quiet"
        self.context_shown: tuple[str, str] | None = None
        self.now: datetime | None = None
        self.table_layout: str | None = None  # the group table's columns

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="triage-body"):
            with Vertical(id="triage-main"):
                yield Label("Alert groups (firing)", classes="section-title")
                yield DataTable(id="groups", cursor_type="row", zebra_stripes=True)
                yield Label("Open incidents", classes="section-title")
                yield DataTable(id="incidents", cursor_type="row", zebra_stripes=True)
            with Vertical(id="triage-side"):
                yield Static("Opening the workspace…", id="triage-detail")
                yield RunbookPanel(self.services, id="triage-runbook")
                yield SeenBefore(self.services, id="triage-seen")
        yield Footer()

    def on_mount(self) -> None:
        self._set_group_layout(group_layout(self.app.size.width))
        incidents = self.query_one("#incidents", DataTable)
        incidents.add_columns("Incident", "Severity", "Status", "Age", "Title")
        incidents.focus()
        super().on_mount()

    def reload(self) -> None:
        self.load()

    def on_resize(self, event: events.Resize) -> None:
        layout = group_layout(event.size.width)
        if layout != self.table_layout:
            self._set_group_layout(layout)
            self._fill_groups()

    def _set_group_layout(self, layout: str) -> None:
        self.table_layout = layout
        table = self.query_one("#groups", DataTable)
        table.clear(columns=True)
        table.add_columns(*(NARROW_COLUMNS if layout == NARROW else FULL_COLUMNS))

    def _fill_groups(self) -> None:
        if self.now is None or self.table_layout is None:
            return
        now, layout = self.now, self.table_layout
        _refill(
            self.query_one("#groups", DataTable),
            [group_row(g, now, layout) for g in self.groups],
            [g.key for g in self.groups],
        )

    @work(thread=True, exclusive=True, group="triage-load")
    def load(self) -> None:
        services = self.services
        groups = services.alerts.groups()
        incidents = services.incidents.list_incidents()
        self.post_message(TriageLoaded(groups, incidents, services.settings.clock()))

    @on(TriageLoaded)
    def show(self, message: TriageLoaded) -> None:
        self.groups, self.incidents = message.groups, message.incidents
        self.loaded = True
        now = self.now = message.now
        groups = self.query_one("#groups", DataTable)
        self._fill_groups()
        incidents = self.query_one("#incidents", DataTable)
        _refill(
            incidents,
            [
                (
                    i.id,
                    severity_text(i.severity),
                    i.status,
                    humanize_age((now - parse_iso(i.opened_at)).total_seconds()),
                    i.title,
                )
                for i in message.incidents
            ],
            [i.id for i in message.incidents],
        )
        if not message.incidents and message.groups and self.focused is incidents:
            groups.focus()  # nothing to look at in an empty table
        self._update_detail()

    def _update_detail(self) -> None:
        if not self.loaded:
            return
        detail = self.query_one("#triage-detail", Static)
        if not self.groups and not self.incidents:
            detail.update(
                "All quiet: no firing alerts, no open incidents.\n\n"
                "n  open an incident by hand\n?  help"
            )
            return
        group = self._selected_group()
        incident = self._selected_incident()
        self._show_context(group, incident)
        if group is not None:
            zone = workspace_zone(self.services.settings.timezone)
            impact = "".join(line + "\n" for line in impact_detail(group, zone))
            detail.update(
                f"[b]{group.key}[/b]\n{impact}{group.firing:,} firing, worst {group.severity}\n"
                f"since {group.since[:19]}Z\nlast seen {group.last_seen[:19]}Z\n"
                f"incident: {group.incident_id or 'none yet (a: acknowledge to open one)'}"
            )
        elif incident is not None:
            detail.update(
                f"[b]{incident.id}[/b] {incident.title}\n{incident.severity}, {incident.status}\n"
                f"opened {incident.opened_at[:19]}Z by {incident.opened_by}\n"
                f"{len(incident.alerts)} alerts, {incident.notes_count} notes\n\nenter: open"
            )
        else:
            detail.update(
                f"{len(self.groups)} alert groups firing, {len(self.incidents)} open incidents."
                "\n\ntab: move between the tables"
            )

    def _show_context(self, group: AlertGroup | None, incident: IncidentState | None) -> None:
        """The runbook and the past incidents for what is selected (loaded once per selection,
        in the widgets' own workers)."""
        if group is not None:
            key = ("group", group.key)
        elif incident is not None:
            key = ("incident", incident.id)
        else:
            return
        if key == self.context_shown:
            return
        self.context_shown = key
        runbook = self.query_one("#triage-runbook", RunbookPanel)
        seen = self.query_one("#triage-seen", SeenBefore)
        if group is not None:
            runbook.show_alert(group.key)
            seen.show_for(alert_name=group.key, text=group.key)
        elif incident is not None:
            if incident.runbooks:
                runbook.show_runbook(incident.runbooks[0])
            elif incident.group_key:
                runbook.show_alert(incident.group_key)
            else:
                runbook.show_alert(incident.title)
            seen.show_for(alert_name=incident.group_key, text=incident.title, exclude=incident.id)

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._update_detail()

    def on_descendant_focus(self, _event: events.DescendantFocus) -> None:
        # The side panel follows the table the operator is in.
        self._update_detail()

    @on(DataTable.RowSelected)
    def _row_selected(self, _event: DataTable.RowSelected) -> None:
        self.action_open_selected()

    def _focused_table(self) -> str:
        focused = self.focused
        return focused.id if isinstance(focused, DataTable) and focused.id else "incidents"

    def _selected_group(self) -> AlertGroup | None:
        if self._focused_table() != "groups" or not self.groups:
            return None
        row = self.query_one("#groups", DataTable).cursor_row
        return self.groups[row] if 0 <= row < len(self.groups) else None

    def _selected_incident(self) -> IncidentState | None:
        if self._focused_table() != "incidents" or not self.incidents:
            return None
        row = self.query_one("#incidents", DataTable).cursor_row
        return self.incidents[row] if 0 <= row < len(self.incidents) else None

    # -- actions -------------------------------------------------------------------------

    def action_open_selected(self) -> None:
        # Deferred: the Incident screen pulls in SQLAlchemy, which the first paint does not need.
        from incidentbook.ui.screens.incident import IncidentScreen

        incident = self._selected_incident()
        if incident is not None:
            self.app.push_screen(IncidentScreen(incident.id))
            return
        group = self._selected_group()
        if group is not None and group.incident_id:
            self.app.push_screen(IncidentScreen(group.incident_id))
        elif group is not None:
            self.notify("No incident for this group yet: press a to acknowledge it.")

    def action_acknowledge(self) -> None:
        ctx = self.services.context("acknowledged from triage")
        group = self._selected_group()
        if group is not None:
            key = group.key
            self.run_command(
                lambda: self.services.alerts.acknowledge_group(ctx, key),
                lambda o: f"{o.incident.id}: acknowledged group {key}",
            )
            return
        incident = self._selected_incident()
        if incident is not None:
            iid = incident.id
            self.run_command(
                lambda: self.services.incidents.acknowledge(ctx, iid), lambda o: o.message
            )

    def action_resolve(self) -> None:
        incident = self._selected_incident()
        if incident is None:
            self.notify("Select an incident to resolve.", severity="warning")
            return
        ctx = self.services.context("resolved from triage")
        iid = incident.id
        self.run_command(lambda: self.services.incidents.resolve(ctx, iid), lambda o: o.message)

    def action_audit(self) -> None:
        # Deferred: the Audit screen pulls in SQLAlchemy, which the first paint does not need.
        from incidentbook.ui.screens.audit import AuditScreen

        group = self._selected_group()
        incident = self._selected_incident()
        if group is not None:
            self.app.push_screen(AuditScreen(check=group.key, incident_id=group.incident_id))
        elif incident is not None:
            self.app.push_screen(AuditScreen(incident_id=incident.id))
        else:
            self.app.push_screen(AuditScreen())

    def action_new_incident(self) -> None:
        # Deferred: the dialog's severities come from core.incidents, which pulls in SQLAlchemy.
        from incidentbook.ui.screens.new_incident import NewIncidentDialog

        def opened(result: tuple[str, str] | None) -> None:
            if result is None:
                return
            title, severity = result
            ctx = self.services.context("opened from triage")
            self.run_command(
                lambda: self.services.incidents.open(ctx, title, severity), lambda o: o.message
            )

        self.app.push_screen(NewIncidentDialog(), opened)


def _refill(table: DataTable[object], rows: list[tuple[object, ...]], keys: list[str]) -> None:
    """Replace a table's rows, keeping the cursor on the same key when it is still there."""
    selected: str | None = None
    if table.row_count and 0 <= table.cursor_row < table.row_count:
        selected = str(table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value)
    table.clear()
    for key, row in zip(keys, rows, strict=True):
        table.add_row(*row, key=key)
    if selected in keys:
        table.move_cursor(row=keys.index(selected))
