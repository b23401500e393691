"""The ``documents`` and ``action_items`` tables: rows <-> states, and the queries on them.

Both tables are projections, written in the same transaction as each event (``service``);
``verify`` re-derives them (``verify``).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from incidentbook.core.documents.model import ActionState, DocumentState
from incidentbook.storage.documents_models import ActionItemRow, DocumentRow

if TYPE_CHECKING:
    from incidentbook.storage.db import Database


# -- rows <-> states -------------------------------------------------------------------------


def document_to_row(state: DocumentState) -> DocumentRow:
    values = asdict(state)
    values["services"] = json.dumps(list(state.services))
    values["tags"] = json.dumps(list(state.tags))
    values["risks"] = json.dumps(list(state.risks), sort_keys=True)
    return DocumentRow(**values)


def document_from_row(row: DocumentRow) -> DocumentState:
    values = row.model_dump()
    values["services"] = tuple(json.loads(row.services))
    values["tags"] = tuple(json.loads(row.tags))
    values["risks"] = tuple(json.loads(row.risks))
    return DocumentState(**values)


def action_to_row(state: ActionState) -> ActionItemRow:
    return ActionItemRow(**asdict(state))


def action_from_row(row: ActionItemRow) -> ActionState:
    return ActionState(**row.model_dump())


# -- in the caller's transaction -------------------------------------------------------------


def get_document(session: Session, doc_id: str) -> DocumentState | None:
    row = session.get(DocumentRow, doc_id)
    return document_from_row(row) if row else None


def save_document(session: Session, state: DocumentState) -> None:
    session.merge(document_to_row(state))


def actions_of(session: Session, doc_id: str) -> list[ActionState]:
    """A document's tracked action items, in the order they were opened."""
    return [
        action_from_row(r)
        for r in session.exec(
            select(ActionItemRow)
            .where(ActionItemRow.doc_id == doc_id)
            .order_by(col(ActionItemRow.opened_at), col(ActionItemRow.key))
        ).all()
    ]


def get_action(session: Session, key: str) -> ActionState | None:
    row = session.get(ActionItemRow, key)
    return action_from_row(row) if row else None


def save_action(session: Session, state: ActionState) -> None:
    session.merge(action_to_row(state))


def document_ids(session: Session) -> list[str]:
    return list(session.exec(select(DocumentRow.id)).all())


# -- reads -----------------------------------------------------------------------------------


def list_actions(
    db: Database,
    *,
    status: str | None = None,
    overdue_on: dt.date | None = None,
    doc_id: str | None = None,
) -> list[ActionState]:
    with db.read() as session:
        query = select(ActionItemRow)
        if status:
            query = query.where(ActionItemRow.status == status)
        if doc_id:
            query = query.where(ActionItemRow.doc_id == doc_id)
        rows = session.exec(query).all()
    states = [action_from_row(r) for r in rows]
    if overdue_on is not None:
        states = [s for s in states if s.overdue(overdue_on)]
    order = {"open": 0, "done": 1, "dropped": 2}
    return sorted(states, key=lambda s: (order.get(s.status, 3), s.due or "9999", s.key))


def action_counts(db: Database, today: dt.date) -> dict[str, int]:
    """Action items by status plus ``overdue`` (open, due before ``today``): for the Health
    view and ``stats``."""
    counts = {"open": 0, "done": 0, "dropped": 0, "overdue": 0}
    for state in list_actions(db):
        counts[state.status] = counts.get(state.status, 0) + 1
        if state.overdue(today):
            counts["overdue"] += 1
    return counts


def list_documents(db: Database, kind: str | None = None) -> list[DocumentState]:
    with db.read() as session:
        query = select(DocumentRow)
        if kind:
            query = query.where(DocumentRow.kind == kind)
        rows = session.exec(query.order_by(col(DocumentRow.id))).all()
    return [document_from_row(r) for r in rows]


def documents_for_incident(db: Database, incident_id: str) -> list[DocumentState]:
    with db.read() as session:
        rows = session.exec(select(DocumentRow).where(DocumentRow.incident_id == incident_id)).all()
    return [document_from_row(r) for r in rows]
