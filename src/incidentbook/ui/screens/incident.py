"""Incident: header, timeline, notes input; acknowledge, resolve, reopen, severity; the way
to its affected accounts (A) and its fix (F)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Header, Input, Label, Static

from incidentbook.clock import humanize_age, parse_iso
from incidentbook.core.documents.premortem import foreseen_for_incident
from incidentbook.core.incidents.timeline import describe
from incidentbook.errors import IncidentbookError
from incidentbook.text import plural
from incidentbook.ui.cells import FittedTable, ellipsized, flexible_width, room, widest
from incidentbook.ui.impact import (
    deploy_lines,
    has_impact,
    impact_line,
    sender_context,
    workspace_zone,
)
from incidentbook.ui.screens.audit import AuditScreen
from incidentbook.ui.screens.base import DataScreen
from incidentbook.ui.screens.editor import start_postmortem
from incidentbook.ui.screens.fix import FixScreen
from incidentbook.ui.screens.severity_dialog import SeverityDialog
from incidentbook.ui.widgets.footer import KeyFooter
from incidentbook.ui.widgets.runbook_panel import RunbookPanel
from incidentbook.ui.widgets.seen_before import SeenBefore
from incidentbook.ui.words import outcome_text
from incidentbook.ui.workers import run_in_worker

if TYPE_CHECKING:
    from collections.abc import Callable

    from incidentbook.context import Context
    from incidentbook.core.alerts.model import AlertGroup
    from incidentbook.core.changes.model import DeployContext
    from incidentbook.core.events.model import Event
    from incidentbook.core.incidents.model import IncidentState, Outcome
    from incidentbook.services import Services


@dataclass
class IncidentLoaded(Message):
    incident: IncidentState
    timeline: list[Event]
    now: datetime
    foreseen: list[str] = field(default_factory=list)  # "foreseen in PRE-0003: risk 2 — …"
    impacts: list[AlertGroup] = field(default_factory=list)  # its reconciler groups
    deploys: DeployContext | None = None  # the changes before its first bad entry or alert
    sender_links: list[str] = field(default_factory=list)  # its alerts' links, client


# The timeline's columns: with room for it (a wide table), the reason has its own column;
# narrower, the time is shortened to month, day and time and the reason is in the event
# detail under the table, which shows the highlighted event in full (cells are cut with an
# ellipsis to fit).
TIMELINE_COLUMNS: tuple[str, ...] = ("Time (UTC)", "Event", "Actor", "Reason")
NARROW_TIMELINE_COLUMNS: tuple[str, ...] = ("Time (UTC)", "Event", "Actor")
REASON_COLUMN_FROM = 100  # the table's room, in cells, from which Reason has its own column
ACTOR_WIDTH = 16


def timeline_rows(
    timeline: list[Event], width: int
) -> tuple[tuple[str, ...], list[tuple[Text, ...]]]:
    """The timeline's columns and rows for a table ``width`` cells wide: the time and actor
    fixed, the event (and the reason) sharing the rest, each cut with an ellipsis."""
    wide = width >= REASON_COLUMN_FROM
    times = [e.recorded_at[:19].replace("T", " ")[0 if wide else 5 :] for e in timeline]
    actors = [ellipsized(e.actor, ACTOR_WIDTH if wide else 12) for e in timeline]
    events = [describe(e.type, e.data) for e in timeline]
    time_width = widest(times, TIMELINE_COLUMNS[0])
    actor_width = widest(actors, "Actor")
    if not wide:
        event_width = flexible_width(width, [time_width, actor_width], minimum=3)
        rows: list[tuple[Text, ...]] = [
            (Text(t), ellipsized(ev, event_width), a)
            for t, ev, a in zip(times, events, actors, strict=True)
        ]
        return NARROW_TIMELINE_COLUMNS, rows
    reasons = [e.reason or "" for e in timeline]
    shared = flexible_width(width, [time_width, actor_width], minimum=8) - 2  # two columns
    reason_width = min(widest(reasons, "Reason"), shared * 2 // 5)
    event_width = shared - reason_width
    rows = [
        (Text(t), ellipsized(ev, event_width), a, ellipsized(r, reason_width))
        for t, ev, a, r in zip(times, events, actors, reasons, strict=True)
    ]
    return TIMELINE_COLUMNS, rows


def event_detail(event: Event) -> Text:
    """One timeline event in full, for the pane under the table."""
    out = Text()
    out.append(event.recorded_at[:19].replace("T", " ") + " UTC", style="bold")
    out.append(f" · {event.actor}\n")
    out.append(describe(event.type, event.data))
    if event.reason:
        out.append(f"\nreason: {event.reason}")
    return out


class IncidentScreen(DataScreen):
    BINDINGS = [
        Binding("escape", "back", "Back", id="incident.back"),
        Binding("a", "acknowledge", "Acknowledge", id="incident.ack"),
        Binding("r", "resolve", "Resolve", id="incident.resolve"),
        Binding("o", "reopen", "Reopen", id="incident.reopen"),
        Binding("s", "severity", "Severity", id="incident.severity"),
        Binding("n", "focus_note", "Note", id="incident.note"),
        Binding("p", "postmortem", "Postmortem", id="incident.postmortem"),
        Binding(
            "F",
            "fix",
            "Fix",
            id="incident.fix",
            tooltip="Fix forward: the correction plan, a dry run, apply (asks first), verify",
        ),
        Binding(
            "A",
            "audit",
            "Accounts",
            id="incident.audit",
            tooltip="The incident's affected accounts, each with its audit trail",
        ),
    ]

    def __init__(self, incident_id: str) -> None:
        super().__init__()
        self.incident_id = incident_id
        self.incident: IncidentState | None = None
        self.timeline: list[Event] = []
        self.timeline_columns: tuple[str, ...] = TIMELINE_COLUMNS

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"{self.incident_id} — loading…", id="incident-header")
        with Horizontal(id="incident-body"):
            with Vertical(id="incident-main"):
                yield Label("Timeline", classes="section-title")
                yield FittedTable(id="timeline", cursor_type="row", zebra_stripes=True)
                yield Static(
                    "No events on this timeline yet — n: add a note, a: acknowledge",
                    id="timeline-empty",
                    classes="empty",
                )
                yield Static("", id="event-detail")
            with VerticalScroll(id="incident-side"):  # scrolls when its panels do not fit
                yield Static("", id="incident-detail")
                yield RunbookPanel(self.services, id="incident-runbook")
                yield SeenBefore(self.services, id="incident-seen")
        yield Input(placeholder="Add a note to the timeline, enter to save (n)", id="note-input")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#timeline", DataTable).add_columns(*TIMELINE_COLUMNS)
        self.query_one("#timeline", DataTable).focus()
        super().on_mount()

    def reload(self) -> None:
        self.load()

    def load(self) -> None:
        services = self.services

        def load() -> IncidentLoaded:
            incident = services.incidents.get(self.incident_id)
            timeline = services.incidents.timeline(self.incident_id)
            return IncidentLoaded(
                incident,
                timeline,
                services.settings.clock(),
                _foreseen(services, incident),
                impacts_of(services, incident.id),
                services.changes.for_incident(incident.id),
                sender_context(services, incident),
            )

        run_in_worker(self, load, group="incident-load", catch=IncidentbookError)

    @on(IncidentLoaded)
    def show(self, message: IncidentLoaded) -> None:
        inc = message.incident
        first_show = self.incident is None or self.incident.runbooks != inc.runbooks
        self.incident = inc
        if first_show:
            self._show_context(inc)
        age = humanize_age((message.now - parse_iso(inc.opened_at)).total_seconds())
        zone = workspace_zone(self.services.settings.timezone)
        impact = "".join("\n" + impact_line(g, zone) for g in message.impacts)
        self.query_one("#incident-header", Static).update(
            f"[b]{inc.id}[/b]  {inc.title}\n"
            f"severity [b]{inc.severity}[/b] · status [b]{inc.status}[/b] · age {age} · "
            f"source {inc.source} · opened by {inc.opened_by}{impact}"
        )
        self.timeline = message.timeline
        self.query_one("#timeline-empty", Static).display = not message.timeline
        self._fill_timeline(cursor=len(message.timeline) - 1)
        lines = [
            f"acknowledged {inc.acknowledged_at[:19]}Z"
            if inc.acknowledged_at
            else "not acknowledged (a)",
            f"resolved {inc.resolved_at[:19]}Z" if inc.resolved_at else "unresolved",
            f"{plural(len(inc.alerts), 'alert')} linked",
            plural(inc.notes_count, "note"),
        ]
        if inc.runbooks:
            lines.append("runbooks: " + ", ".join(inc.runbooks))
        lines.extend(message.foreseen)
        deploys = message.deploys
        if deploys is not None and deploys.changes:
            lines.append("changes before detection:")
            lines.extend(f"  {line}" for line in deploy_lines(deploys, zone))
        lines.extend(message.sender_links)
        # Text, not markup: a change's summary or a link may hold brackets.
        self.query_one("#incident-detail", Static).update(Text("\n".join(lines)))

    def _fill_timeline(self, cursor: int) -> None:
        """Fill the timeline to the table's width, the cursor on row ``cursor``."""
        table = self.query_one("#timeline", DataTable)
        width = room(table, self.app.size.width * 2 // 3 - 3)
        columns, rows = timeline_rows(self.timeline, width)
        changed = columns != self.timeline_columns
        table.clear(columns=changed)
        if changed:
            table.add_columns(*columns)
            self.timeline_columns = columns
        for event, row in zip(self.timeline, rows, strict=True):
            table.add_row(*row, key=str(event.seq))
        if table.row_count:
            table.move_cursor(row=max(0, min(cursor, table.row_count - 1)))
        self._show_event()

    @on(FittedTable.Resized)
    def _timeline_resized(self, _message: FittedTable.Resized) -> None:
        if self.timeline:
            self._fill_timeline(self.query_one("#timeline", DataTable).cursor_row)

    @on(DataTable.RowHighlighted, "#timeline")
    def _event_highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._show_event()

    def _show_event(self) -> None:
        row = self.query_one("#timeline", DataTable).cursor_row
        detail = self.query_one("#event-detail", Static)
        if 0 <= row < len(self.timeline):
            detail.update(event_detail(self.timeline[row]))
        detail.display = bool(self.timeline)

    # -- actions -------------------------------------------------------------------------

    def _confirmed(
        self, command: Callable[[Context, str], Outcome], verb: str, body: str, reason: str
    ) -> None:
        """A state change, asked first (enter: yes, escape: no)."""
        ctx = self.services.context(reason)
        iid = self.incident_id
        self.confirm_command(
            f"{verb.capitalize()} {iid}?",
            body,
            lambda: command(ctx, iid),
            outcome_text,
            cancelled=f"{iid} not {verb}d" if verb.endswith("e") else f"{iid} not {verb}ed",
        )

    def action_acknowledge(self) -> None:
        inc = self.incident
        if inc is not None and inc.status != "open":
            self.notify(
                f"{inc.id} is already {inc.status}"
                + (" (o reopens it)" if inc.status == "resolved" else ""),
                timeout=4,
            )
            return
        self._confirmed(
            self.services.incidents.acknowledge,
            "acknowledge",
            "You take it: the incident is marked acknowledged, by you, now.",
            "acknowledged in the app",
        )

    def action_resolve(self) -> None:
        self.confirm_resolve(self.incident_id)

    def action_reopen(self) -> None:
        inc = self.incident
        if inc is not None and inc.status != "resolved":
            self.notify(f"{inc.id} is not resolved ({inc.status}): nothing to reopen", timeout=4)
            return
        self._confirmed(
            self.services.incidents.reopen,
            "reopen",
            "The incident goes back to open; its timeline keeps the resolve.",
            "reopened in the app",
        )

    def action_severity(self) -> None:
        current = self.incident.severity if self.incident else "error"

        def chosen(level: str | None) -> None:
            if level is None:
                return
            ctx = self.services.context("severity changed in the app")
            iid = self.incident_id
            self.run_command(
                lambda: self.services.incidents.set_severity(ctx, iid, level), outcome_text
            )

        self.app.push_screen(SeverityDialog(current), chosen)

    def _show_context(self, inc: IncidentState) -> None:
        """The linked runbook (or the one its alerts match) and similar past incidents."""
        runbook = self.query_one("#incident-runbook", RunbookPanel)
        if inc.runbooks:
            runbook.show_runbook(inc.runbooks[0])
        else:
            runbook.show_alert(inc.group_key or inc.title)
        self.query_one("#incident-seen", SeenBefore).show_for(
            alert_name=inc.group_key, text=inc.title, exclude=inc.id
        )

    @on(SeenBefore.Chosen)
    def _past_incident_chosen(self, message: SeenBefore.Chosen) -> None:
        self.app.push_screen(IncidentScreen(message.incident_id))

    def action_audit(self) -> None:
        self.app.push_screen(AuditScreen(incident_id=self.incident_id))

    def action_fix(self) -> None:
        self.app.push_screen(FixScreen(self.incident_id))

    def action_postmortem(self) -> None:
        """Open the incident's postmortem in the editor, starting it from the template."""
        if self.incident is not None and self.incident.status != "resolved":
            self.notify(f"{self.incident_id} is not resolved yet (r resolves it)", timeout=4)
            return
        start_postmortem(self, self.incident_id)

    def action_focus_note(self) -> None:
        self.query_one("#note-input", Input).focus()

    def action_back(self) -> None:
        """Escape goes back one step: out of the note field to the timeline, else to the
        screen before."""
        if self.focused is self.query_one("#note-input", Input):
            self.query_one("#timeline", DataTable).focus()
        else:
            self.app.pop_screen()

    @on(Input.Submitted, "#note-input")
    def _note_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            return
        event.input.value = ""
        ctx = self.services.context()
        iid = self.incident_id
        self.run_command(
            lambda: self.services.incidents.add_note(ctx, iid, text),
            lambda o: "note added" if o.changed else "note already recorded",
        )
        # The field keeps the focus: what is typed next is another note, never a key
        # (escape leaves it for the timeline).


def impacts_of(services: Services, incident_id: str) -> list[AlertGroup]:
    """The firing reconciler groups whose incident this is, each with its impact."""
    return [g for g in services.alerts.groups() if g.incident_id == incident_id and has_impact(g)]


def _foreseen(services: Services, incident: IncidentState) -> list[str]:
    """Pre-mortem risks that foresaw this incident (issue 6's risk register)."""
    try:
        found = foreseen_for_incident(services.settings, services.db, incident.id)
    except IncidentbookError:
        return []
    return [f"{f.label} — {f.risk_title}" for f in found]
