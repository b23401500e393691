"""The alerts' SQL: the raw-SQL batch writer, row <-> state conversion, SQLite lock retry.

A batch (``Batch``) reads its alerts and receipts with a few ``IN`` queries and writes its
events, receipts and rows with a few ``executemany`` statements, no ORM object per alert.
A receipt key (the hash of an ingested file's line) makes an exact replay of the same input a
no-op. ``with_lock_retry`` re-runs a whole transaction when SQLite's lock outlasted the busy
timeout.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypeVar

from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, func, select

from incidentbook.clock import to_iso
from incidentbook.context import Context
from incidentbook.core.alerts.model import AlertState
from incidentbook.core.batches import chunks, marks
from incidentbook.core.events.model import Event, encode_data, encode_sorted, new_event_id
from incidentbook.core.events.store import INSERT_EVENT_SQL, chain_head
from incidentbook.core.incidents.model import GROUP_JOINED
from incidentbook.core.incidents.model import STREAM_PREFIX as INCIDENT_STREAM_PREFIX
from incidentbook.obs import log_error
from incidentbook.storage.models import AlertReceiptRow, AlertRow, EventRow, IncidentRow

T = TypeVar("T")

ALERT_COLUMNS = tuple(f.name for f in fields(AlertState))
assert ALERT_COLUMNS[0] == "fingerprint"  # the UPDATE moves it last, for its WHERE
LABELS_AT = ALERT_COLUMNS.index("labels")
ANNOTATIONS_AT = ALERT_COLUMNS.index("annotations")
_INSERT_ALERT = f"INSERT INTO alerts ({', '.join(ALERT_COLUMNS)}) VALUES ({marks(ALERT_COLUMNS)})"
_UPDATE_ALERT = (
    f"UPDATE alerts SET {', '.join(f'{c} = ?' for c in ALERT_COLUMNS[1:])} WHERE fingerprint = ?"
)


# -- rows and states ---------------------------------------------------------------------------


def state_to_row(state: AlertState) -> AlertRow:
    values = asdict(state)
    values["labels"] = encode_sorted(state.labels)
    values["annotations"] = encode_sorted(state.annotations)
    return AlertRow(**values)


def state_from_row(row: AlertRow) -> AlertState:
    values = row.model_dump()
    values["labels"] = json.loads(row.labels)
    values["annotations"] = json.loads(row.annotations)
    return AlertState(**values)


def state_from_values(values: Sequence[Any]) -> AlertState:
    """An alert row (its columns in ``ALERT_COLUMNS`` order) as state."""
    row = list(values)
    row[LABELS_AT] = json.loads(row[LABELS_AT])
    row[ANNOTATIONS_AT] = json.loads(row[ANNOTATIONS_AT])
    return AlertState(*row)


@dataclass(frozen=True)
class Texts:
    """An alert's labels and annotations (the very dicts) and their JSON in its row."""

    labels: dict[str, str]
    labels_json: str
    annotations: dict[str, str]
    annotations_json: str

    @classmethod
    def of(cls, state: AlertState, values: Sequence[Any]) -> Texts:
        """The texts of ``state`` as its row ``values`` hold them."""
        return cls(state.labels, values[LABELS_AT], state.annotations, values[ANNOTATIONS_AT])


def row_values(state: AlertState, known: Texts | None = None) -> tuple[Any, ...]:
    """The alert's row, its columns in ``ALERT_COLUMNS`` order; labels and annotations that
    are the same objects as ``known``'s (a fold keeps unchanged ones) reuse its JSON."""
    values = [getattr(state, name) for name in ALERT_COLUMNS]
    values[LABELS_AT] = (
        known.labels_json
        if known is not None and state.labels is known.labels
        else encode_sorted(state.labels)
    )
    values[ANNOTATIONS_AT] = (
        known.annotations_json
        if known is not None and state.annotations is known.annotations
        else encode_sorted(state.annotations)
    )
    return tuple(values)


