"""Alerts: one store and one dedup rule for every source (DESIGN §5).

An alert is identified by its fingerprint (or PagerDuty dedup_key). Each ingest is an event on
the stream ``alert:<fingerprint>``; the ``alerts`` table is the projection of those events:

- firing, not known              -> ``alert.fired``    (new alert, one occurrence)
- firing, already firing         -> ``alert.repeated`` (occurrences + 1, last_seen moves; the
                                   event carries the alert's name and only the descriptive
                                   fields that changed, so a sender that repeats an unchanged
                                   alert every few minutes does not copy it into the log)
- firing, resolved, new start    -> ``alert.refired``  (a new episode of the same alert)
- resolved, firing               -> ``alert.resolved``
- anything else                  -> nothing recorded (a dedup hit)

Alertmanager alerts (``episodes_by_start=True``) are keyed by ``(fingerprint, startsAt)``: a
firing alert with a newer ``startsAt`` is a new episode even if the resolve was never seen, and
a copy of an older episode (a late retry) is ``stale`` and changes nothing. PagerDuty's
``alert.acknowledged`` is recorded on the alert's stream.

A receipt key (the hash of an ingested file's line) makes an exact replay of the same input a
no-op, so re-ingesting a file changes nothing. The reconciler takes none: each page of its
alerts commits with the cursor past it, so a resumed run never offers one twice.

Alerts that join an open incident are linked in one batch event per incident and transaction
(``incident.alerts_linked``), so 5,000 reconciler alerts do not flood the incident timeline.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import select as sa_select
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, func, select

from incidentbook.clock import parse_iso, to_iso
from incidentbook.context import Context
from incidentbook.core.batches import chunks, marks
from incidentbook.core.events.model import Event, encode_data, encode_sorted, new_event_id
from incidentbook.core.events.store import append, queue_for_index, stream_events
from incidentbook.errors import NotFoundError, UsageError
from incidentbook.storage.db import Database
from incidentbook.storage.models import AlertReceiptRow, AlertRow, IncidentRow

if TYPE_CHECKING:
    from incidentbook.core.alert_formats import AlertmanagerPayload, PagerDutyEvent
    from incidentbook.core.incidents.model import Outcome as IncidentOutcome

T = TypeVar("T")

ALERT_STATUSES = ("firing", "resolved")
ALERT_SEVERITIES = ("critical", "error", "warning", "info")
STREAM_PREFIX = "alert:"

FIRED = "alert.fired"
REPEATED = "alert.repeated"
REFIRED = "alert.refired"
RESOLVED = "alert.resolved"
JOINED = "alert.joined_incident"
ACKNOWLEDGED = "alert.acknowledged"

OUTCOMES = (
    "new",
    "repeated",
    "refired",
    "resolved",
    "unchanged",
    "stale",
    "replayed",
    "acknowledged",
    "ignored",
)
# Outcomes that found the alert already recorded as it is: what /metrics counts as dedup hits.
DEDUP_HITS = ("repeated", "unchanged", "stale", "replayed")


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
        out = {name: getattr(self, name) for name in _NATIVE_FIELDS}
        out["labels"] = dict(self.labels)
        out["annotations"] = dict(self.annotations)
        return out


_NATIVE_FIELDS = tuple(f.name for f in fields(NativeAlert))


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
        values["labels"] = encode_sorted(self.labels)
        values["annotations"] = encode_sorted(self.annotations)
        return AlertRow(**values)

    @classmethod
    def from_row(cls, row: AlertRow) -> AlertState:
        values = row.model_dump()
        values["labels"] = json.loads(row.labels)
        values["annotations"] = json.loads(row.annotations)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def apply(state: AlertState | None, event: Event) -> AlertState:
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
    # one copy per event (it costs a whole __init__): an alert batch folds thousands
    changes: dict[str, Any] = {"last_seen": at, "last_seq": event.seq}
    if event.type == REPEATED:
        changes.update(occurrences=state.occurrences + 1, **_refresh(data))
    elif event.type == REFIRED:
        changes.update(
            status="firing",
            starts_at=data["alert"]["starts_at"],
            ends_at=None,
            occurrences=state.occurrences + 1,
            episodes=state.episodes + 1,
            **_refresh(data),
        )
    elif event.type == RESOLVED:
        changes.update(status="resolved", ends_at=data["alert"]["ends_at"])
    elif event.type == JOINED:
        changes["incident_id"] = data["incident_id"]
    # dataclasses.replace() walks the fields first; the instance dict already has them all
    return AlertState(**{**vars(state), **changes})


_REFRESHED = ("severity", "summary", "labels", "annotations")


def _refresh(data: dict[str, Any]) -> dict[str, Any]:
    """The mutable descriptive fields a re-sent alert may update (those its event carries)."""
    alert = data.get("alert", {})
    return {k: alert[k] for k in _REFRESHED if k in alert}


def _changed_fields(state: AlertState, alert: NativeAlert) -> dict[str, Any]:
    """A repeat's event data: the alert's name (for the timeline) and the descriptive fields
    that differ from the stored alert (events before this carried them all; ``_refresh``
    folds either)."""
    changed: dict[str, Any] = {"name": alert.name}
    for key in _REFRESHED:
        value = getattr(alert, key)
        if value != getattr(state, key):
            changed[key] = dict(value) if isinstance(value, dict) else value
    return changed


def _decide(
    state: AlertState | None, alert: NativeAlert, episodes_by_start: bool
) -> tuple[str | None, str]:
    """The one dedup rule: (event type to record or None, outcome)."""
    if state is None:
        return (FIRED, "new") if alert.status == "firing" else (RESOLVED, "resolved")
    if episodes_by_start:
        # Alertmanager: an episode is (fingerprint, startsAt); ISO-8601 UTC text sorts by time.
        # Compared to the millisecond: the webhook carries Go's nanoseconds, the v2 API's
        # listing (a dump to re-deliver) only milliseconds, for the same episode.
        new_start, old_start = alert.starts_at[:23], state.starts_at[:23]
        if new_start < old_start:
            return None, "stale"
        if alert.status == "firing":
            if new_start > old_start:
                return REFIRED, "refired"
            return (REPEATED, "repeated") if state.status == "firing" else (None, "unchanged")
        return (RESOLVED, "resolved") if state.status == "firing" else (None, "unchanged")
    if alert.status == "firing" and state.status == "firing":
        return REPEATED, "repeated"
    if alert.status == "firing" and alert.starts_at != state.starts_at:
        return REFIRED, "refired"
    if alert.status == "resolved" and state.status == "firing":
        return RESOLVED, "resolved"
    return None, "unchanged"


@dataclass
class _Batch:
    """One batch's view of the store, read with a few ``IN`` queries and written with a few
    ``executemany`` statements (no ORM object per alert): the states of its alerts (None: not
    stored yet), the receipts already taken, and the rows to insert or update at the end."""

    states: dict[str, AlertState | None]
    receipts: set[str]
    now: str  # the batch's one transaction time: its receipts' and events' recorded_at
    queue_every_group: bool = False
    new_receipts: list[tuple[str, str, str]] = field(default_factory=list)
    # rows as tuples in _ALERT_COLUMNS order (fingerprint first)
    inserts: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    updates: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    queued_groups: set[str] = field(default_factory=set)
    new_events: list[tuple[Any, ...]] = field(default_factory=list)
    last_seq: int | None = None
    # each known alert's labels and annotations with their stored JSON: a repeat that keeps
    # the same dicts (most do) writes the same text without encoding it again
    texts: dict[str, _Texts] = field(default_factory=dict)

    def next_seq(self, session: Session) -> int:
        if self.last_seq is None:
            row = session.connection().exec_driver_sql("SELECT max(seq) FROM events").first()
            self.last_seq = int(row[0] or 0) if row is not None else 0
        self.last_seq += 1
        return self.last_seq

    @classmethod
    def prefetch(
        cls, session: Session, wanted: Iterable[str], receipt_keys: list[str | None], now: str
    ) -> _Batch:
        session.flush()  # anything the caller left pending must be visible to Core reads
        conn = session.connection()
        fingerprints = list(dict.fromkeys(wanted))
        states: dict[str, AlertState | None] = dict.fromkeys(fingerprints)
        texts: dict[str, _Texts] = {}
        columns = ", ".join(_ALERT_COLUMNS)
        for chunk in chunks(fingerprints):
            for values in conn.exec_driver_sql(
                f"SELECT {columns} FROM alerts WHERE fingerprint IN ({marks(chunk)})",
                tuple(chunk),
            ).fetchall():  # one driver fetch, not one per row
                state = _state_from_values(values)
                states[state.fingerprint] = state
                texts[state.fingerprint] = _Texts(
                    state.labels, values[_LABELS_AT], state.annotations, values[_ANNOTATIONS_AT]
                )
        keys = [k for k in dict.fromkeys(receipt_keys) if k is not None]
        receipts: set[str] = set()
        for chunk in chunks(keys):
            receipts.update(
                str(r[0])
                for r in conn.exec_driver_sql(
                    "SELECT receipt_key FROM alert_receipts"
                    f" WHERE receipt_key IN ({marks(chunk)})",
                    tuple(chunk),
                )
            )
        return cls(states, receipts, now, texts=texts)

    def write(self, session: Session) -> None:
        conn = session.connection()
        if self.new_events:
            conn.exec_driver_sql(
                "INSERT INTO events (seq, event_id, stream, type, data, actor, reason, "
                "correlation_id, recorded_at, idempotency_key) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                self.new_events,
            )
        self.last_seq = None
        if self.new_receipts:
            conn.exec_driver_sql(
                "INSERT INTO alert_receipts (receipt_key, fingerprint, received_at) "
                "VALUES (?, ?, ?)",
                self.new_receipts,
            )
        if self.inserts:
            conn.exec_driver_sql(_INSERT_ALERT, list(self.inserts.values()))
        if self.updates:
            conn.exec_driver_sql(_UPDATE_ALERT, [(*v[1:], v[0]) for v in self.updates.values()])
        if self.inserts or self.updates:
            # ORM copies of these rows the caller may hold are stale now: reload on next use.
            session.expire_all()
        self.new_events.clear()
        self.new_receipts.clear()
        self.inserts.clear()
        self.updates.clear()


_ALERT_COLUMNS = tuple(f.name for f in fields(AlertState))
assert _ALERT_COLUMNS[0] == "fingerprint"  # the UPDATE moves it last, for its WHERE
_INSERT_ALERT = (
    f"INSERT INTO alerts ({', '.join(_ALERT_COLUMNS)})"
    f" VALUES ({marks(_ALERT_COLUMNS)})"
)
_UPDATE_ALERT = (
    f"UPDATE alerts SET {', '.join(f'{c} = ?' for c in _ALERT_COLUMNS[1:])} WHERE fingerprint = ?"
)


_LABELS_AT = _ALERT_COLUMNS.index("labels")
_ANNOTATIONS_AT = _ALERT_COLUMNS.index("annotations")


def _state_from_values(values: Sequence[Any]) -> AlertState:
    """An alert row (its columns in ``_ALERT_COLUMNS`` order) as state."""
    row = list(values)
    row[_LABELS_AT] = json.loads(row[_LABELS_AT])
    row[_ANNOTATIONS_AT] = json.loads(row[_ANNOTATIONS_AT])
    return AlertState(*row)


@dataclass(frozen=True)
class _Texts:
    """An alert's labels and annotations (the very dicts) and their JSON in its row."""

    labels: dict[str, str]
    labels_json: str
    annotations: dict[str, str]
    annotations_json: str


