"""The append-only event log: every change incidentbook makes to its own state.

``append`` writes one event inside the caller's transaction, so the event, the projection it
updates and the search outbox entry commit together or not at all.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, func, select

from incidentbook.clock import to_iso
from incidentbook.context import Context
from incidentbook.storage.db import Database
from incidentbook.storage.models import EventRow, OutboxRow

# JSON text as incidentbook stores it, one encoder each made once (json.dumps with options
# builds a new encoder per call, and alert batches encode thousands): an event's data, and
# the sorted maps kept in other columns (alert labels and annotations, finding details).
encode_data = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode
encode_sorted = json.JSONEncoder(sort_keys=True).encode


@dataclass(frozen=True)
class Event:
    seq: int
    stream: str
    type: str
    data: dict[str, Any]
    actor: str
    reason: str | None
    correlation_id: str
    recorded_at: str
    idempotency_key: str | None

    @classmethod
    def from_row(cls, row: EventRow) -> Event:
        assert row.seq is not None
        return cls(
            seq=row.seq,
            stream=row.stream,
            type=row.type,
            data=json.loads(row.data),
            actor=row.actor,
            reason=row.reason,
            correlation_id=row.correlation_id,
            recorded_at=row.recorded_at,
            idempotency_key=row.idempotency_key,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "stream": self.stream,
            "type": self.type,
            "data": self.data,
            "actor": self.actor,
            "reason": self.reason,
            "correlation_id": self.correlation_id,
            "recorded_at": self.recorded_at,
        }


def new_event_id() -> str:
    """A UUIDv7 (RFC 9562 §5.7) as 32 hex digits: Unix milliseconds, then 74 random bits.

    Ordered by the millisecond (ids of the same millisecond in any order), so a batch's ids
    land together at the end of the unique ``event_id`` index; random (v4) ids spread every
    batch over the whole index, and a reconcile of thousands of findings wrote ever more of
    it as the log grew. Python 3.14's ``uuid.uuid7`` replaces this."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    value = value & ~(0xF << 76) | 0x7 << 76  # version 7
    value = value & ~(0x3 << 62) | 0x2 << 62  # RFC 9562 variant
    return f"{value:032x}"


def append(
    session: Session,
    ctx: Context,
    stream: str,
    type_: str,
    data: dict[str, Any] | None = None,
    *,
    idempotency_key: str | None = None,
) -> Event:
    row = EventRow(
        event_id=new_event_id(),
        stream=stream,
        type=type_,
        data=encode_data(data or {}),
        actor=ctx.actor,
        reason=ctx.reason,
        correlation_id=ctx.correlation_id,
        recorded_at=to_iso(ctx.clock()),
        idempotency_key=idempotency_key,
    )
    session.add(row)
    session.flush()
    return Event.from_row(row)


def find_by_key(session: Session, idempotency_key: str) -> Event | None:
    row = session.exec(select(EventRow).where(EventRow.idempotency_key == idempotency_key)).first()
    return Event.from_row(row) if row else None


def stream_events(session: Session, stream: str) -> list[Event]:
    rows = session.exec(
        select(EventRow).where(EventRow.stream == stream).order_by(col(EventRow.seq))
    ).all()
    return [Event.from_row(r) for r in rows]


def events_by_prefix(session: Session, prefix: str) -> list[Event]:
    rows = session.exec(
        select(EventRow)
        .where(col(EventRow.stream).startswith(prefix, autoescape=True))
        .order_by(col(EventRow.seq))
    ).all()
    return [Event.from_row(r) for r in rows]


def queue_for_index(session: Session, ctx: Context, doc_kind: str, doc_id: str) -> None:
    """Queue a document for (re)indexing in the caller's transaction: the search outbox."""
    session.add(OutboxRow(doc_kind=doc_kind, doc_id=doc_id, queued_at=to_iso(ctx.clock())))


def last_seq(db: Database) -> int:
    """The number of the newest event: a cheap "has anything changed?" probe."""
    with db.read() as session:
        newest = session.exec(select(func.max(EventRow.seq))).one()
        return int(newest or 0)