# -- the batch writer --------------------------------------------------------------------------


@dataclass
class Batch:
    """One batch's view of the store, read with a few ``IN`` queries and written with a few
    ``executemany`` statements (no ORM object per alert): the states of its alerts (None: not
    stored yet), the receipts already taken, and the rows to insert or update at the end."""

    states: dict[str, AlertState | None]
    receipts: set[str]
    now: str  # the batch's one transaction time: its receipts' and events' recorded_at
    queue_every_group: bool = False
    new_receipts: list[tuple[str, str, str]] = field(default_factory=list)
    # rows as tuples in ALERT_COLUMNS order (fingerprint first)
    inserts: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    updates: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    queued_groups: set[str] = field(default_factory=set)
    new_events: list[tuple[Any, ...]] = field(default_factory=list)
    # each known alert's labels and annotations with their stored JSON: a repeat that keeps
    # the same dicts (most do) writes the same text without encoding it again
    texts: dict[str, Texts] = field(default_factory=dict)

    @classmethod
    def prefetch(
        cls, session: Session, wanted: Iterable[str], receipt_keys: list[str | None], now: str
    ) -> Batch:
        session.flush()  # anything the caller left pending must be visible to Core reads
        conn = session.connection()
        fingerprints = list(dict.fromkeys(wanted))
        states: dict[str, AlertState | None] = dict.fromkeys(fingerprints)
        texts: dict[str, Texts] = {}
        columns = ", ".join(ALERT_COLUMNS)
        for chunk in chunks(fingerprints):
            for values in conn.exec_driver_sql(
                f"SELECT {columns} FROM alerts WHERE fingerprint IN ({marks(chunk)})",
                tuple(chunk),
            ).fetchall():  # one driver fetch, not one per row
                state = state_from_values(values)
                states[state.fingerprint] = state
                texts[state.fingerprint] = Texts.of(state, values)
        keys = [k for k in dict.fromkeys(receipt_keys) if k is not None]
        receipts: set[str] = set()
        for chunk in chunks(keys):
            receipts.update(
                str(r[0])
                for r in conn.exec_driver_sql(
                    f"SELECT receipt_key FROM alert_receipts WHERE receipt_key IN ({marks(chunk)})",
                    tuple(chunk),
                )
            )
        return cls(states, receipts, now, texts=texts)

    def write(self, session: Session) -> None:
        conn = session.connection()
        if self.new_events:
            conn.exec_driver_sql(INSERT_EVENT_SQL, self.new_events)
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


def append_event(
    session: Session,
    ctx: Context,
    stream: str,
    type_: str,
    data: dict[str, Any],
    batch: Batch | None = None,
) -> Event:
    """``events.append`` without the ORM: the same row, written by one Core INSERT, or (in a
    batch) queued with its sequence number for one ``executemany`` at the end of the batch.

    Alert batches append thousands of events; the ORM unit of work per event dominated. In a
    batch the sequence numbers and chain hashes are assigned here from the chain's head: the
    transaction holds SQLite's write lock (BEGIN IMMEDIATE), so no one else appends meanwhile."""
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
        None,  # idempotency_key
    )
    # the transaction's one head (events.store.chain_head), moved on past queued rows too
    row = chain_head(session).link(values)
    if batch is not None:
        batch.new_events.append(row)
    else:
        session.connection().exec_driver_sql(INSERT_EVENT_SQL, row)
    seq = int(row[0])
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


# -- single rows (the one-alert path and the reads) --------------------------------------------


def take_receipt(session: Session, ctx: Context, key: str, fingerprint: str) -> bool:
    """Record a receipt key unless it is taken already; whether it was new."""
    if session.get(AlertReceiptRow, key) is not None:
        return False
    session.add(
        AlertReceiptRow(receipt_key=key, fingerprint=fingerprint, received_at=to_iso(ctx.clock()))
    )
    return True