def _row_values(state: AlertState, known: _Texts | None = None) -> tuple[Any, ...]:
    """The alert's row, its columns in ``_ALERT_COLUMNS`` order; labels and annotations that
    are the same objects as ``known``'s (a fold keeps unchanged ones) reuse its JSON."""
    values = [getattr(state, name) for name in _ALERT_COLUMNS]
    values[_LABELS_AT] = (
        known.labels_json
        if known is not None and state.labels is known.labels
        else encode_sorted(state.labels)
    )
    values[_ANNOTATIONS_AT] = (
        known.annotations_json
        if known is not None and state.annotations is known.annotations
        else encode_sorted(state.annotations)
    )
    return tuple(values)


_INSERT_EVENT = (
    "INSERT INTO events (event_id, stream, type, data, actor, reason, correlation_id, "
    "recorded_at, idempotency_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)"
)


def _append_event(
    session: Session,
    ctx: Context,
    stream: str,
    type_: str,
    data: dict[str, Any],
    batch: _Batch | None = None,
) -> Event:
    """``events.append`` without the ORM: the same row, written by one Core INSERT, or (in a
    batch) queued with its sequence number for one ``executemany`` at the end of the batch.

    Alert batches append thousands of events; the ORM unit of work per event dominated. In a
    batch the sequence numbers are assigned here: the transaction holds SQLite's write lock
    (BEGIN IMMEDIATE), so max(seq) + 1 is exactly what the database would assign."""
    text = encode_data(data)
    recorded_at = batch.now if batch is not None else to_iso(ctx.clock())
    values = (
        new_event_id(),
        stream,
        type_,
        text,
        ctx.actor,
        ctx.reason,
        ctx.correlation_id,
        recorded_at,
    )
    if batch is not None:
        seq = batch.next_seq(session)
        batch.new_events.append((seq, *values))
    else:
        seq = int(session.connection().exec_driver_sql(_INSERT_EVENT, values).lastrowid)
    return Event(
        seq=seq,
        stream=stream,
        type=type_,
        data=data,
        actor=ctx.actor,
        reason=ctx.reason,
        correlation_id=ctx.correlation_id,
        recorded_at=recorded_at,
        idempotency_key=None,
    )


