"""Alerts: one store and one dedup rule for every source (DESIGN §5).

An alert is identified by its fingerprint (or PagerDuty dedup_key). Each ingest is an event on
the stream ``alert:<fingerprint>``; the ``alerts`` table is the projection of those events:

- firing, not known              -> ``alert.fired``    (new alert, one occurrence)
- firing, already firing         -> ``alert.repeated`` (occurrences + 1, last_seen moves)
- firing, resolved, new start    -> ``alert.refired``  (a new episode of the same alert)
- resolved, firing               -> ``alert.resolved``
- anything else                  -> nothing recorded (a dedup hit)

A receipt key (hash of a file line, reconciler run + finding) makes an exact replay of the same
input a no-op, so re-ingesting a file or resuming a run changes nothing.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, func, select

from incidentbook.clock import parse_iso, to_iso
from incidentbook.core import events as ev
from incidentbook.core.context import Context
from incidentbook.errors import NotFoundError, UsageError
from incidentbook.storage.db import Database
from incidentbook.storage.models import AlertReceiptRow, AlertRow, IncidentRow

if TYPE_CHECKING:
    from incidentbook.core.incidents import Outcome as IncidentOutcome

ALERT_STATUSES = ("firing", "resolved")
ALERT_SEVERITIES = ("critical", "error", "warning", "info")
STREAM_PREFIX = "alert:"

FIRED = "alert.fired"
REPEATED = "alert.repeated"
REFIRED = "alert.refired"
RESOLVED = "alert.resolved"
JOINED = "alert.joined_incident"


@dataclass(frozen=True)
class NativeAlert:
    """The native alert shape of DESIGN §5, validated."""

    source: str
    name: str
    fingerprint: str
    status: str
    severity: str
    summary: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    starts_at: str = ""
    ends_at: str | None = None

    @classmethod
    def from_dict(cls, raw: Any) -> NativeAlert:
        """Validate one native JSON object; errors name the field."""
        if not isinstance(raw, dict):
            raise UsageError("alert must be a JSON object")

        def text(name: str, *, required: bool = True) -> str:
            value = raw.get(name)
            if value is None or value == "":
                if required:
                    raise UsageError(f"field {name!r} is required")
                return ""
            if not isinstance(value, str):
                raise UsageError(f"field {name!r} must be a string")
            return value

        def mapping(name: str) -> dict[str, str]:
            value = raw.get(name) or {}
            if not isinstance(value, dict):
                raise UsageError(f"field {name!r} must be an object")
            return {str(k): str(v) for k, v in value.items()}

        status = text("status")
        if status not in ALERT_STATUSES:
            raise UsageError(f"field 'status' must be firing or resolved, not {status!r}")
        severity = text("severity", required=False) or "warning"
        if severity not in ALERT_SEVERITIES:
            raise UsageError(
                f"field 'severity' must be one of {', '.join(ALERT_SEVERITIES)}, not {severity!r}"
            )
        starts_at = normalize_time(text("starts_at"), "starts_at")
        ends_raw = text("ends_at", required=False)
        return cls(
            source=text("source"),
            name=text("name"),
            fingerprint=text("fingerprint"),
            status=status,
            severity=severity,
            summary=text("summary", required=False),
            labels=mapping("labels"),
            annotations=mapping("annotations"),
            starts_at=starts_at,
            ends_at=normalize_time(ends_raw, "ends_at") if ends_raw else None,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def normalize_time(value: str, name: str) -> str:
    try:
        return to_iso(parse_iso(value))
    except ValueError:
        raise UsageError(f"field {name!r} is not an ISO-8601 time: {value!r}") from None


def group_key_for(alert: NativeAlert, group_by: list[str]) -> str:
    """Like Alertmanager's group_by; the default (alertname) groups by alert name."""
    parts = []
    for label in group_by:
        value = alert.name if label == "alertname" else alert.labels.get(label, "")
        parts.append(value if len(group_by) == 1 and label == "alertname" else f"{label}={value}")
    return ",".join(parts)


