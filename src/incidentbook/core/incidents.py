"""Incidents, event-sourced.

Each incident is a stream of events (``incident:INC-0007``). Its state is a pure fold of those
events (``apply``); the ``incidents`` table is a projection written in the same transaction as
each event, and ``verify`` re-derives every incident to prove the projection honest.

Every command is idempotent: a transition to the state an incident is already in records
nothing and reports ``changed=False``; creations accept an idempotency key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from sqlmodel import Session, col, func, select

from incidentbook.context import Context
from incidentbook.core.events.model import Event
from incidentbook.core.events.store import append, find_by_key, queue_for_index, stream_events
from incidentbook.errors import ConflictError, NotFoundError, UsageError
from incidentbook.obs import log_info
from incidentbook.storage.db import Database
from incidentbook.storage.models import IncidentRow

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

    def to_row(self) -> IncidentRow:
        values: dict[str, Any] = asdict(self)
        values["runbooks"] = json.dumps(list(self.runbooks))
        values["alerts"] = json.dumps(list(self.alerts))
        return IncidentRow(**values)

    @classmethod
    def from_row(cls, row: IncidentRow) -> IncidentState:
        values = row.model_dump()
        values["runbooks"] = tuple(json.loads(row.runbooks))
        values["alerts"] = tuple(json.loads(row.alerts))
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["runbooks"] = list(self.runbooks)
        values["alerts"] = list(self.alerts)
        return values


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
    """What a command did: the incident after it, and whether anything was recorded."""

    incident: IncidentState
    changed: bool
    event: Event | None = None
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "incident": self.incident.to_dict(),
            "changed": self.changed,
            "event": self.event.to_dict() if self.event else None,
            "message": self.message,
        }


class IncidentService:
    """The one way the CLI, the app and the receiver change incidents."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- reads ---------------------------------------------------------------------------

    def get(self, incident_id: str) -> IncidentState:
        with self.db.read() as session:
            return self._load(session, parse_id(incident_id))

    def list_incidents(self, *, include_resolved: bool = False) -> list[IncidentState]:
        with self.db.read() as session:
            query = select(IncidentRow)
            if not include_resolved:
                query = query.where(IncidentRow.status != "resolved")
            rows = session.exec(query).all()
        states = [IncidentState.from_row(r) for r in rows]
        return sorted(
            states,
            key=lambda s: (s.status == "resolved", SEVERITY_RANK.get(s.severity, 9), -s.number),
        )

    def timeline(self, incident_id: str) -> list[Event]:
        canonical = parse_id(incident_id)
        with self.db.read() as session:
            self._load(session, canonical)
            return stream_events(session, STREAM_PREFIX + canonical)

    # -- writes --------------------------------------------------------------------------

    def open(
        self,
        ctx: Context,
        title: str,
        severity: str = "error",
        *,
        idempotency_key: str | None = None,
        source: str = "manual",
        group_key: str | None = None,
    ) -> Outcome:
        clean_title = " ".join(title.split())
        if not clean_title:
            raise UsageError("an incident needs a non-empty --title")
        level = check_severity(severity)
        key = f"incident.open:{idempotency_key}" if idempotency_key else None
        with self.db.write() as session:
            if key is not None:
                previous = find_by_key(session, key)
                if previous is not None:
                    existing = self._load(session, previous.stream.removeprefix(STREAM_PREFIX))
                    if previous.data.get("title") != clean_title:
                        raise ConflictError(
                            f"idempotency key {idempotency_key!r} already opened {existing.id} "
                            f"with a different title"
                        )
                    return Outcome(existing, False, message=f"{existing.id} already open")
            else:
                # Without a key, a repeat is an unresolved incident with the same title
                # (or, from an alert group, the same group): return it rather than a twin.
                query = select(IncidentRow).where(IncidentRow.status != "resolved")
                if group_key is not None:
                    query = query.where(IncidentRow.group_key == group_key)
                else:
                    query = query.where(IncidentRow.title == clean_title)
                twin = session.exec(query.order_by(col(IncidentRow.number))).first()
                if twin is not None:
                    state = IncidentState.from_row(twin)
                    return Outcome(state, False, message=f"{state.id} is already open")
            number = int(session.exec(select(func.coalesce(func.max(IncidentRow.number), 0))).one())
            number += 1
            incident_id = format_id(number)
            event = append(
                session,
                ctx,
                STREAM_PREFIX + incident_id,
                OPENED,
                {
                    "number": number,
                    "title": clean_title,
                    "severity": level,
                    "source": source,
                    "group_key": group_key,
                },
                idempotency_key=key,
            )
            state = apply(None, event)
            self._save(session, ctx, state)
        _log(ctx, event, state)
        return Outcome(state, True, event, f"opened {incident_id}")

    def acknowledge(self, ctx: Context, incident_id: str) -> Outcome:
        def guard(state: IncidentState) -> str | None:
            if state.status == "resolved":
                raise ConflictError(f"{state.id} is resolved; reopen it before acknowledging")
            return "already acknowledged" if state.status == "acknowledged" else None

        return self._transition(ctx, incident_id, ACKNOWLEDGED, {}, guard)

    def resolve(self, ctx: Context, incident_id: str) -> Outcome:
        def guard(state: IncidentState) -> str | None:
            return "already resolved" if state.status == "resolved" else None

        return self._transition(ctx, incident_id, RESOLVED, {}, guard)

    def reopen(self, ctx: Context, incident_id: str) -> Outcome:
        def guard(state: IncidentState) -> str | None:
            return None if state.status == "resolved" else f"not resolved ({state.status})"

        return self._transition(ctx, incident_id, REOPENED, {}, guard)

    def set_severity(self, ctx: Context, incident_id: str, level: str) -> Outcome:
        new_level = check_severity(level)

        def guard(state: IncidentState) -> str | None:
            return f"severity is already {new_level}" if state.severity == new_level else None

        return self._transition(
            ctx,
            incident_id,
            SEVERITY_CHANGED,
            lambda state: {"from": state.severity, "to": new_level},
            guard,
        )

    def add_note(
        self, ctx: Context, incident_id: str, text: str, *, idempotency_key: str | None = None
    ) -> Outcome:
        body = text.strip()
        if not body:
            raise UsageError("a note needs some text")
        canonical = parse_id(incident_id)
        # A repeated identical note is a retry, not news; an explicit key says otherwise.
        digest = idempotency_key or hashlib.sha256(body.encode()).hexdigest()[:32]
        key = f"incident.note:{canonical}:{digest}"
        return self._transition(ctx, canonical, NOTE_ADDED, {"text": body}, None, key=key)

    def link_runbook(self, ctx: Context, incident_id: str, runbook: str) -> Outcome:
        ref = runbook.strip()
        if not ref:
            raise UsageError("a runbook link needs a runbook id or path")

        def guard(state: IncidentState) -> str | None:
            return f"{ref} already linked" if ref in state.runbooks else None

        return self._transition(ctx, incident_id, RUNBOOK_LINKED, {"runbook": ref}, guard)

    # -- machinery -----------------------------------------------------------------------

    def _transition(
        self,
        ctx: Context,
        incident_id: str,
        type_: str,
        data: dict[str, Any] | Callable[[IncidentState], dict[str, Any]],
        guard: Callable[[IncidentState], str | None] | None,
        *,
        key: str | None = None,
    ) -> Outcome:
        """Record one event unless the idempotency key was seen or ``guard`` says the incident
        is already there (it returns why). ``data`` may be built from the current state."""
        canonical = parse_id(incident_id)
        with self.db.write() as session:
            state = self._load(session, canonical)
            if key is not None and find_by_key(session, key) is not None:
                return Outcome(state, False, message="already recorded")
            if guard is not None:
                unchanged = guard(state)
                if unchanged:
                    return Outcome(state, False, message=f"{canonical}: {unchanged}")
            payload = data(state) if callable(data) else data
            event = append(
                session, ctx, STREAM_PREFIX + canonical, type_, payload, idempotency_key=key
            )
            state = apply(state, event)
            self._save(session, ctx, state)
        _log(ctx, event, state)
        return Outcome(state, True, event, f"{canonical}: {type_.split('.', 1)[1]}")

    def apply_in(
        self, session: Session, ctx: Context, incident_id: str, type_: str, data: dict[str, Any]
    ) -> IncidentState:
        """Record an event on an incident inside a caller's transaction (e.g. an alert ingest
        joining an acknowledged incident), keeping the projection and outbox in step."""
        state = self._load(session, incident_id)
        event = append(session, ctx, STREAM_PREFIX + incident_id, type_, data)
        state = apply(state, event)
        self._save(session, ctx, state)
        return state

    @staticmethod
    def _load(session: Session, incident_id: str) -> IncidentState:
        row = session.get(IncidentRow, incident_id)
        if row is None:
            raise NotFoundError(f"no incident {incident_id}")
        return IncidentState.from_row(row)

    @staticmethod
    def _save(session: Session, ctx: Context, state: IncidentState) -> None:
        session.merge(state.to_row())
        queue_for_index(session, ctx, "incident", state.id)


def _log(ctx: Context, event: Event, state: IncidentState) -> None:
    log_info(
        event.type,
        ctx.correlation_id,
        actor=ctx.actor,
        reason=ctx.reason,
        stream=event.stream,
        seq=event.seq,
        incident=state.id,
        status=state.status,
        severity=state.severity,
    )