def _log_ingest(ctx: Context, result: IngestResult, **fields: Any) -> None:
    from incidentbook.obs import log_info

    log_info("alerts.ingested", ctx.correlation_id, actor=ctx.actor, **result.to_dict(), **fields)


def derive(events: list[Event]) -> AlertState | None:
    state: AlertState | None = None
    for event in events:
        state = apply(state, event)
    return state


@dataclass
class IngestResult:
    counts: Counter[str] = field(default_factory=Counter)
    fingerprints: list[str] = field(default_factory=list)
    truncated_alerts: int = 0

    def to_dict(self) -> dict[str, Any]:
        keys = (*OUTCOMES, "joined")
        out: dict[str, Any] = {k: self.counts.get(k, 0) for k in keys}
        out["received"] = sum(self.counts[k] for k in OUTCOMES)
        if self.truncated_alerts:
            out["truncated_alerts"] = self.truncated_alerts
        return out

    @property
    def dedup_hits(self) -> int:
        return sum(self.counts[k] for k in DEDUP_HITS)

    def merge(self, other: IngestResult) -> None:
        self.counts.update(other.counts)
        self.fingerprints.extend(other.fingerprints)
        self.truncated_alerts += other.truncated_alerts


@dataclass(frozen=True)
class IngestRequest:
    """One accepted receiver request (or Alertmanager payload from a file)."""

    id: int
    received_at: str
    source: str
    actor: str
    correlation_id: str
    group_key: str | None
    receiver: str | None
    alerts: int
    truncated_alerts: int
    outcome: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_lock_error(exc: BaseException) -> bool:
    text = str(getattr(exc, "orig", exc)).lower()
    return "locked" in text or "busy" in text


