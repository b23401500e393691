"""The grouping read model: firing alerts grouped by group key, the incident candidates on the
Triage screen and in ``alerts groups`` (most severe first, then the largest)."""

from __future__ import annotations

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, func, select

from incidentbook.core.alerts.model import ALERT_SEVERITIES, AlertGroup
from incidentbook.storage.models import AlertRow


def groups(session: Session) -> list[AlertGroup]:
    """Firing alerts grouped by group key, each with its worst severity."""
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
    found = [
        AlertGroup(
            key=key,
            firing=count,
            severity=worst.get(key, "warning"),
            since=since,
            last_seen=last,
            incident_id=incident,
        )
        for key, count, since, last, incident in rows
    ]
    return sorted(found, key=lambda g: (ALERT_SEVERITIES.index(g.severity), -g.firing))
