"""Triage (home): firing alert groups and open incidents, worst first, with their age."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.coordinate import Coordinate
from textual.message import Message
from textual.widgets import DataTable, Header, Label, Static

from incidentbook.clock import humanize_age, parse_iso
from incidentbook.text import plural
from incidentbook.ui.cells import FittedTable, ellipsized, flexible_width, room, widest
from incidentbook.ui.impact import (
    has_impact,
    impact_detail,
    money_short,
    money_text,
    workspace_zone,
)
from incidentbook.ui.screens.base import DataScreen
from incidentbook.ui.widgets.footer import KeyFooter
from incidentbook.ui.widgets.runbook_panel import RunbookPanel
from incidentbook.ui.widgets.seen_before import SeenBefore
from incidentbook.ui.widgets.severity import severity_text
from incidentbook.ui.words import outcome_text

if TYPE_CHECKING:
    from incidentbook.core.alerts.model import AlertGroup
    from incidentbook.core.incidents.model import IncidentState


@dataclass
class TriageLoaded(Message):
    groups: list[AlertGroup]
    incidents: list[IncidentState]
    now: datetime


# The group table's layouts, richest first; the first whose rows fit the table's width is
# used. Wide: every column, Δ in every currency; medium: Δ shortened to its first currency and
# how many more; compact: without "Since" (the detail says it); narrow (80 columns): the group
# (its key cut with an ellipsis to the width the others leave), since, accounts (or the firing
# count for other sources) and the short Δ; the detail beside says the rest.
WIDE, MEDIUM, COMPACT, NARROW = "wide", "medium", "compact", "narrow"
LAYOUTS = (WIDE, MEDIUM, COMPACT, NARROW)
FULL_COLUMNS = ("Group", "Firing", "Severity", "Since", "Incident", "Accounts", "Δ")
COMPACT_COLUMNS = ("Group", "Firing", "Severity", "Incident", "Accounts", "Δ")
NARROW_COLUMNS = ("Group", "Since", "Impact", "Δ")
NARROW_KEY = 18  # the group key's width in the narrow layout before the table is laid out
COLUMNS = {WIDE: FULL_COLUMNS, MEDIUM: FULL_COLUMNS, COMPACT: COMPACT_COLUMNS,
           NARROW: NARROW_COLUMNS}  # fmt: skip
INCIDENT_COLUMNS = ("Incident", "Severity", "Status", "Age", "Title")


def group_row(
    group: AlertGroup, now: datetime, layout: str, key_width: int = NARROW_KEY
) -> tuple[str | Text, ...]:
    """A group's cells in ``layout``: reconciler groups with their accounts and Δ per currency,
    other groups with their firing count only."""
    incident = group.incident_id or "—"
    impact = has_impact(group)
    money = group.delta_minor_by_currency
    since = humanize_age((now - parse_iso(group.since)).total_seconds())
    if layout == NARROW:
        key = ellipsized(group.key, key_width)
        if not impact:
            return (key, since, f"{group.firing:,} firing", "")
        return (key, since, plural(group.accounts or 0, "acct"), money_short(money))
    cells = (
        group.key,
        f"{group.firing:,}",
        group.severity,
        since,
        incident,
        f"{group.accounts:,}" if impact else "",
        (money_text(money) if layout == WIDE else money_short(money)) if impact else "",
    )
    return cells if layout != COMPACT else cells[:3] + cells[4:]


def table_width(screen_width: int) -> int:
    """The group table's width at a screen width before it is laid out: two thirds of it,
    less its border and the scrollbar."""
    return screen_width * 2 // 3 - 3


def fitting_layout(groups: list[AlertGroup], now: datetime, width: int) -> str:
    """The richest layout whose columns (widest cell plus padding) fit ``width``."""
    for layout in LAYOUTS[:-1]:
        rows = [COLUMNS[layout], *(group_row(g, now, layout) for g in groups)]
        needed = sum(widest(r[c] for r in rows) + 2 for c in range(len(COLUMNS[layout])))
        if needed <= width:
            return layout
    return NARROW


def narrow_rows(
    groups: list[AlertGroup], now: datetime, width: int
) -> list[tuple[str | Text, ...]]:
    """The narrow layout's rows, the group key given what the other columns leave of
    ``width``."""
    rows = [group_row(g, now, NARROW) for g in groups]
    fixed = [widest((r[c] for r in rows), NARROW_COLUMNS[c]) for c in range(1, 4)]
    key_width = flexible_width(width, fixed, minimum=4)
    return [group_row(g, now, NARROW, key_width) for g in groups]


def incident_rows(
    incidents: list[IncidentState], now: datetime, width: int
) -> list[tuple[str | Text, ...]]:
    """The open incidents' rows, each title cut to what the other columns leave of
    ``width`` (the detail beside shows it whole)."""
    rows = [
        (
            i.id,
            severity_text(i.severity),
            i.status,
            humanize_age((now - parse_iso(i.opened_at)).total_seconds()),
        )
        for i in incidents
    ]
    fixed = [widest((r[c] for r in rows), INCIDENT_COLUMNS[c]) for c in range(4)]
    title_width = flexible_width(width, fixed, minimum=3)
    titles = [ellipsized(i.title, title_width) for i in incidents]
    return [(*row, title) for row, title in zip(rows, titles, strict=True)]


# What an empty table says: why it is empty, and what to do.
EMPTY_GROUPS = (
    "No firing alert groups — reconcile, the receiver or `alerts ingest` bring them in"
)
EMPTY_INCIDENTS = "No open incidents — a: acknowledge a group · n: open one by hand"


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
            "slash", "app.open_screen('search')", "Search", key_display="/", id="triage.search"
        ),
        Binding(
            "A",
            "audit",
            "Accounts",
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
        self.last_table = "incidents"  # the table last focused

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="triage-body"):
            with Vertical(id="triage-main"):
                yield Label("Alert groups (firing)", classes="section-title")
                yield FittedTable(id="groups", cursor_type="row", zebra_stripes=True)
                yield Static(EMPTY_GROUPS, id="groups-empty", classes="empty")
                yield Label("Open incidents", classes="section-title")
                yield FittedTable(id="incidents", cursor_type="row", zebra_stripes=True)
                yield Static(EMPTY_INCIDENTS, id="incidents-empty", classes="empty")
            with VerticalScroll(id="triage-side"):  # scrolls when its panels do not fit
                yield Static("Opening the workspace…", id="triage-detail")
                yield RunbookPanel(self.services, id="triage-runbook")
                yield SeenBefore(self.services, id="triage-seen")
        yield KeyFooter(compact=True)  # at 80 columns it keeps / Search and ? Help

    def on_mount(self) -> None:
        self.query_one("#groups", DataTable).add_columns(*FULL_COLUMNS)
        self.table_layout = WIDE
        incidents = self.query_one("#incidents", DataTable)
        incidents.add_columns(*INCIDENT_COLUMNS)
        incidents.focus()
        super().on_mount()

    def reload(self) -> None:
        self.load()

    @on(FittedTable.Resized)
    def _table_resized(self, message: FittedTable.Resized) -> None:
        # the cells are cut to the table's width
        if message.table.id == "groups":
            self._fill_groups()
        else:
            self._fill_incidents()

    def _fill_groups(self) -> None:
        """Fill the group table in the richest layout that fits (the columns change only when
        the layout does)."""
        now = self.now
        if now is None:
            return
        table = self.query_one("#groups", DataTable)
        width = room(table, table_width(self.app.size.width))
        layout = fitting_layout(self.groups, now, width)
        rows: list[tuple[object, ...]] = [group_row(g, now, layout) for g in self.groups]
        if layout == NARROW:
            rows = list(narrow_rows(self.groups, now, width))
        else:  # the severity in its colour
            rows = [(r[0], r[1], severity_text(str(r[2])), *r[3:]) for r in rows]
        columns = COLUMNS[layout] if layout != self.table_layout else None
        self.table_layout = layout
        _refill(table, rows, [g.key for g in self.groups], columns=columns)

    def _fill_incidents(self) -> None:
        """Fill the open incidents, each title cut to the table's width."""
        now = self.now
        if now is None:
            return
        table = self.query_one("#incidents", DataTable)
        width = room(table, table_width(self.app.size.width))
        rows: list[tuple[object, ...]] = list(incident_rows(self.incidents, now, width))
        _refill(table, rows, [i.id for i in self.incidents])

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
        self.now = message.now
        groups = self.query_one("#groups", DataTable)
        self._fill_groups()
        incidents = self.query_one("#incidents", DataTable)
        self._fill_incidents()
        self.query_one("#groups-empty", Static).display = not message.groups
        self.query_one("#incidents-empty", Static).display = not message.incidents
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
                f"{plural(len(incident.alerts), 'alert')}, {plural(incident.notes_count, 'note')}"
                "\n\nenter: open"
            )
        else:
            detail.update(
                f"{plural(len(self.groups), 'alert group')} firing, "
                f"{plural(len(self.incidents), 'open incident')}."
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

    @on(SeenBefore.Chosen)
    def _past_incident_chosen(self, message: SeenBefore.Chosen) -> None:
        # Deferred: the Incident screen pulls in SQLAlchemy, which the first paint does not need.
        from incidentbook.ui.screens.incident import IncidentScreen

        self.app.push_screen(IncidentScreen(message.incident_id))

    @on(DataTable.RowSelected)
    def _row_selected(self, _event: DataTable.RowSelected) -> None:
        self.action_open_selected()

    def _focused_table(self) -> str:
        """The table the operator is in, or was last in (the side panels keep showing its
        selection while the focus is in them: "seen before" is the group's)."""
        focused = self.focused
        if isinstance(focused, DataTable) and focused.id:
            self.last_table = focused.id
        return self.last_table

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
        """Acknowledge the selected group or incident, after a question; a group whose
        incident is already acknowledged opens nothing new, and one whose incident was
        resolved while its alerts still fire is offered that incident's reopening."""
        group = self._selected_group()
        if group is not None:
            self._acknowledge_group(group)
            return
        incident = self._selected_incident()
        if incident is None:
            self.notify("Select an alert group or an incident to acknowledge.", timeout=3)
            return
        iid = incident.id
        if incident.status != "open":
            self.notify(f"{iid} is already {incident.status}", timeout=4)
            return
        ctx = self.services.context("acknowledged from triage")
        incidents = self.services.incidents
        self.confirm_command(
            f"Acknowledge {iid}?",
            f"{incident.title}\nYou take it: the incident is marked acknowledged, by you, now.",
            lambda: incidents.acknowledge(ctx, iid),
            outcome_text,
            cancelled=f"{iid} not acknowledged",
        )

    def _acknowledge_group(self, group: AlertGroup) -> None:
        key, iid = group.key, group.incident_id
        firing = plural(group.firing, "alert")
        ctx = self.services.context("acknowledged from triage")
        alerts = self.services.alerts
        current = next((i for i in self.incidents if i.id == iid), None)
        if iid is not None and current is None:
            # Its incident is resolved (the open list lacks it) while its alerts still fire:
            # acknowledging anew would open a second incident for the same alerts.

            self.confirm_command(
                f"Reopen {iid}?",
                f"Group {key}'s incident {iid} is resolved, with {firing} still firing.\n"
                f"Reopen {iid} and acknowledge it (no second incident is opened)?",
                lambda: alerts.acknowledge_group(ctx, key, reopen=True),
                lambda o: f"{o.incident.id} reopened and acknowledged (group {key})",
                cancelled=f"{iid} stays resolved",
            )
            return
        if current is not None and current.status != "open":
            self.notify(
                f"Group {key} is already acknowledged: {current.id} (enter opens it)", timeout=4
            )
            return
        if current is not None:
            body = f"Group {key} ({firing}) belongs to {current.id}: it is marked acknowledged."
        else:
            body = f"Opens an incident for group {key} and links its {firing}."
        self.confirm_command(
            f"Acknowledge group {key}?",
            body,
            lambda: alerts.acknowledge_group(ctx, key),
            lambda o: "\n".join([f"{o.incident.id}: acknowledged group {key}", *o.warnings]),
            cancelled=f"group {key} not acknowledged",
        )

    def action_resolve(self) -> None:
        incident = self._selected_incident()
        if incident is None:
            self.notify("Select an incident to resolve.", severity="warning")
            return
        self.confirm_resolve(incident.id)

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
                lambda: self.services.incidents.open(ctx, title, severity), outcome_text
            )

        self.app.push_screen(NewIncidentDialog(), opened)


def _refill(
    table: DataTable[object],
    rows: list[tuple[object, ...]],
    keys: list[str],
    *,
    columns: tuple[str, ...] | None = None,
) -> None:
    """Replace a table's rows (and its columns, when given), keeping the cursor on the same
    key when it is still there."""
    selected: str | None = None
    if table.row_count and 0 <= table.cursor_row < table.row_count:
        selected = str(table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value)
    table.clear(columns=columns is not None)
    if columns is not None:
        table.add_columns(*columns)
    for key, row in zip(keys, rows, strict=True):
        table.add_row(*row, key=key)
    if selected in keys:
        table.move_cursor(row=keys.index(selected))
