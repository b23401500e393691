"""The ``incidents`` table: the projection of incident events, read and written in the
caller's session (so a change commits with the event that caused it and its search outbox
entry)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from sqlmodel import Session, col, func, select

from incidentbook.context import Context
from incidentbook.core.events.store import queue_for_index
from incidentbook.core.incidents.model import IncidentState
from incidentbook.errors import NotFoundError
from incidentbook.storage.models import IncidentRow


def state_to_row(state: IncidentState) -> IncidentRow:
    values: dict[str, Any] = asdict(state)
    values["runbooks"] = json.dumps(list(state.runbooks))
    values["alerts"] = json.dumps(list(state.alerts))
    return IncidentRow(**values)


def state_from_row(row: IncidentRow) -> IncidentState:
    values = row.model_dump()
    values["runbooks"] = tuple(json.loads(row.runbooks))
    values["alerts"] = tuple(json.loads(row.alerts))
    return IncidentState(**values)


def load(session: Session, incident_id: str) -> IncidentState:
    """The stored state of ``incident_id`` (canonical); NotFoundError if there is none."""
    row = session.get(IncidentRow, incident_id)
    if row is None:
        raise NotFoundError(f"no incident {incident_id}")
    return state_from_row(row)


def save(session: Session, ctx: Context, state: IncidentState) -> None:
    """Write the projection row and queue the incident for the search index."""
    session.merge(state_to_row(state))
    queue_for_index(session, ctx, "incident", state.id)


def load_all(session: Session, *, include_resolved: bool) -> list[IncidentState]:
    query = select(IncidentRow)
    if not include_resolved:
        query = query.where(IncidentRow.status != "resolved")
    return [state_from_row(r) for r in session.exec(query).all()]


def find_unresolved_twin(
    session: Session, title: str, group_key: str | None
) -> IncidentState | None:
    """The oldest unresolved incident with the same group (from an alert group) or, without
    a group, the same title."""
    query = select(IncidentRow).where(IncidentRow.status != "resolved")
    if group_key is not None:
        query = query.where(IncidentRow.group_key == group_key)
    else:
        query = query.where(IncidentRow.title == title)
    twin = session.exec(query.order_by(col(IncidentRow.number))).first()
    return state_from_row(twin) if twin is not None else None


def next_number(session: Session) -> int:
    """The number of the next incident: one past the highest stored."""
    return int(session.exec(select(func.coalesce(func.max(IncidentRow.number), 0))).one()) + 1