def load_row(session: Session, fingerprint: str) -> AlertRow | None:
    return session.get(AlertRow, fingerprint)


def write_row(session: Session, row: AlertRow | None, values: tuple[Any, ...]) -> None:
    """Store an alert's row (``values`` in ``ALERT_COLUMNS`` order) through the ORM: a new
    row when ``row`` is None, else ``row`` updated in place."""
    if row is None:
        session.add(AlertRow(**dict(zip(ALERT_COLUMNS, values, strict=True))))
    else:
        for name, value in zip(ALERT_COLUMNS, values, strict=True):
            setattr(row, name, value)


def save_state(session: Session, state: AlertState) -> None:
    session.merge(state_to_row(state))


def get_state(session: Session, fingerprint: str) -> AlertState | None:
    row = session.get(AlertRow, fingerprint)
    return state_from_row(row) if row is not None else None


def firing_in_group(session: Session, group_key: str) -> list[AlertState]:
    return [
        state_from_row(r)
        for r in session.exec(
            select(AlertRow).where(AlertRow.status == "firing", AlertRow.group_key == group_key)
        ).all()
    ]


def list_states(
    session: Session, status: str = "firing", limit: int | None = None
) -> list[AlertState]:
    """Alerts of a status (or ``all``: see ``model.check_status``), the most recently seen
    first."""
    query = select(AlertRow)
    if status != "all":
        query = query.where(AlertRow.status == status)
    query = query.order_by(col(AlertRow.last_seen).desc())
    if limit is not None:
        query = query.limit(limit)
    return [state_from_row(r) for r in session.exec(query).all()]


def name_in_group(session: Session, group_key: str) -> str | None:
    """The name (a reconciler check) of one firing alert of the group, if it has any."""
    return session.exec(
        select(AlertRow.name)
        .where(AlertRow.status == "firing", AlertRow.group_key == group_key)
        .limit(1)
    ).first()


def incidents_opened_from_groups(session: Session) -> list[tuple[str, str]]:
    """(incident id, group key) of every unresolved incident opened from an alert group
    (``ack-group``), oldest first."""
    rows = session.exec(
        select(IncidentRow.id, IncidentRow.group_key)
        .where(IncidentRow.source == "alert_group", IncidentRow.status != "resolved")
        .order_by(col(IncidentRow.number))
    ).all()
    return [(str(incident_id), str(key)) for incident_id, key in rows if key]


def open_incident_of_group(session: Session, group_key: str) -> str | None:
    """The id of the group's first incident not resolved yet, if any: one opened from the
    group, else one the group joined (``ack-group --incident``: a ``GROUP_JOINED`` event)."""
    incident = session.exec(
        select(IncidentRow)
        .where(IncidentRow.group_key == group_key, IncidentRow.status != "resolved")
        .order_by(col(IncidentRow.number))
    ).first()
    if incident is None:
        joined = [
            stream.removeprefix(INCIDENT_STREAM_PREFIX)
            for stream in session.exec(
                select(EventRow.stream).where(
                    EventRow.type == GROUP_JOINED,
                    func.json_extract(EventRow.data, "$.group_key") == group_key,
                )
            ).all()
        ]
        if joined:
            incident = session.exec(
                select(IncidentRow)
                .where(col(IncidentRow.id).in_(joined), IncidentRow.status != "resolved")
                .order_by(col(IncidentRow.number))
            ).first()
    return incident.id if incident is not None else None


def incident_alerts(session: Session, incident_id: str) -> set[str] | None:
    """The fingerprints an incident links (None: no such incident)."""
    incident = session.get(IncidentRow, incident_id)
    if incident is None:
        return None
    return set(json.loads(incident.alerts))


# -- SQLite's lock -----------------------------------------------------------------------------


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
            log_error("db.locked_retry", str(exc.orig), None, attempt=attempt + 1)
            time.sleep(base_delay * (2**attempt))
    raise AssertionError("unreachable")  # pragma: no cover