def with_lock_retry(work: Callable[[], T], *, attempts: int = 5, base_delay: float = 0.05) -> T:
    """Run a unit of work, retrying (bounded, with backoff) when SQLite reports a lock that
    outlasted the busy timeout. Each attempt is a whole transaction, so a retry is clean."""
    for attempt in range(attempts):
        try:
            return work()
        except OperationalError as exc:
            if not is_lock_error(exc) or attempt == attempts - 1:
                raise
            from incidentbook.obs import log_error

            log_error("db.locked_retry", str(exc.orig), None, attempt=attempt + 1)
            time.sleep(base_delay * (2**attempt))
    raise AssertionError("unreachable")  # pragma: no cover


class AlertService:
    def __init__(self, db: Database, group_by: list[str] | None = None) -> None:
        self.db = db
        self.group_by = group_by or ["alertname"]
        # Writers in this process (the receiver's worker threads) queue here, in order, rather
        # than in SQLite's busy handler, whose sleeps grow to 100 ms and make the tail latency.
        # Other processes (the app, the CLI) still meet them at the busy timeout.
        self._write_lock = threading.Lock()

    @contextmanager
    def _writing(self) -> Iterator[Session]:
        with self._write_lock, self.db.write() as session:
            yield session

    def ingest(
        self,
        ctx: Context,
        alerts: list[NativeAlert],
        receipt_keys: list[str | None] | None = None,
        *,
        episodes_by_start: bool = False,
    ) -> IngestResult:
        """Store a batch in one transaction: all of it, or (on any error) none of it."""
        keys = receipt_keys or [None] * len(alerts)
        if len(keys) != len(alerts):
            raise ValueError("one receipt key per alert")
        result = IngestResult()
        with self._writing() as session:
            self.ingest_many_in(
                session, ctx, alerts, keys, result, episodes_by_start=episodes_by_start
            )
        _log_ingest(ctx, result)
        return result

    def ingest_many_in(
        self,
        session: Session,
        ctx: Context,
        alerts: list[NativeAlert],
        receipt_keys: list[str | None],
        result: IngestResult,
        *,
        episodes_by_start: bool = False,
        outcomes: list[str] | None = None,
        queue_every_group: bool = False,
    ) -> None:
        """Apply a batch inside the caller's transaction, then let new alerts of a group with
        an open incident join it (one batch link event per incident). ``outcomes``, if given,
        receives each alert's outcome in order (``new``, ``repeated``, ``replayed``…).
        A group is queued for the search index when an alert of it is new or re-fired, or
        (``queue_every_group``: a sender whose repeats and resolutions change the group's
        text) whenever an alert of it changes.

        The batch's known alerts and receipts are read with a few ``IN`` queries up front and
        its writes are flushed together, so a batch costs a handful of statements, not several
        per alert."""
        batch = _Batch.prefetch(
            session, (a.fingerprint for a in alerts), receipt_keys, to_iso(ctx.clock())
        )
        batch.queue_every_group = queue_every_group
        joinable: dict[str, str] = {}
        for alert, key in zip(alerts, receipt_keys, strict=True):
            outcome = self._ingest_one(session, ctx, alert, key, episodes_by_start, batch)
            result.counts[outcome] += 1
            result.fingerprints.append(alert.fingerprint)
            if outcomes is not None:
                outcomes.append(outcome)
            if outcome in ("new", "refired"):
                state = batch.states[alert.fingerprint]
                assert state is not None
                joinable[alert.fingerprint] = state.group_key
        batch.write(session)
        if joinable:
            result.counts["joined"] += self.join_open_incidents_in(session, ctx, joinable)

    def ingest_in(
        self,
        session: Session,
        ctx: Context,
        alert: NativeAlert,
        receipt_key: str | None = None,
        *,
        episodes_by_start: bool = False,
    ) -> str:
        """Apply one alert inside the caller's transaction; return what happened to it."""
        return self._ingest_one(session, ctx, alert, receipt_key, episodes_by_start, None)

    def _ingest_one(
        self,
        session: Session,
        ctx: Context,
        alert: NativeAlert,
        receipt_key: str | None,
        episodes_by_start: bool,
        batch: _Batch | None,
    ) -> str:
        fingerprint = alert.fingerprint
        if receipt_key is not None:
            if batch is not None:
                if receipt_key in batch.receipts:
                    return "replayed"
                batch.receipts.add(receipt_key)
                batch.new_receipts.append((receipt_key, fingerprint, batch.now))
            elif session.get(AlertReceiptRow, receipt_key) is not None:
                return "replayed"
            else:
                session.add(
                    AlertReceiptRow(
                        receipt_key=receipt_key,
                        fingerprint=fingerprint,
                        received_at=to_iso(ctx.clock()),
                    )
                )
        row: AlertRow | None = None
        if batch is not None:
            state = batch.states.get(fingerprint)
        else:
            row = session.get(AlertRow, fingerprint)
            state = AlertState.from_row(row) if row else None
        type_, outcome = _decide(state, alert, episodes_by_start)
        if type_ is None:
            return outcome
        payload: dict[str, Any]
        if type_ == REPEATED:
            assert state is not None
            payload = {"alert": _changed_fields(state, alert)}
        else:
            payload = {"alert": alert.to_dict(), "group_key": group_key_for(alert, self.group_by)}
        if type_ == RESOLVED and not alert.ends_at:
            payload["alert"]["ends_at"] = batch.now if batch is not None else to_iso(ctx.clock())
        event = _append_event(session, ctx, STREAM_PREFIX + fingerprint, type_, payload, batch)
        new_state = apply(state, event)
        values = _row_values(new_state, batch.texts.get(fingerprint) if batch else None)
        if batch is not None:
            batch.states[fingerprint] = new_state
            batch.texts[fingerprint] = _Texts(
                new_state.labels, values[_LABELS_AT], new_state.annotations, values[_ANNOTATIONS_AT]
            )
            if state is None or fingerprint in batch.inserts:
                batch.inserts[fingerprint] = values
            else:
                batch.updates[fingerprint] = values
        elif row is None:
            session.add(AlertRow(**dict(zip(_ALERT_COLUMNS, values, strict=True))))
        else:
            for name, value in zip(_ALERT_COLUMNS, values, strict=True):
                setattr(row, name, value)
        changes_group = outcome in ("new", "refired") or (
            batch is not None and batch.queue_every_group
        )
        if changes_group and (batch is None or new_state.group_key not in batch.queued_groups):
            queue_for_index(session, ctx, "alert_group", new_state.group_key)
            if batch is not None:
                batch.queued_groups.add(new_state.group_key)
        return outcome

    def acknowledge_in(
        self, session: Session, ctx: Context, fingerprint: str, receipt_key: str | None = None
    ) -> str:
        """Record that the sender (PagerDuty) acknowledged a firing alert."""
        if receipt_key is not None:
            if session.get(AlertReceiptRow, receipt_key) is not None:
                return "replayed"
            session.add(
                AlertReceiptRow(
                    receipt_key=receipt_key,
                    fingerprint=fingerprint,
                    received_at=to_iso(ctx.clock()),
                )
            )
        row = session.get(AlertRow, fingerprint)
        if row is None or row.status != "firing":
            return "ignored"
        event = append(session, ctx, STREAM_PREFIX + fingerprint, ACKNOWLEDGED, {})
        session.merge(apply(AlertState.from_row(row), event).to_row())
        return "acknowledged"

    # -- senders ---------------------------------------------------------------------------

    def ingest_alertmanager(
        self, ctx: Context, payload: AlertmanagerPayload, receipt_key: str | None = None
    ) -> IngestResult:
        """One Alertmanager notification, all of it or none of it, with its request record."""

        def work() -> IngestResult:
            result = IngestResult(truncated_alerts=payload.truncated_alerts)
            keys: list[str | None] = (
                [f"{receipt_key}#{i}" for i in range(len(payload.alerts))]
                if receipt_key is not None
                else [None] * len(payload.alerts)
            )
            with self._writing() as session:
                self.ingest_many_in(
                    session, ctx, payload.alerts, keys, result, episodes_by_start=True
                )
                if self._first_receipt(session, ctx, receipt_key, payload.group_key):
                    self.record_request_in(
                        session,
                        ctx,
                        "alertmanager",
                        result,
                        group_key=payload.group_key,
                        receiver=payload.receiver,
                        alerts=len(payload.alerts),
                        truncated_alerts=payload.truncated_alerts,
                    )
            return result

        result = with_lock_retry(work)
        _log_ingest(ctx, result, group_key=payload.group_key)
        return result

    def ingest_pagerduty(
        self, ctx: Context, event: PagerDutyEvent, receipt_key: str | None = None
    ) -> IngestResult:
        """One PagerDuty event (trigger, acknowledge or resolve) in one transaction."""

        def work() -> IngestResult:
            result = IngestResult()
            with self._writing() as session:
                if event.action == "trigger":
                    assert event.alert is not None
                    self.ingest_many_in(session, ctx, [event.alert], [receipt_key], result)
                elif event.action == "acknowledge":
                    result.counts[
                        self.acknowledge_in(session, ctx, event.dedup_key, receipt_key)
                    ] += 1
                    result.fingerprints.append(event.dedup_key)
                else:
                    row = session.get(AlertRow, event.dedup_key)
                    if row is None:
                        result.counts["ignored"] += 1
                    else:
                        state = AlertState.from_row(row)
                        closing = NativeAlert(
                            source=state.source,
                            name=state.name,
                            fingerprint=state.fingerprint,
                            status="resolved",
                            severity=state.severity,
                            summary=state.summary,
                            labels=state.labels,
                            annotations=state.annotations,
                            starts_at=state.starts_at,
                            ends_at=to_iso(ctx.clock()),
                        )
                        self.ingest_many_in(session, ctx, [closing], [receipt_key], result)
                if self._first_receipt(session, ctx, receipt_key, event.dedup_key):
                    self.record_request_in(
                        session, ctx, "pagerduty", result, group_key=event.dedup_key, alerts=1
                    )
            return result

        result = with_lock_retry(work)
        _log_ingest(ctx, result, dedup_key=event.dedup_key, action=event.action)
        return result

    @staticmethod
    def _first_receipt(session: Session, ctx: Context, key: str | None, what: str) -> bool:
        """Whether this request is seen for the first time: always for the receiver (no key);
        for a file line, only the first time (a re-ingest adds no request record either)."""
        if key is None:
            return True
        request_key = f"{key}@request"
        if session.get(AlertReceiptRow, request_key) is not None:
            return False
        session.add(
            AlertReceiptRow(
                receipt_key=request_key, fingerprint=what, received_at=to_iso(ctx.clock())
            )
        )
        return True

    def record_request_in(
        self,
        session: Session,
        ctx: Context,
        source: str,
        result: IngestResult,
        *,
        group_key: str | None = None,
        receiver: str | None = None,
        alerts: int = 0,
        truncated_alerts: int = 0,
    ) -> None:
        from incidentbook.storage.alert_receiver_models import IngestRequestRow

        session.add(
            IngestRequestRow(
                received_at=to_iso(ctx.clock()),
                source=source,
                actor=ctx.actor,
                correlation_id=ctx.correlation_id,
                group_key=group_key,
                receiver=receiver,
                alerts=alerts,
                truncated_alerts=truncated_alerts,
                outcome=json.dumps({k: v for k, v in result.counts.items() if v}, sort_keys=True),
            )
        )
        if truncated_alerts:
            from incidentbook.obs import log_error

            log_error(
                "alertmanager.truncated",
                f"Alertmanager truncated {truncated_alerts} alerts of group {group_key!r}",
                ctx.correlation_id,
                truncated_alerts=truncated_alerts,
                group_key=group_key,
            )

    # -- incidents ---------------------------------------------------------------------------

    def join_open_incidents_in(
        self, session: Session, ctx: Context, group_of: dict[str, str]
    ) -> int:
        """New alerts (fingerprint → group key) of a group whose incident is still unresolved
        join that incident.

        One link event per incident (not per alert); returns how many alerts joined."""
        session.flush()
        by_group: dict[str, list[str]] = {}
        for fingerprint, group_key in group_of.items():
            by_group.setdefault(group_key, []).append(fingerprint)
        joined = 0
        for group_key, members in by_group.items():
            incident = session.exec(
                select(IncidentRow)
                .where(IncidentRow.group_key == group_key, IncidentRow.status != "resolved")
                .order_by(col(IncidentRow.number))
            ).first()
            if incident is None:
                continue
            joined += self.link_many_in(session, ctx, members, incident.id)
        return joined

    def link_to_incident(self, ctx: Context, fingerprint: str, incident_id: str) -> IncidentOutcome:
        """Link one alert and an incident both ways (``incident link-alert``); idempotent."""
        from incidentbook.core.incidents.model import Outcome, parse_id
        from incidentbook.core.incidents.service import IncidentService

        canonical = parse_id(incident_id)
        with self.db.write() as session:
            added = self.link_many_in(session, ctx, [fingerprint], canonical)
        state = IncidentService(self.db).get(canonical)
        message = (
            f"{canonical}: alert linked" if added else f"{canonical}: {fingerprint} already linked"
        )
        return Outcome(state, bool(added), message=message)

    def link_many_in(
        self, session: Session, ctx: Context, fingerprints: Iterable[str], incident_id: str
    ) -> int:
        """Link alerts and an incident both ways in the caller's transaction: one
        ``alert.joined_incident`` per alert stream, ONE event on the incident's timeline.
        Returns how many alerts were newly linked to the incident (idempotent)."""
        from incidentbook.core.incidents.model import ALERT_LINKED, ALERTS_LINKED
        from incidentbook.core.incidents.service import IncidentService

        incident = session.get(IncidentRow, incident_id)
        if incident is None:
            raise NotFoundError(f"no incident {incident_id}")
        linked = set(json.loads(incident.alerts))
        added: list[str] = []
        wanted = list(dict.fromkeys(fingerprints))
        batch = _Batch.prefetch(session, wanted, [], to_iso(ctx.clock()))
        for fingerprint in wanted:
            state = batch.states.get(fingerprint)
            if state is None:
                raise NotFoundError(f"no alert with fingerprint {fingerprint!r}")
            if state.incident_id != incident_id:
                event = _append_event(
                    session,
                    ctx,
                    STREAM_PREFIX + fingerprint,
                    JOINED,
                    {"incident_id": incident_id},
                    batch,
                )
                new_state = apply(state, event)
                batch.states[fingerprint] = new_state
                batch.updates[fingerprint] = _row_values(new_state)
            if fingerprint not in linked:
                linked.add(fingerprint)
                added.append(fingerprint)
        batch.write(session)
        if len(added) == 1:
            IncidentService(self.db).apply_in(
                session, ctx, incident_id, ALERT_LINKED, {"fingerprint": added[0]}
            )
        elif added:
            IncidentService(self.db).apply_in(
                session, ctx, incident_id, ALERTS_LINKED, {"fingerprints": added}
            )
        return len(added)

    def acknowledge_group(
        self, ctx: Context, group_key: str, *, severity: str | None = None
    ) -> IncidentOutcome:
        """Acknowledge an alert group: open (or join) its incident and link its firing alerts.

        Idempotent: the group's unresolved incident is reused, linked alerts stay linked, and
        the incident's timeline gets one batch link event however large the group.
        """
        from incidentbook.core.incidents.model import Outcome
        from incidentbook.core.incidents.service import IncidentService

        with self.db.read() as session:
            firing = [
                AlertState.from_row(r)
                for r in session.exec(
                    select(AlertRow).where(
                        AlertRow.status == "firing", AlertRow.group_key == group_key
                    )
                ).all()
            ]
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
            added = self.link_many_in(session, ctx, [a.fingerprint for a in firing], incident_id)
        final = incidents.get(incident_id)
        changed = opened.changed or acked.changed or added > 0
        return Outcome(final, changed, message=f"group {group_key} → {incident_id}")

    # -- reads ---------------------------------------------------------------------------

    def get(self, fingerprint: str) -> AlertState:
        with self.db.read() as session:
            row = session.get(AlertRow, fingerprint)
            if row is None:
                raise NotFoundError(f"no alert with fingerprint {fingerprint!r}")
            return AlertState.from_row(row)

    def history(self, fingerprint: str) -> list[Event]:
        """Every event of one alert, oldest first (fired, repeated, acknowledged, joined…)."""
        with self.db.read() as session:
            if session.get(AlertRow, fingerprint) is None:
                raise NotFoundError(f"no alert with fingerprint {fingerprint!r}")
            return stream_events(session, STREAM_PREFIX + fingerprint)

    def acknowledged_at(self, events: list[Event]) -> str | None:
        """When the sender last acknowledged the current episode, if it did."""
        acked: str | None = None
        for event in events:
            if event.type in (FIRED, REFIRED):
                acked = None
            elif event.type == ACKNOWLEDGED:
                acked = event.recorded_at
        return acked

    def requests(self, *, limit: int = 50, truncated_only: bool = False) -> list[IngestRequest]:
        """Accepted receiver requests, newest first (``truncated_only``: where Alertmanager
        dropped alerts from a notification, ``truncatedAlerts`` > 0)."""
        from incidentbook.storage.alert_receiver_models import IngestRequestRow

        with self.db.read() as session:
            query = select(IngestRequestRow)
            if truncated_only:
                query = query.where(col(IngestRequestRow.truncated_alerts) > 0)
            rows = session.exec(query.order_by(col(IngestRequestRow.id).desc()).limit(limit)).all()
        return [
            IngestRequest(
                id=r.id or 0,
                received_at=r.received_at,
                source=r.source,
                actor=r.actor,
                correlation_id=r.correlation_id,
                group_key=r.group_key,
                receiver=r.receiver,
                alerts=r.alerts,
                truncated_alerts=r.truncated_alerts,
                outcome=json.loads(r.outcome),
            )
            for r in rows
        ]

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