@dataclass(frozen=True)
class AlertState:
    fingerprint: str
    source: str
    name: str
    status: str
    severity: str
    summary: str
    labels: dict[str, str]
    annotations: dict[str, str]
    group_key: str
    starts_at: str
    ends_at: str | None
    first_seen: str
    last_seen: str
    occurrences: int = 1
    episodes: int = 1
    incident_id: str | None = None
    last_seq: int = 0

    def to_row(self) -> AlertRow:
        values = asdict(self)
        values["labels"] = json.dumps(self.labels, sort_keys=True)
        values["annotations"] = json.dumps(self.annotations, sort_keys=True)
        return AlertRow(**values)

    @classmethod
    def from_row(cls, row: AlertRow) -> AlertState:
        values = row.model_dump()
        values["labels"] = json.loads(row.labels)
        values["annotations"] = json.loads(row.annotations)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def apply(state: AlertState | None, event: ev.Event) -> AlertState:
    """Fold one alert event into the alert's state (pure)."""
    data = event.data
    at = event.recorded_at
    if state is None:
        if event.type not in (FIRED, RESOLVED):
            raise ValueError(f"event {event.seq} ({event.type}) precedes {event.stream}'s first")
        alert = data["alert"]
        return AlertState(
            fingerprint=alert["fingerprint"],
            source=alert["source"],
            name=alert["name"],
            status=alert["status"],
            severity=alert["severity"],
            summary=alert["summary"],
            labels=alert["labels"],
            annotations=alert["annotations"],
            group_key=data["group_key"],
            starts_at=alert["starts_at"],
            ends_at=alert["ends_at"],
            first_seen=at,
            last_seen=at,
            last_seq=event.seq,
        )
    state = replace(state, last_seen=at, last_seq=event.seq)
    if event.type == REPEATED:
        return replace(state, occurrences=state.occurrences + 1, **_refresh(data))
    if event.type == REFIRED:
        return replace(
            state,
            status="firing",
            starts_at=data["alert"]["starts_at"],
            ends_at=None,
            occurrences=state.occurrences + 1,
            episodes=state.episodes + 1,
            **_refresh(data),
        )
    if event.type == RESOLVED:
        return replace(state, status="resolved", ends_at=data["alert"]["ends_at"])
    if event.type == JOINED:
        return replace(state, incident_id=data["incident_id"], last_seen=state.last_seen)
    return state


def _refresh(data: dict[str, Any]) -> dict[str, Any]:
    """The mutable descriptive fields a re-sent alert may update."""
    alert = data.get("alert", {})
    keys = ("severity", "summary", "labels", "annotations")
    return {k: alert[k] for k in keys if k in alert}


def derive(events: list[ev.Event]) -> AlertState | None:
    state: AlertState | None = None
    for event in events:
        state = apply(state, event)
    return state


@dataclass
class IngestResult:
    counts: Counter[str] = field(default_factory=Counter)
    fingerprints: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        keys = ("new", "repeated", "refired", "resolved", "unchanged", "replayed", "joined")
        return {
            **{k: self.counts.get(k, 0) for k in keys},
            "received": sum(self.counts[k] for k in keys if k != "joined"),
        }


