"""``incidentbook verify``: prove the stored state is what the events say it is.

Every projection is re-derived from the append-only events and compared field by field; the
features' own checks (search index drift, documents, ledger checkpoints) are listed in
``CHECKS`` beside these. Health sits above the features: it may import every one of them, and
none of them imports health (``CheckResult`` and ``check_projection`` live in
``core.events.projection``), so listing their checks here makes no import cycle.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import text

from incidentbook.core.alerts import model as alert_model
from incidentbook.core.alerts import store as alert_store
from incidentbook.core.changes import model as change_model
from incidentbook.core.changes import store as change_store
from incidentbook.core.documents.files import document_files, outside_documents
from incidentbook.core.documents.heads import check_document_references, check_recorded_heads
from incidentbook.core.documents.verify import (
    check_actions,
    check_document_files,
    check_documents,
)
from incidentbook.core.events.chain import check_chain
from incidentbook.core.events.projection import CheckResult, check_projection
from incidentbook.core.evidence.verify import check_evidence as verify_evidence
from incidentbook.core.fixes.verify import check_fix_plans
from incidentbook.core.incidents import model as incidents
from incidentbook.core.incidents.store import state_from_row as incident_from_row
from incidentbook.core.ledger.reconcile.verify import verify_checkpoints
from incidentbook.core.runbooks.loader import outside_runbooks, runbook_files
from incidentbook.core.search.indexer import check_index
from incidentbook.settings import Settings
from incidentbook.storage.changes_models import ChangeRow
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
        incident_from_row,
    )


def check_alerts(_settings: Settings, db: Database) -> CheckResult:
    return check_projection(
        "alerts_projection",
        "alert",
        db,
        alert_model.STREAM_PREFIX,
        AlertRow,
        lambda r: r.fingerprint,
        alert_model.derive,
        alert_store.state_from_row,
    )


def check_changes(_settings: Settings, db: Database) -> CheckResult:
    return check_projection(
        "changes_projection",
        "change",
        db,
        change_model.STREAM_PREFIX,
        ChangeRow,
        lambda r: r.change_id,
        change_model.derive,
        change_store.change_from_row,
    )


def check_files_inside(settings: Settings, _db: Database) -> CheckResult:
    """Runbooks and documents are read only inside the workspace: a symlink that leads out of
    it (to ``/etc/passwd``, a secret in ``/tmp``) is skipped everywhere and fails here."""
    result = CheckResult("files_inside_workspace")
    outside = outside_runbooks(settings) + outside_documents(settings)
    ours = [p for p, _root, source in runbook_files(settings) if source == "workspace"]
    result.checked = len(ours) + len(document_files(settings)) + len(outside)
    result.problems.extend(
        f"{path}: a symlink that leads out of the workspace; it is not read "
        "(copy the file into the workspace or remove the link)"
        for path in outside
    )
    return result


def check_evidence(_settings: Settings, db: Database) -> CheckResult:
    """Every frozen evidence body and set re-hashed (``core.evidence.verify``)."""
    return verify_evidence(db)


# Every check ``verify`` runs, in order; each names its result (CheckResult.name).
CHECKS: list[Check] = [
    check_append_only,
    check_chain,
    check_incidents,
    check_alerts,
    check_changes,
    check_index,
    check_documents,
    check_actions,
    check_document_files,
    check_files_inside,
    check_recorded_heads,
    check_document_references,
    verify_checkpoints,
    check_fix_plans,
    check_evidence,
]


def run_verify(settings: Settings, db: Database) -> list[CheckResult]:
    return [_run(check, settings, db) for check in CHECKS]


def _run(check: Check, settings: Settings, db: Database) -> CheckResult:
    """One check; events a tampered log holds can make a fold raise, and that must not hide
    the other checks' findings (the chain's above all): it is the check's problem."""
    try:
        return check(settings, db)
    except (ValueError, KeyError, TypeError) as exc:
        name = check.__name__.removeprefix("check_")
        return CheckResult(name, problems=[f"check failed: {type(exc).__name__}: {exc}"])
