"""Incidents' value types and their pure fold of events: ids, severities, statuses, state.

Each incident is a stream of events (``incident:INC-0007``); its state is ``derive``d by
``apply``ing them in order. No SQL here: ``store`` keeps the projection table and
``service`` records the events.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from incidentbook.core.events.model import Event
from incidentbook.errors import UsageError

SEVERITIES = ("critical", "error", "warning", "info")
STATUSES = ("open", "acknowledged", "resolved")
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}
STREAM_PREFIX = "incident:"

OPENED = "incident.opened"
ACKNOWLEDGED = "incident.acknowledged"
SEVERITY_CHANGED = "incident.severity_changed"
NOTE_ADDED = "incident.note_added"
RUNBOOK_LINKED = "incident.runbook_linked"
ALERT_LINKED = "incident.alert_linked"
ALERTS_LINKED = "incident.alerts_linked"  # a batch: {"fingerprints": [...]}
RESOLVED = "incident.resolved"
REOPENED = "incident.reopened"
# Another alert group joined this incident (``ack-group KEY --incident ID``): {"group_key"}
GROUP_JOINED = "incident.group_joined"
# The title changed: {"from", "to"}. Today only an incident opened from a reconciler group
# is retitled, as the group changes (its title follows the group's impact; issue 12).
RETITLED = "incident.retitled"
# fix forward (core/fixes): a plan made for the incident, and each applied batch of one
FIX_PLANNED = "incident.fix_planned"
CORRECTION_APPLIED = "incident.correction_applied"


def format_id(number: int) -> str:
    return f"INC-{number:04d}"


def parse_id(text: str) -> str:
    """Accept 'INC-0007', 'inc-7' or '7'; return the canonical id."""
    raw = text.strip().upper()
    digits = raw[4:] if raw.startswith("INC-") else raw
    if not digits.isdigit() or int(digits) <= 0:
        raise UsageError(f"not an incident id: {text!r} (expected like INC-0007)")
    return format_id(int(digits))


def check_severity(value: str) -> str:
    level = value.strip().lower()
    if level not in SEVERITIES:
        raise UsageError(f"unknown severity {value!r}; choose one of {', '.join(SEVERITIES)}")
    return level


@dataclass(frozen=True)
class IncidentState:
    """The state of one incident, derived from its events alone."""

    id: str
    number: int
    title: str
    severity: str
    status: str
    source: str
    group_key: str | None
    opened_at: str
    opened_by: str
    acknowledged_at: str | None = None
    resolved_at: str | None = None
    updated_at: str = ""
    notes_count: int = 0
    runbooks: tuple[str, ...] = field(default_factory=tuple)
    alerts: tuple[str, ...] = field(default_factory=tuple)
    last_seq: int = 0

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["runbooks"] = list(self.runbooks)
        values["alerts"] = list(self.alerts)
        return values


def triage_order(state: IncidentState) -> tuple[bool, int, int]:
    """Sort key of incident lists: unresolved first, then the most severe, then the newest."""
    return (state.status == "resolved", SEVERITY_RANK.get(state.severity, 9), -state.number)


def apply(state: IncidentState | None, event: Event) -> IncidentState:
    """Fold one event into an incident's state. Pure: the same events give the same state."""
    at = event.recorded_at
    data = event.data
    if event.type == OPENED:
        return IncidentState(
            id=event.stream.removeprefix(STREAM_PREFIX),
            number=int(data["number"]),
            title=str(data["title"]),
            severity=str(data["severity"]),
            status="open",
            source=str(data.get("source", "manual")),
            group_key=data.get("group_key"),
            opened_at=at,
            opened_by=event.actor,
            updated_at=at,
            last_seq=event.seq,
        )
    if state is None:
        raise ValueError(f"event {event.seq} ({event.type}) precedes {event.stream}'s opening")
    state = replace(state, updated_at=at, last_seq=event.seq)
    if event.type == ACKNOWLEDGED:
        return replace(state, status="acknowledged", acknowledged_at=at)
    if event.type == SEVERITY_CHANGED:
        return replace(state, severity=str(data["to"]))
    if event.type == RETITLED:
        return replace(state, title=str(data["to"]))
    if event.type == NOTE_ADDED:
        return replace(state, notes_count=state.notes_count + 1)
    if event.type == RUNBOOK_LINKED:
        return replace(state, runbooks=(*state.runbooks, str(data["runbook"])))
    if event.type == ALERT_LINKED:
        return replace(state, alerts=(*state.alerts, str(data["fingerprint"])))
    if event.type == ALERTS_LINKED:
        known = set(state.alerts)
        added = [str(f) for f in data["fingerprints"] if str(f) not in known]
        return replace(state, alerts=(*state.alerts, *dict.fromkeys(added)))
    if event.type == RESOLVED:
        return replace(state, status="resolved", resolved_at=at)
    if event.type == REOPENED:
        return replace(state, status="open", acknowledged_at=None, resolved_at=None)
    # Event types from later releases that do not change the projected fields.
    return state


def derive(events: list[Event]) -> IncidentState | None:
    state: IncidentState | None = None
    for event in events:
        state = apply(state, event)
    return state


@dataclass(frozen=True)
class Outcome:
    """What a command did: the incident after it, and whether anything was recorded;
    ``warnings``: what went wrong beside it without undoing it (one line each)."""

    incident: IncidentState
    changed: bool
    event: Event | None = None
    message: str = ""
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "incident": self.incident.to_dict(),
            "changed": self.changed,
            "event": self.event.to_dict() if self.event else None,
            "message": self.message,
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class ClosureCheck:
    """Whether an incident with reconciler findings may be resolved (DESIGN §10 ``incident
    resolve``): none of its findings still fire, and no correction is newer than the start of
    the last complete reconcile run (a fix is proven by a run after it)."""

    firing: int
    last_correction_at: str | None
    last_run_started_at: str | None

    @property
    def unproven(self) -> bool:
        return self.last_correction_at is not None and (
            self.last_run_started_at is None or self.last_run_started_at < self.last_correction_at
        )

    @property
    def blocked(self) -> bool:
        return self.firing > 0 or self.unproven

    def refusal(self) -> str:
        """Why resolving is refused, in one line (empty when it is not)."""
        if self.firing:
            noun = "finding" if self.firing == 1 else "findings"
            return (
                f"{self.firing} {noun} still firing: run reconcile after the fix,"
                " or --force with a reason"
            )
        if self.unproven:
            return (
                f"the last correction ({self.last_correction_at}) is newer than the last"
                " complete reconcile run: run reconcile to prove the fix, or --force with a"
                " reason"
            )
        return ""

