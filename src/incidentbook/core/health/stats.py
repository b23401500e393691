"""Counters and health figures, derived from the state database (``stats``, the Health view)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from statistics import mean
from typing import Any

from sqlalchemy import text
from sqlmodel import func, select

from incidentbook.clock import parse_iso
from incidentbook.storage.db import Database
from incidentbook.storage.models import AlertRow, EventRow, IncidentRow, OutboxRow


@dataclass
class Stats:
    incidents_by_status: dict[str, int] = field(default_factory=dict)
    incidents_open_by_severity: dict[str, int] = field(default_factory=dict)
    alerts_by_status: dict[str, int] = field(default_factory=dict)
    alerts_firing_by_severity: dict[str, int] = field(default_factory=dict)
    events_total: int = 0
    events_by_type: dict[str, int] = field(default_factory=dict)
    outbox_pending: int = 0
    mtta_seconds: float | None = None
    mttr_seconds: float | None = None
    schema_revision: str | None = None
    database_bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _seconds(start: str, end: str) -> float:
    begin: datetime = parse_iso(start)
    return (parse_iso(end) - begin).total_seconds()


def collect_stats(db: Database) -> Stats:
    stats = Stats()
    with db.read() as session:
        stats.incidents_by_status = dict(
            session.exec(
                select(IncidentRow.status, func.count()).group_by(IncidentRow.status)
            ).all()
        )
        stats.incidents_open_by_severity = dict(
            session.exec(
                select(IncidentRow.severity, func.count())
                .where(IncidentRow.status != "resolved")
                .group_by(IncidentRow.severity)
            ).all()
        )
        stats.alerts_by_status = dict(
            session.exec(select(AlertRow.status, func.count()).group_by(AlertRow.status)).all()
        )
        stats.alerts_firing_by_severity = dict(
            session.exec(
                select(AlertRow.severity, func.count())
                .where(AlertRow.status == "firing")
                .group_by(AlertRow.severity)
            ).all()
        )
        stats.events_by_type = dict(
            session.exec(select(EventRow.type, func.count()).group_by(EventRow.type)).all()
        )
        stats.events_total = sum(stats.events_by_type.values())
        stats.outbox_pending = int(session.exec(select(func.count()).select_from(OutboxRow)).one())
        times = session.exec(
            select(IncidentRow.opened_at, IncidentRow.acknowledged_at, IncidentRow.resolved_at)
        ).all()
        revision = session.execute(text("SELECT version_num FROM alembic_version")).first()
        stats.schema_revision = str(revision[0]) if revision else None
    acks = [_seconds(o, a) for o, a, _ in times if a]
    fixes = [_seconds(o, r) for o, _, r in times if r]
    stats.mtta_seconds = round(mean(acks), 1) if acks else None
    stats.mttr_seconds = round(mean(fixes), 1) if fixes else None
    stats.database_bytes = db.path.stat().st_size if db.path.exists() else 0
    return stats
