"""Receiver counters in Prometheus text format, one registry per app (tests build many)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

from incidentbook.core.alerts.model import DEDUP_HITS, IngestResult

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ReceiverMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "incidentbook_http_requests",
            "HTTP requests by route, method and status code.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.alerts = Counter(
            "incidentbook_alerts_ingested",
            "Alerts received, by sender and what the dedup rule made of them.",
            ["source", "outcome"],
            registry=self.registry,
        )
        self.dedup_hits = Counter(
            "incidentbook_alert_dedup_hits",
            "Alerts that matched one already stored (repeated, unchanged, stale, replayed).",
            ["source"],
            registry=self.registry,
        )
        self.truncated = Counter(
            "incidentbook_alertmanager_truncated_alerts",
            "Alerts Alertmanager left out of notifications (truncatedAlerts).",
            registry=self.registry,
        )
        self.latency = Histogram(
            "incidentbook_ingest_latency_seconds",
            "Time from request received to committed response, by route.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def observe_request(self, route: str, method: str, status: int) -> None:
        self.requests.labels(route=route, method=method, status=str(status)).inc()

    def observe_ingest(self, source: str, result: IngestResult) -> None:
        for outcome, count in result.counts.items():
            if count and outcome != "joined":
                self.alerts.labels(source=source, outcome=outcome).inc(count)
        hits = sum(result.counts[k] for k in DEDUP_HITS)
        if hits:
            self.dedup_hits.labels(source=source).inc(hits)
        if result.truncated_alerts:
            self.truncated.inc(result.truncated_alerts)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
