"""``/metrics`` on the real receiver (issue 14): the health gauges Prometheus alerts on (last
successful reconcile, findings per check, run duration, lag, outbox depth, open alerts and
incidents by severity, overdue items), the process collectors and ``build_info``; scraped over
HTTP and parsed with prometheus_client's parser, each figure against the test's own truth."""

from __future__ import annotations

import sqlite3
import tomllib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from incidentbook.core.health.stats import Health
from incidentbook.core.ledger.checks import CHECKS
from incidentbook.receiver.app import create_app
from incidentbook.receiver.metrics import ReceiverMetrics
from incidentbook.services import Services
from incidentbook.testing.clocks import FakeClock
from tests.support.accounts import findings_from_rows
from tests.support.health import first_state, second_state, tell_story, write_actions
from tests.support.payloads import am_alert, am_payload
from tests.support.receiver import AM, AUTH, TOKEN, LiveServer

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def scrape(client: httpx.Client) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


@pytest.fixture
def client(services: Services) -> Iterator[httpx.Client]:
    app = create_app(services, token=TOKEN)
    with LiveServer(app) as live, httpx.Client(base_url=live.url, timeout=10) as test_client:
        yield test_client


def test_health_gauges_process_collectors_and_build_info(
    services: Services, client: httpx.Client, clock: FakeClock
) -> None:
    clock.step = timedelta(0)
    finished = clock.now
    story = tell_story(services)
    severities = ["critical", "warning", "warning", "info"]
    alerts = [am_alert(f"am-{i}", labels={"alertname": f"A{i}", "severity": s})
              for i, s in enumerate(severities)]  # fmt: skip
    assert client.post(AM, json=am_payload(*alerts), headers=AUTH).status_code == 200
    services.incidents.open(services.context("t"), "Fees doubled", "error")
    write_actions(services)
    clock.advance(timedelta(minutes=10))

    got = scrape(client)

    def value(name: str, **labels: str) -> float:
        return got[(name, tuple(sorted(labels.items())))]

    version = tomllib.loads(PYPROJECT.read_text())["project"]["version"]
    assert value("incidentbook_build_info", version=version) == 1
    assert value("incidentbook_health_up") == 1
    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes"):
        assert value(name) > 0
    assert any(name == "python_info" for name, _ in got)
    assert any(name == "python_gc_objects_collected_total" for name, _ in got)

    # the reconciler: its last run (frozen clock: it finished at `finished`, in no time)
    assert value("incidentbook_reconcile_last_success_timestamp_seconds") == finished.timestamp()
    assert value("incidentbook_reconcile_last_full_success_timestamp_seconds") == (
        finished.timestamp()
    )
    assert value("incidentbook_reconcile_last_run_duration_seconds") == 0
    assert value("incidentbook_reconcile_run_in_progress") == 0
    truth = findings_from_rows(second_state(first_state()))
    found = {
        "balance_mismatch": sum(t["balance"] is not None for t in truth.values()),
        "duplicate_posting": sum(len(t["dups"]) for t in truth.values()),
    }
    for check in CHECKS:
        assert value("incidentbook_reconcile_findings", check=check) == found.get(check, 0)
    accounts, money = story.full_truths[-1]["balance_mismatch"]
    assert value("incidentbook_reconcile_discrepancy_accounts", check="balance_mismatch") == (
        accounts
    )
    for currency, amount in money.items():
        assert (
            value(
                "incidentbook_reconcile_discrepancy_minor_units",
                check="balance_mismatch",
                currency=currency,
            )
            == amount
        )
    # three entries recorded 5, 10 and 15 minutes after the watermark's
    assert value("incidentbook_reconcile_lag_seconds") == 15 * 60
    assert value("incidentbook_reconcile_entries_behind") == 3
    assert value("incidentbook_ledger_readable") == 1

    # open alerts: the reconciler's findings (critical, DESIGN §4) and the four posted
    firing = {"critical": sum(found.values()), "error": 0, "warning": 0, "info": 0}
    for severity in severities:
        firing[severity] += 1
    for severity, count in firing.items():
        assert value("incidentbook_alerts_open", severity=severity) == count
    assert value("incidentbook_incidents_open", severity="error") == 1
    assert value("incidentbook_incidents_open", severity="critical") == 0
    assert value("incidentbook_action_items_overdue") == 2  # due 2026-09-15 and 2026-10-01
    with sqlite3.connect(services.db.path) as conn:
        (depth,) = conn.execute("SELECT COUNT(*) FROM index_outbox").fetchone()
    assert value("incidentbook_search_outbox_depth") == depth > 0


def test_never_reconciled_says_zero_so_a_silence_rule_fires(client: httpx.Client) -> None:
    got = scrape(client)
    assert got[("incidentbook_reconcile_last_success_timestamp_seconds", ())] == 0
    assert ("incidentbook_reconcile_lag_seconds", ()) not in got
    assert got[("incidentbook_health_up", ())] == 1


def test_an_unreadable_ledger_is_a_gauge_not_a_failed_scrape(
    services: Services, client: httpx.Client
) -> None:
    story = tell_story(services)
    Path(story.url.removeprefix("sqlite:///")).unlink()
    got = scrape(client)
    assert got[("incidentbook_ledger_readable", ())] == 0
    assert ("incidentbook_reconcile_lag_seconds", ()) not in got
    assert got[("incidentbook_reconcile_last_success_timestamp_seconds", ())] > 0


def test_a_failing_health_read_answers_health_up_zero() -> None:
    def broken() -> Health:
        raise RuntimeError("database is locked")

    payload, _ = ReceiverMetrics(health=broken).render()
    families = {f.name: f for f in text_string_to_metric_families(payload.decode())}
    assert families["incidentbook_health_up"].samples[0].value == 0
    assert "incidentbook_reconcile_findings" not in families
