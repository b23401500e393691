"""The grouping read model: firing alerts grouped by group key, the incident candidates on the
Triage screen and in ``alerts groups`` (most severe first, then the largest), each with its
impact where a source knows one (the reconciler's: given as an ``ImpactReader``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, func, select

from incidentbook.core.alerts.model import ALERT_SEVERITIES, AlertGroup, GroupImpact
from incidentbook.storage.models import AlertRow

# Given a read session, the impact of every group that has one, by group key.
ImpactReader = Callable[[Session], Mapping[str, GroupImpact]]


def groups(session: Session, impacts: ImpactReader | None = None) -> list[AlertGroup]:
    """Firing alerts grouped by group key, each with its worst severity (and its impact, read
    by ``impacts`` in the same session, for the groups it knows)."""
    rows = session.execute(
        sa_select(
            col(AlertRow.group_key),
            func.count(),
            func.min(col(AlertRow.starts_at)),
            func.max(col(AlertRow.last_seen)),
            func.max(col(AlertRow.incident_id)),
        )
        .where(col(AlertRow.status) == "firing")
        .group_by(col(AlertRow.group_key))
    ).all()
    worst: dict[str, str] = {}
    for key, severity in session.exec(
        select(AlertRow.group_key, AlertRow.severity).where(AlertRow.status == "firing").distinct()
    ).all():
        current = worst.get(key)
        if current is None or ALERT_SEVERITIES.index(severity) < ALERT_SEVERITIES.index(current):
            worst[key] = severity
    impact = impacts(session) if impacts is not None else {}
    found = [
        AlertGroup(
            key=key,
            firing=count,
            severity=worst.get(key, "warning"),
            since=since,
            last_seen=last,
            incident_id=incident,
        ).with_impact(impact.get(key))
        for key, count, since, last, incident in rows
    ]
    return sorted(found, key=lambda g: (ALERT_SEVERITIES.index(g.severity), -g.firing))
