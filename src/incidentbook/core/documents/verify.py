"""``verify``'s checks for the documents feature: re-derive the ``documents`` and
``action_items`` projections from their events and compare, find documents whose file is gone,
and files under ``postmortems/`` that cannot be read."""

from __future__ import annotations

from incidentbook.core.documents import store
from incidentbook.core.documents.files import document_files, unreadable
from incidentbook.core.documents.model import (
    ACTION_PREFIX,
    ARCHIVED,
    DOC_PREFIX,
    derive_action,
    derive_document,
)
from incidentbook.core.documents.store import action_from_row, document_from_row
from incidentbook.core.events.projection import CheckResult, check_projection
from incidentbook.settings import Settings
from incidentbook.storage.db import Database
from incidentbook.storage.documents_models import ActionItemRow, DocumentRow


def check_documents(_settings: Settings, db: Database) -> CheckResult:
    return check_projection(
        "documents_projection",
        "document",
        db,
        DOC_PREFIX,
        DocumentRow,
        lambda r: r.id,
        derive_document,
        document_from_row,
    )


def check_actions(_settings: Settings, db: Database) -> CheckResult:
    return check_projection(
        "action_items_projection",
        "action item",
        db,
        ACTION_PREFIX,
        ActionItemRow,
        lambda r: r.key,
        derive_action,
        action_from_row,
    )


def check_document_files(settings: Settings, db: Database) -> CheckResult:
    """Every recorded document still has its file (a moved-away postmortem is reported with
    its path; ``postmortem archive ID`` marks one that is gone for good), and every file under
    ``postmortems/`` can be read (bad or refused front matter is reported with its path)."""
    result = CheckResult("document_files")
    files = document_files(settings)
    result.checked += len(files)
    for bad in unreadable(settings, files):
        result.problems.append(f"{bad.path}: {bad.problem}")
    for doc in store.list_documents(db):
        result.checked += 1
        if doc.status != ARCHIVED and not (settings.workspace / doc.path).exists():
            result.problems.append(
                f"{doc.id}: its file {doc.path} is gone (restore it, regenerate it with"
                f" postmortem new --refresh, or: incidentbook postmortem archive {doc.id})"
            )
    return result
