"""The receiver's request log: one row per accepted request (or Alertmanager payload from a
file), with its sender, actor, correlation id and what the dedup rule made of its alerts."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from sqlmodel import Session, col, select

from incidentbook.clock import to_iso
from incidentbook.context import Context
from incidentbook.core.alerts.model import IngestResult
from incidentbook.obs import log_error
from incidentbook.storage.alert_receiver_models import IngestRequestRow


@dataclass(frozen=True)
class IngestRequest:
    """One accepted receiver request (or Alertmanager payload from a file)."""

    id: int
    received_at: str
    source: str
    actor: str
    correlation_id: str
    group_key: str | None
    receiver: str | None
    alerts: int
    truncated_alerts: int
    outcome: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def record_request_in(
    session: Session,
    ctx: Context,
    source: str,
    result: IngestResult,
    *,
    group_key: str | None = None,
    receiver: str | None = None,
    alerts: int = 0,
    truncated_alerts: int = 0,
) -> None:
    """Log one accepted request in the caller's transaction (and Alertmanager's truncation)."""
    session.add(
        IngestRequestRow(
            received_at=to_iso(ctx.clock()),
            source=source,
            actor=ctx.actor,
            correlation_id=ctx.correlation_id,
            group_key=group_key,
            receiver=receiver,
            alerts=alerts,
            truncated_alerts=truncated_alerts,
            outcome=json.dumps({k: v for k, v in result.counts.items() if v}, sort_keys=True),
        )
    )
    if truncated_alerts:
        log_error(
            "alertmanager.truncated",
            f"Alertmanager truncated {truncated_alerts} alerts of group {group_key!r}",
            ctx.correlation_id,
            truncated_alerts=truncated_alerts,
            group_key=group_key,
        )


def list_requests(
    session: Session, *, limit: int = 50, truncated_only: bool = False
) -> list[IngestRequest]:
    """Accepted requests, newest first (``truncated_only``: where Alertmanager dropped alerts
    from a notification, ``truncatedAlerts`` > 0)."""
    query = select(IngestRequestRow)
    if truncated_only:
        query = query.where(col(IngestRequestRow.truncated_alerts) > 0)
    rows = session.exec(query.order_by(col(IngestRequestRow.id).desc()).limit(limit)).all()
    return [
        IngestRequest(
            id=r.id or 0,
            received_at=r.received_at,
            source=r.source,
            actor=r.actor,
            correlation_id=r.correlation_id,
            group_key=r.group_key,
            receiver=r.receiver,
            alerts=r.alerts,
            truncated_alerts=r.truncated_alerts,
            outcome=json.loads(r.outcome),
        )
        for r in rows
    ]
