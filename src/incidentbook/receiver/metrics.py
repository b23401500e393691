"""The receiver's ``/metrics`` in Prometheus text format, one registry per app (tests build
many): its own counters, the process and platform collectors, ``incidentbook_build_info``, and
the workspace's health as gauges read at each scrape (``HealthCollector``), so Prometheus can
alert when the reconciler goes silent or falls behind."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    Info,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from incidentbook import __version__
from incidentbook.clock import parse_iso
from incidentbook.core.alerts.model import DEDUP_HITS, IngestResult
from incidentbook.core.health.stats import Health
from incidentbook.obs import log_error

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _timestamp(iso: str | None) -> float:
    return parse_iso(iso).timestamp() if iso else 0.0


def health_metrics(health: Health) -> Iterator[Metric]:
    """The gauges of one Health report (names and labels are a contract for alert rules)."""
    r = health.reconciler
    last = r.last_complete
    yield GaugeMetricFamily(
        "incidentbook_reconcile_last_success_timestamp_seconds",
        "When the last complete reconcile run (any mode) finished, Unix time; 0: never.",
        value=_timestamp(last.finished_at if last else None),
    )
    full = r.full_runs[-1] if r.full_runs else None
    yield GaugeMetricFamily(
        "incidentbook_reconcile_last_full_success_timestamp_seconds",
        "When the last complete full reconcile run finished, Unix time; 0: never.",
        value=_timestamp(full.finished_at if full else None),
    )
    if r.duration_seconds is not None:
        yield GaugeMetricFamily(
            "incidentbook_reconcile_last_run_duration_seconds",
            "How long the last complete reconcile run took.",
            value=r.duration_seconds,
        )
    found = GaugeMetricFamily(
        "incidentbook_reconcile_findings",
        "Findings of the last complete reconcile run, per check.",
        labels=["check"],
    )
    for check in r.checks:
        found.add_metric([check], r.last_found.get(check, 0))
    yield found
    if full is not None and full.discrepancies is not None:
        accounts = GaugeMetricFamily(
            "incidentbook_reconcile_discrepancy_accounts",
            "Accounts with findings in the last complete full run, per check.",
            labels=["check"],
        )
        money = GaugeMetricFamily(
            "incidentbook_reconcile_discrepancy_minor_units",
            "Sum of |delta| in minor units of the last complete full run's findings, per check"
            " and currency.",
            labels=["check", "currency"],
        )
        for check, d in full.discrepancies.items():
            accounts.add_metric([check], d.accounts)
            for currency, amount in sorted(d.money.items()):
                money.add_metric([check, currency], amount)
        yield accounts
        yield money
    yield GaugeMetricFamily(
        "incidentbook_reconcile_run_in_progress",
        "1 while a reconcile run is unfinished (running, or killed and waiting for --resume).",
        value=1 if r.unfinished is not None else 0,
    )
    lag = r.lag
    if lag is not None:
        yield GaugeMetricFamily(
            "incidentbook_ledger_readable",
            "1 if the ledger could be read for the lag at this scrape.",
            value=0 if lag.error else 1,
        )
        if lag.lag_seconds is not None:
            yield GaugeMetricFamily(
                "incidentbook_reconcile_lag_seconds",
                "Ledger time between the newest entry and the last complete run's watermark.",
                value=lag.lag_seconds,
            )
        if lag.entries_behind is not None:
            yield GaugeMetricFamily(
                "incidentbook_reconcile_entries_behind",
                "Ledger entries recorded after the last complete run's watermark.",
                value=lag.entries_behind,
            )
    yield GaugeMetricFamily(
        "incidentbook_search_outbox_depth",
        "Changes waiting to be indexed for search.",
        value=health.stats.outbox_pending,
    )
    alerts = GaugeMetricFamily(
        "incidentbook_alerts_open", "Firing alerts, by severity.", labels=["severity"]
    )
    for severity, count in health.alerts_open_by_severity.items():
        alerts.add_metric([severity], count)
    yield alerts
    incidents = GaugeMetricFamily(
        "incidentbook_incidents_open", "Incidents not resolved, by severity.", labels=["severity"]
    )
    for severity, count in health.incidents_open_by_severity.items():
        incidents.add_metric([severity], count)
    yield incidents
    yield GaugeMetricFamily(
        "incidentbook_action_items_overdue",
        "Open action items past their due date.",
        value=len(health.overdue),
    )


class HealthCollector(Collector):
    """The workspace's health, read at each scrape (``report``); a scrape whose read fails
    answers ``incidentbook_health_up 0`` (and logs why) instead of failing the scrape."""

    def __init__(self, report: Callable[[], Health]) -> None:
        self.report = report

    def describe(self) -> list[Metric]:
        return []  # nothing read when the collector is registered

    def collect(self) -> Iterator[Metric]:
        try:
            metrics = list(health_metrics(self.report()))
        except Exception as exc:  # the scrape says so; the receiver keeps serving
            log_error("receiver.health_metrics_failed", f"{type(exc).__name__}: {exc}", None)
            metrics = []
        yield GaugeMetricFamily(
            "incidentbook_health_up",
            "1 if the health gauges were read at this scrape.",
            value=1 if metrics else 0,
        )
        yield from metrics


class ReceiverMetrics:
    """``health``: the Health report the gauges are read from (None: counters only)."""

    def __init__(self, health: Callable[[], Health] | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        Info(
            "incidentbook_build", "The incidentbook release serving.", registry=self.registry
        ).info({"version": __version__})
        if health is not None:
            self.registry.register(HealthCollector(health))
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
