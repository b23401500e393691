"""Changes in the state database: the ``changes`` table (migration 0008), its event and its
search outbox entry, written in the caller's transaction."""

from __future__ import annotations

import json

from sqlmodel import Session, col, select

from incidentbook.clock import to_iso
from incidentbook.context import Context
from incidentbook.core.changes.model import (
    RECORDED,
    STREAM_PREFIX,
    Change,
    ChangeEvent,
    Link,
)
from incidentbook.core.events.store import append, queue_for_index
from incidentbook.storage.changes_models import ChangeRow

DOC_KIND = "change"


def change_from_row(row: ChangeRow) -> Change:
    links = json.loads(row.links or "[]")
    return Change(
        id=row.change_id,
        at=row.at,
        summary=row.summary,
        source=row.source,
        custom_details=json.loads(row.custom_details or "{}"),
        links=tuple(Link(str(x.get("href", "")), str(x.get("text", ""))) for x in links),
        received_at=row.received_at,
        actor=row.actor,
    )


def get_change(session: Session, change_id: str) -> Change | None:
    row = session.get(ChangeRow, change_id)
    return change_from_row(row) if row is not None else None


def record_in(session: Session, ctx: Context, event: ChangeEvent) -> tuple[Change, bool]:
    """Store a change unless it is already stored: (the change, whether it is new). The row,
    its ``change.recorded`` event and its search outbox entry commit together."""
    existing = session.get(ChangeRow, event.change_id)
    if existing is not None:
        return change_from_row(existing), False
    received = to_iso(ctx.clock())
    row = ChangeRow(
        change_id=event.change_id,
        at=event.at or received,
        summary=event.summary,
        source=event.source,
        custom_details=json.dumps(event.custom_details, sort_keys=True),
        links=json.dumps([{"href": x.href, "text": x.text} for x in event.links]),
        received_at=received,
        actor=ctx.actor,
        correlation_id=ctx.correlation_id,
    )
    session.add(row)
    change = change_from_row(row)
    data = change.to_dict()
    data.pop("id")
    append(
        session,
        ctx,
        STREAM_PREFIX + event.change_id,
        RECORDED,
        data,
        idempotency_key=STREAM_PREFIX + event.change_id,
    )
    queue_for_index(session, ctx, DOC_KIND, event.change_id)
    return change, True


def list_changes(
    session: Session, *, since: str | None = None, until: str | None = None
) -> list[Change]:
    """Changes with ``since <= at <= until`` (UTC text compares as time), oldest first."""
    query = select(ChangeRow)
    if since is not None:
        query = query.where(col(ChangeRow.at) >= since)
    if until is not None:
        query = query.where(col(ChangeRow.at) <= until)
    rows = session.exec(query.order_by(col(ChangeRow.at), col(ChangeRow.change_id))).all()
    return [change_from_row(r) for r in rows]


def all_change_ids(session: Session) -> list[str]:
    return [str(i) for i in session.exec(select(ChangeRow.change_id).order_by(ChangeRow.at))]
