"""Checking a projection against its events: re-derive every stream and compare it with the
stored row, field by field. ``incidentbook verify`` runs one such check per projection."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, SQLModel, select

from incidentbook.core.events.model import Event
from incidentbook.core.events.store import events_by_prefix
from incidentbook.storage.db import Database


@dataclass
class CheckResult:
    name: str
    checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": self.ok,
            "checked": self.checked,
            "problems": self.problems,
        }


def _compare(
    result: CheckResult,
    kind: str,
    key: str,
    derived: dict[str, Any] | None,
    stored: dict[str, Any] | None,
) -> None:
    result.checked += 1
    if derived is None:
        result.problems.append(f"{kind} {key}: stored row has no events")
    elif stored is None:
        result.problems.append(f"{kind} {key}: events exist but the stored row is missing")
    else:
        for name, value in derived.items():
            if stored.get(name) != value:
                result.problems.append(
                    f"{kind} {key}: {name} is {stored.get(name)!r}, events say {value!r}"
                )


def _by_stream(session: Session, prefix: str) -> dict[str, list[Event]]:
    grouped: dict[str, list[Event]] = defaultdict(list)
    for event in events_by_prefix(session, prefix):
        grouped[event.stream.removeprefix(prefix)].append(event)
    return grouped


def check_projection(
    name: str,
    kind: str,
    db: Database,
    stream_prefix: str,
    row_model: type[SQLModel],
    key_of: Callable[[Any], str],
    derive: Callable[[list[Event]], Any],
    from_row: Callable[[Any], Any],
) -> CheckResult:
    """Re-derive every stream under ``stream_prefix`` and compare it with its stored row.

    ``derive`` folds events into a state and ``from_row`` reads a row into one; both states
    must offer ``to_dict()``. Rows without events and events without rows are problems too.
    """
    result = CheckResult(name)
    with db.read() as session:
        streams = _by_stream(session, stream_prefix)
        rows = {key_of(r): r for r in session.exec(select(row_model)).all()}
    for key in sorted(set(streams) | set(rows)):
        derived = derive(streams[key]) if key in streams else None
        row = rows.get(key)
        _compare(
            result,
            kind,
            key,
            derived.to_dict() if derived else None,
            from_row(row).to_dict() if row is not None else None,
        )
    return result
