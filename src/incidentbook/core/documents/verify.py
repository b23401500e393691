"""``verify``'s checks for the documents feature: re-derive the ``documents`` and
``action_items`` projections from their events and compare."""

from __future__ import annotations

from incidentbook.core.documents.model import (
    ACTION_PREFIX,
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
