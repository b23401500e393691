"""``incidentbook demo``: alerts from the other senders, as the receiver would have taken them.

One Alertmanager notification (a group of three) and one PagerDuty trigger, recorded with the
receiver's actors. Receipt keys make a second demo run change nothing.
"""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import TYPE_CHECKING, Any

from incidentbook.clock import to_iso
from incidentbook.core.alerts.formats.alertmanager import parse_alertmanager
from incidentbook.core.alerts.formats.pagerduty import parse_pagerduty

if TYPE_CHECKING:
    from incidentbook.demo.model import DemoOptions, DemoReport
    from incidentbook.services import Services


def _alertmanager_payload(starts_at: str) -> dict[str, Any]:
    alerts = [
        {
            "status": "firing",
            "labels": {
                "alertname": "ProcessorWebhookRetries",
                "severity": "warning",
                "service": "payments-webhook",
                "instance": f"webhook-{n}:9100",
            },
            "annotations": {
                "summary": f"webhook-{n}: processor webhook retry rate above 5% for 10m",
                "runbook_url": "runbooks/duplicate_posting.md",
            },
            "startsAt": starts_at,
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://127.0.0.1:9090/graph",
            "fingerprint": f"d3m0a1e7{n:08x}",
        }
        for n in range(1, 4)
    ]
    return {
        "version": "4",
        "groupKey": '{}:{alertname="ProcessorWebhookRetries"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "incidentbook",
        "groupLabels": {"alertname": "ProcessorWebhookRetries"},
        "commonLabels": {"alertname": "ProcessorWebhookRetries"},
        "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:9093",
        "alerts": alerts,
    }


def demo_step(services: Services, options: DemoOptions, report: DemoReport) -> None:
    now = services.settings.clock().astimezone(UTC)
    started = to_iso(now.replace(minute=0, second=0, microsecond=0) - timedelta(minutes=40))
    alerts = services.alerts
    am_ctx = services.context(
        "demo: Alertmanager notification",
        correlation_id=f"demo-{options.seed}-alertmanager",
        actor="webhook:alertmanager",
    )
    am = alerts.ingest_alertmanager(
        am_ctx,
        parse_alertmanager(_alertmanager_payload(started)),
        receipt_key=f"demo:{options.seed}:alertmanager",
    )
    pd_ctx = services.context(
        "demo: PagerDuty trigger",
        correlation_id=f"demo-{options.seed}-pagerduty",
        actor="webhook:pagerduty",
    )
    event = parse_pagerduty(
        {
            "routing_key": "demo",
            "event_action": "trigger",
            "dedup_key": "payments-api/p99-latency",
            "payload": {
                "summary": "payments-api p99 latency 2.4 s (SLO 800 ms)",
                "source": "payments-api",
                "severity": "error",
                "timestamp": started,
                "class": "latency_slo",
                "component": "payments-api",
                "custom_details": {"p99_ms": 2400, "slo_ms": 800},
            },
        }
    )
    pd = alerts.ingest_pagerduty(pd_ctx, event, receipt_key=f"demo:{options.seed}:pagerduty")
    new = am.counts["new"] + pd.counts["new"]
    kept = am.counts["replayed"] + pd.counts["replayed"]
    report.add(f"webhook alerts: {new} ingested (Alertmanager, PagerDuty), {kept} kept")
