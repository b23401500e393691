"""``incidentbook verify``: prove the stored state is what the events say it is.

Every projection is re-derived from the append-only events and compared field by field. Other
parts of the system (search index drift, ledger checkpoints) add checks to ``CHECKS``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from sqlalchemy import text

from incidentbook.core import alerts, incidents
from incidentbook.core.events.projection import CheckResult, check_projection
from incidentbook.settings import Settings
from incidentbook.storage.db import Database
from incidentbook.storage.models import AlertRow, IncidentRow

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
    "incidentbook.core.ledger.reconcile.verify:verify_checkpoints",
]


def _resolve(check: Check | str) -> Check:
    if callable(check):
        return check
    module_name, _, func_name = check.partition(":")
    func: Check = getattr(importlib.import_module(module_name), func_name)
    return func


def run_verify(settings: Settings, db: Database) -> list[CheckResult]:
    return [_resolve(check)(settings, db) for check in CHECKS]
