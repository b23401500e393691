"""The append-only event log in the state database.

``append`` writes one event inside the caller's transaction, so the event, the projection it
updates and the search outbox entry commit together or not at all. The table refuses UPDATE
and DELETE itself (migration 0001's triggers).
"""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session, col, func, select

from incidentbook.clock import to_iso
from incidentbook.context import Context
from incidentbook.core.events.model import Event, encode_data, new_event_id
from incidentbook.storage.db import Database
from incidentbook.storage.models import EventRow, OutboxRow


def event_from_row(row: EventRow) -> Event:
    assert row.seq is not None
    return Event(
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
    return event_from_row(row)


def find_by_key(session: Session, idempotency_key: str) -> Event | None:
    row = session.exec(select(EventRow).where(EventRow.idempotency_key == idempotency_key)).first()
    return event_from_row(row) if row else None


def stream_events(session: Session, stream: str) -> list[Event]:
    rows = session.exec(
        select(EventRow).where(EventRow.stream == stream).order_by(col(EventRow.seq))
    ).all()
    return [event_from_row(r) for r in rows]


def events_by_prefix(session: Session, prefix: str) -> list[Event]:
    rows = session.exec(
        select(EventRow)
        .where(col(EventRow.stream).startswith(prefix, autoescape=True))
        .order_by(col(EventRow.seq))
    ).all()
    return [event_from_row(r) for r in rows]


def queue_for_index(session: Session, ctx: Context, doc_kind: str, doc_id: str) -> None:
    """Queue a document for (re)indexing in the caller's transaction: the search outbox."""
    session.add(OutboxRow(doc_kind=doc_kind, doc_id=doc_id, queued_at=to_iso(ctx.clock())))


def last_seq(db: Database) -> int:
    """The number of the newest event: a cheap "has anything changed?" probe."""
    with db.read() as session:
        newest = session.exec(select(func.max(EventRow.seq))).one()
        return int(newest or 0)
