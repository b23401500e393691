"""``incidentbook verify``: prove the stored state is what the events say it is.

Every projection is re-derived from the append-only events and compared field by field. Other
parts of the system (search index drift, ledger checkpoints) add checks to ``CHECKS``.
"""

from __future__ import annotations

import importlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlmodel import Session, SQLModel, select

from incidentbook.core import alerts, incidents
from incidentbook.core import events as ev
from incidentbook.settings import Settings
from incidentbook.storage.db import Database
from incidentbook.storage.models import AlertRow, IncidentRow


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


Check = Callable[[Settings, Database], CheckResult]


def check_append_only(_settings: Settings, db: Database) -> CheckResult:
    result = CheckResult("events_append_only")
    with db.read() as session:
        names = {
            str(r[0])
            for r in session.execute(
                text("SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name='events'")
            )
        }
    for required in ("events_no_update", "events_no_delete"):
        result.checked += 1
        if required not in names:
            result.problems.append(f"trigger {required} is missing: events are not protected")
    return result


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


def _by_stream(session: Session, prefix: str) -> dict[str, list[ev.Event]]:
    grouped: dict[str, list[ev.Event]] = defaultdict(list)
    for event in ev.events_by_prefix(session, prefix):
        grouped[event.stream.removeprefix(prefix)].append(event)
    return grouped


def check_projection(
    name: str,
    kind: str,
    db: Database,
    stream_prefix: str,
    row_model: type[SQLModel],
    key_of: Callable[[Any], str],
    derive: Callable[[list[ev.Event]], Any],
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


def check_incidents(_settings: Settings, db: Database) -> CheckResult:
    return check_projection(
        "incidents_projection",
        "incident",
        db,
        incidents.STREAM_PREFIX,
        IncidentRow,
        lambda r: r.id,
        incidents.derive,
        incidents.IncidentState.from_row,
    )


def check_alerts(_settings: Settings, db: Database) -> CheckResult:
    return check_projection(
        "alerts_projection",
        "alert",
        db,
        alerts.STREAM_PREFIX,
        AlertRow,
        lambda r: r.fingerprint,
        alerts.derive,
        alerts.AlertState.from_row,
    )


# Checks from other parts, as "module:function" so verify does not import them eagerly.
CHECKS: list[Check | str] = [
    check_append_only,
    check_incidents,
    check_alerts,
    "incidentbook.core.search.indexer:check_index",
    "incidentbook.core.documents.registry:check_documents",
    "incidentbook.core.documents.registry:check_actions",
    "incidentbook.core.ledger.reconcile:verify_checkpoints",
]


def _resolve(check: Check | str) -> Check:
    if callable(check):
        return check
    module_name, _, func_name = check.partition(":")
    func: Check = getattr(importlib.import_module(module_name), func_name)
    return func


def run_verify(settings: Settings, db: Database) -> list[CheckResult]:
    return [_resolve(check)(settings, db) for check in CHECKS]
