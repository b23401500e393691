"""The one read runbook lint makes of the state database: alerts seen since a moment."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlmodel import col, select

from incidentbook.storage.models import AlertRow

if TYPE_CHECKING:
    from incidentbook.storage.db import Database


@dataclass(frozen=True)
class SeenAlert:
    name: str
    labels: dict[str, str]
    annotations: dict[str, str]


def alerts_seen_since(db: Database, since: str) -> list[SeenAlert]:
    """Every alert row last seen at or after ``since`` (ISO-Z text), by alert name."""
    with db.read() as session:
        rows = session.exec(
            select(AlertRow).where(col(AlertRow.last_seen) >= since).order_by(col(AlertRow.name))
        ).all()
    return [
        SeenAlert(row.name, json.loads(row.labels or "{}"), json.loads(row.annotations or "{}"))
        for row in rows
    ]
