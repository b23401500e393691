"""The append-only event log in the state database.

``append`` writes one event inside the caller's transaction, so the event, the projection it
updates and the search outbox entry commit together or not at all. The table refuses UPDATE
and DELETE itself (migration 0001's triggers).

Every append links the hash chain (``model.link_hash``): it reads the newest event's seq and
hash and writes seq + 1 with its hash. Appends run in ``Database.write()`` transactions, which
begin IMMEDIATE: SQLite's write lock is held from the first statement, so no other process can
append between that read and the insert, and the chain cannot fork (the seq primary key would
refuse a second event at one seq anyway).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import event
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session, col, func, select

from incidentbook.clock import to_iso
from incidentbook.context import Context
from incidentbook.core.batches import marks
from incidentbook.core.events.model import (
    CHAIN_COLUMNS,
    GENESIS_HASH,
    Event,
    encode_data,
    link_hash,
    new_event_id,
)
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


# A chained row: its content in CHAIN_COLUMNS order, then prev_hash and hash.
ROW_COLUMNS = (*CHAIN_COLUMNS, "prev_hash", "hash")
INSERT_EVENT_SQL = f"INSERT INTO events ({', '.join(ROW_COLUMNS)}) VALUES ({marks(ROW_COLUMNS)})"
_HEAD_SQL = "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1"
_HEAD_INFO = "incidentbook.chain_head"  # session.info: the transaction's ChainHead


@dataclass
class ChainHead:
    """The newest event's seq and hash: where the next append links on."""

    seq: int
    hash: str | None

    def link(self, values: tuple[Any, ...]) -> tuple[Any, ...]:
        """The next event's row (``ROW_COLUMNS`` order) from its content without the seq
        (``CHAIN_COLUMNS[1:]``), and move the head on to it."""
        seq = self.seq + 1
        content = (seq, *values)
        digest = link_hash(self.hash, content)
        row = (*content, self.hash, digest)
        self.seq, self.hash = seq, digest
        return row


def chain_head(session: Session) -> ChainHead:
    """The chain's head as the caller's transaction sees it (in a write transaction: as the
    next append will link it). An empty log's head is seq 0, ``GENESIS_HASH``.

    Read once per transaction and kept on the session: every append of the transaction (the
    ORM path and the alerts' raw and batch paths alike) links from, and moves on, that one
    head. The end of any transaction (a commit, a rollback, a savepoint's release or rollback)
    forgets it (``_forget_head``), so the next append reads it again."""
    kept = session.info.get(_HEAD_INFO)
    if kept is not None:
        return cast(ChainHead, kept)
    row = session.connection().exec_driver_sql(_HEAD_SQL).first()
    head = ChainHead(0, GENESIS_HASH) if row is None else ChainHead(int(row[0]), row[1])
    session.info[_HEAD_INFO] = head
    return head


@event.listens_for(OrmSession, "after_transaction_end")
def _forget_head(session: OrmSession, transaction: SessionTransaction) -> None:
    # a flush's own subtransaction (not nested, with a parent) ends on every flush: not that
    if transaction.nested or transaction.parent is None:
        session.info.pop(_HEAD_INFO, None)


def append(
    session: Session,
    ctx: Context,
    stream: str,
    type_: str,
    data: dict[str, Any] | None = None,
    *,
    idempotency_key: str | None = None,
) -> Event:
    values = chain_head(session).link(
        (
            new_event_id(),
            stream,
            type_,
            encode_data(data or {}),
            ctx.actor,
            ctx.reason,
            ctx.correlation_id,
            to_iso(ctx.clock()),
            idempotency_key,
        )
    )
    row = EventRow(**dict(zip(ROW_COLUMNS, values, strict=True)))
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
