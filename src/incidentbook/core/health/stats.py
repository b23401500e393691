"""Counters and health figures, derived from the state database (``stats``, the Health view,
``/metrics``): ``Stats`` (the counters) and ``Health`` (the counters with the reconciler's
health, open alerts by severity, response times over resolved incidents, overdue action
items). Data only; the faces write the text."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from datetime import datetime
from statistics import mean
from typing import Any

from sqlalchemy import text
from sqlmodel import func, select

from incidentbook.clock import parse_iso, to_iso
from incidentbook.core.alerts.model import ALERT_SEVERITIES
from incidentbook.core.documents.model import ActionState
from incidentbook.core.documents.store import action_counts, list_actions
from incidentbook.core.incidents.model import SEVERITIES
from incidentbook.core.ledger.reconcile.model import ReconcilerHealth
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
    resolved_incidents: int = 0
    mtta_seconds: float | None = None  # over resolved incidents that were acknowledged
    mttr_seconds: float | None = None  # over resolved incidents
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
            select(
                IncidentRow.opened_at, IncidentRow.acknowledged_at, IncidentRow.resolved_at
            ).where(IncidentRow.status == "resolved")
        ).all()
        revision = session.execute(text("SELECT version_num FROM alembic_version")).first()
        stats.schema_revision = str(revision[0]) if revision else None
    stats.resolved_incidents = len(times)
    acks = [_seconds(o, a) for o, a, _ in times if a]
    fixes = [_seconds(o, r) for o, _, r in times if r]
    stats.mtta_seconds = round(mean(acks), 1) if acks else None
    stats.mttr_seconds = round(mean(fixes), 1) if fixes else None
    stats.database_bytes = db.path.stat().st_size if db.path.exists() else 0
    return stats


@dataclass
class Health:
    """Everything the Health screen shows at a glance, as ``stats --json`` and ``/metrics``
    carry it: the counters, the reconciler (lag, last run, discrepancies over full runs),
    open (firing) alerts and open incidents by severity (every severity, 0 included), action
    items by status and the overdue ones (due before ``today``, soonest due first)."""

    at: str
    today: str
    stats: Stats
    reconciler: ReconcilerHealth
    alerts_open_by_severity: dict[str, int]
    incidents_open_by_severity: dict[str, int]
    action_items: dict[str, int]
    overdue: list[ActionState]

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.stats.to_dict(),
            "at": self.at,
            "today": self.today,
            "alerts_open_by_severity": self.alerts_open_by_severity,
            "incidents_open_by_severity": self.incidents_open_by_severity,
            "reconciler": asdict(self.reconciler),
            "action_items": self.action_items,
            "overdue_action_items": [a.to_dict() for a in self.overdue],
        }


def collect_health(db: Database, reconciler: ReconcilerHealth, now: datetime) -> Health:
    """The Health figures at ``now`` (overdue: open items due before ``now``'s date)."""
    stats = collect_stats(db)
    today: dt.date = now.date()
    overdue = sorted(
        list_actions(db, status="open", overdue_on=today), key=lambda a: (a.due or "", a.key)
    )
    return Health(
        at=to_iso(now),
        today=today.isoformat(),
        stats=stats,
        reconciler=reconciler,
        alerts_open_by_severity={
            s: stats.alerts_firing_by_severity.get(s, 0) for s in ALERT_SEVERITIES
        },
        incidents_open_by_severity={
            s: stats.incidents_open_by_severity.get(s, 0) for s in SEVERITIES
        },
        action_items=action_counts(db, today),
        overdue=overdue,
    )