class AlertService:
    def __init__(self, db: Database, group_by: list[str] | None = None) -> None:
        self.db = db
        self.group_by = group_by or ["alertname"]

    def ingest(
        self,
        ctx: Context,
        alerts: list[NativeAlert],
        receipt_keys: list[str | None] | None = None,
    ) -> IngestResult:
        """Store a batch in one transaction: all of it, or (on any error) none of it."""
        keys = receipt_keys or [None] * len(alerts)
        if len(keys) != len(alerts):
            raise ValueError("one receipt key per alert")
        result = IngestResult()
        with self.db.write() as session:
            for alert, key in zip(alerts, keys, strict=True):
                outcome = self.ingest_in(session, ctx, alert, key)
                result.counts[outcome] += 1
                result.fingerprints.append(alert.fingerprint)
                if outcome in ("new", "refired") and self._join_open_incident(
                    session, ctx, alert.fingerprint
                ):
                    result.counts["joined"] += 1
        from incidentbook.obs import log_info

        log_info("alerts.ingested", ctx.correlation_id, actor=ctx.actor, **result.to_dict())
        return result

    def ingest_in(
        self, session: Session, ctx: Context, alert: NativeAlert, receipt_key: str | None = None
    ) -> str:
        """Apply one alert inside the caller's transaction; return what happened to it."""
        if receipt_key is not None:
            if session.get(AlertReceiptRow, receipt_key) is not None:
                return "replayed"
            session.add(
                AlertReceiptRow(
                    receipt_key=receipt_key,
                    fingerprint=alert.fingerprint,
                    received_at=to_iso(ctx.clock()),
                )
            )
        row = session.get(AlertRow, alert.fingerprint)
        state = AlertState.from_row(row) if row else None
        group_key = group_key_for(alert, self.group_by)
        payload: dict[str, Any] = {"alert": alert.to_dict(), "group_key": group_key}
        if state is None:
            type_, outcome = (FIRED, "new") if alert.status == "firing" else (RESOLVED, "resolved")
        elif alert.status == "firing" and state.status == "firing":
            type_, outcome = REPEATED, "repeated"
        elif alert.status == "firing" and alert.starts_at != state.starts_at:
            type_, outcome = REFIRED, "refired"
        elif alert.status == "resolved" and state.status == "firing":
            type_, outcome = RESOLVED, "resolved"
        else:
            return "unchanged"
        if type_ == RESOLVED and not alert.ends_at:
            payload["alert"]["ends_at"] = to_iso(ctx.clock())
        event = ev.append(session, ctx, STREAM_PREFIX + alert.fingerprint, type_, payload)
        new_state = apply(state, event)
        session.merge(new_state.to_row())
        if outcome in ("new", "refired"):
            ev.queue_for_index(session, ctx, "alert_group", new_state.group_key)
        return outcome

    def _join_open_incident(self, session: Session, ctx: Context, fingerprint: str) -> bool:
        """New alerts of a group whose incident is still unresolved join that incident."""
        row = session.get(AlertRow, fingerprint)
        if row is None or row.incident_id is not None:
            return False
        incident = session.exec(
            select(IncidentRow)
            .where(IncidentRow.group_key == row.group_key, IncidentRow.status != "resolved")
            .order_by(col(IncidentRow.number))
        ).first()
        if incident is None:
            return False
        self.link_in(session, ctx, fingerprint, incident.id)
        return True

    def link_in(self, session: Session, ctx: Context, fingerprint: str, incident_id: str) -> None:
        """Link an alert and an incident both ways, in the caller's transaction."""
        from incidentbook.core.incidents import ALERT_LINKED, IncidentService

        row = session.get(AlertRow, fingerprint)
        if row is None:
            raise NotFoundError(f"no alert {fingerprint}")
        if row.incident_id != incident_id:
            event = ev.append(
                session, ctx, STREAM_PREFIX + fingerprint, JOINED, {"incident_id": incident_id}
            )
            session.merge(apply(AlertState.from_row(row), event).to_row())
        incident = session.get(IncidentRow, incident_id)
        if incident is not None and fingerprint not in json.loads(incident.alerts):
            IncidentService(self.db).apply_in(
                session, ctx, incident_id, ALERT_LINKED, {"fingerprint": fingerprint}
            )

    def acknowledge_group(
        self, ctx: Context, group_key: str, *, severity: str | None = None
    ) -> IncidentOutcome:
        """Acknowledge an alert group: open (or join) its incident and link its firing alerts.

        Idempotent: the group's unresolved incident is reused, linked alerts stay linked.
        """
        from incidentbook.core.incidents import IncidentService, Outcome

        firing = [a for a in self.list_alerts("firing") if a.group_key == group_key]
        if not firing:
            raise NotFoundError(f"no firing alerts in group {group_key!r}")
        worst = min((a.severity for a in firing), key=ALERT_SEVERITIES.index)
        incidents = IncidentService(self.db)
        title = f"{group_key}: {len(firing)} alert{'s' if len(firing) != 1 else ''} firing"
        opened = incidents.open(
            ctx, title, severity or worst, source="alert_group", group_key=group_key
        )
        incident_id = opened.incident.id
        acked = incidents.acknowledge(ctx, incident_id)
        with self.db.write() as session:
            for alert in firing:
                self.link_in(session, ctx, alert.fingerprint, incident_id)
        final = incidents.get(incident_id)
        changed = (
            opened.changed or acked.changed or len(final.alerts) != len(opened.incident.alerts)
        )
        return Outcome(final, changed, message=f"group {group_key} → {incident_id}")

    # -- reads ---------------------------------------------------------------------------

    def get(self, fingerprint: str) -> AlertState:
        with self.db.read() as session:
            row = session.get(AlertRow, fingerprint)
            if row is None:
                raise NotFoundError(f"no alert with fingerprint {fingerprint!r}")
            return AlertState.from_row(row)

    def list_alerts(self, status: str = "firing", limit: int | None = None) -> list[AlertState]:
        if status not in (*ALERT_STATUSES, "all"):
            raise UsageError(f"unknown status {status!r}; choose firing, resolved or all")
        with self.db.read() as session:
            query = select(AlertRow)
            if status != "all":
                query = query.where(AlertRow.status == status)
            query = query.order_by(col(AlertRow.last_seen).desc())
            if limit is not None:
                query = query.limit(limit)
            return [AlertState.from_row(r) for r in session.exec(query).all()]

    def groups(self) -> list[AlertGroup]:
        """Firing alerts grouped by group key: the incident candidates on the Triage screen."""
        with self.db.read() as session:
            rows = session.execute(
                sa_select(
                    col(AlertRow.group_key),
                    func.count(),
                    func.min(col(AlertRow.starts_at)),
                    func.max(col(AlertRow.last_seen)),
                    func.max(col(AlertRow.incident_id)),
                )
                .where(col(AlertRow.status) == "firing")
                .group_by(col(AlertRow.group_key))
            ).all()
            worst: dict[str, str] = {}
            for key, severity in session.exec(
                select(AlertRow.group_key, AlertRow.severity)
                .where(AlertRow.status == "firing")
                .distinct()
            ).all():
                current = worst.get(key)
                if current is None or ALERT_SEVERITIES.index(severity) < ALERT_SEVERITIES.index(
                    current
                ):
                    worst[key] = severity
        groups = [
            AlertGroup(
                key=key,
                firing=count,
                severity=worst.get(key, "warning"),
                since=since,
                last_seen=last,
                incident_id=incident,
            )
            for key, count, since, last, incident in rows
        ]
        return sorted(groups, key=lambda g: (ALERT_SEVERITIES.index(g.severity), -g.firing))


@dataclass(frozen=True)
class AlertGroup:
    key: str
    firing: int
    severity: str
    since: str
    last_seen: str
    incident_id: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
