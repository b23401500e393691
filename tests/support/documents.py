"""Shared set-up for the postmortem / pre-mortem / action-item tests (issue 6)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from incidentbook.context import Context
from incidentbook.core.alerts.model import NativeAlert
from incidentbook.services import Services

GOLDEN = Path(__file__).resolve().parent.parent / "golden"


def reconciler_alert(account: str, currency: str, delta_minor: int, starts_at: str) -> NativeAlert:
    return NativeAlert.from_dict(
        {
            "source": "reconciler",
            "name": "balance_mismatch",
            "fingerprint": f"balance_mismatch/{account}",
            "status": "firing",
            "severity": "critical",
            "summary": f"{account}: stored balance disagrees with entries",
            "labels": {"check": "balance_mismatch", "account_id": account, "currency": currency},
            "annotations": {"delta_minor": str(delta_minor)},
            "starts_at": starts_at,
        }
    )


def reconciler_incident(services: Services, ctx: Context, clock: object) -> str:
    """A resolved incident from three reconciler alerts (two EUR accounts, one USD), with an
    acknowledgement, two notes (one with a <script>), a runbook link and a resolution."""
    alerts = [
        reconciler_alert("acc-1", "EUR", -1250, "2026-10-17T01:50:00Z"),
        reconciler_alert("acc-2", "EUR", 99, "2026-10-17T01:55:00Z"),
        reconciler_alert("acc-3", "usd", -100000, "2026-10-17T02:00:00Z"),
        NativeAlert.from_dict(
            {
                "source": "prometheus",
                "name": "WebhookLatencyHigh",
                "fingerprint": "lat-1",
                "status": "firing",
                "severity": "warning",
                "labels": {"service": "webhooks"},
                "starts_at": "2026-10-17T01:40:00Z",
            }
        ),
    ]
    services.alerts.ingest(ctx, alerts)
    outcome = services.alerts.acknowledge_group(ctx, "balance_mismatch", severity="critical")
    incident_id = outcome.incident.id
    with services.db.write() as session:
        services.alerts.link_many_in(session, ctx, ["lat-1"], incident_id)
    services.incidents.add_note(
        ctx, incident_id, "Paused the webhook consumer <script>x()</script>"
    )
    services.incidents.add_note(ctx, incident_id, "Retry path posts without | an idempotency check")
    services.incidents.link_runbook(ctx, incident_id, "runbooks/reconciler/balance_mismatch.md")
    if hasattr(clock, "advance"):
        clock.advance(timedelta(minutes=42))
    # fixed forward: the next reconcile resolves the three findings, then the gate opens
    services.alerts.ingest(ctx, [resolved(a) for a in alerts if a.source == "reconciler"])
    services.incidents.resolve(ctx.because("fixed forward"), incident_id)
    return incident_id


def resolved(alert: NativeAlert) -> NativeAlert:
    """The same alert, resolved (as the reconciler reports a finding that is gone)."""
    return NativeAlert.from_dict({**alert.to_dict(), "status": "resolved"})
