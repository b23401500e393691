"""App fixtures: a workspace seeded through the real services, with frozen time."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from incidentbook.context import Context
from incidentbook.core.alerts.model import NativeAlert
from incidentbook.services import Services, make_services
from incidentbook.settings import Settings, read_config
from incidentbook.testing.clocks import T0, FakeClock
from incidentbook.ui.app import IncidentbookApp, make_app
from incidentbook.workspace import init_workspace


def seed(services: Services) -> None:
    """A 2 a.m. picture: a firing reconciler group, an open incident, an acknowledged one."""
    ctx = Context(actor="user:ana", correlation_id="seed", clock=services.settings.clock)
    alerts = [
        NativeAlert.from_dict(
            {
                "source": "reconciler",
                "name": "balance_mismatch",
                "fingerprint": f"balance_mismatch/acc-{i:05d}",
                "status": "firing",
                "severity": "critical",
                "summary": f"acc-{i:05d}: stored balance != history",
                "labels": {"check": "balance_mismatch", "account_id": f"acc-{i:05d}"},
                "starts_at": "2026-10-17T02:14:00Z",
            }
        )
        for i in range(12)
    ] + [
        NativeAlert.from_dict(
            {
                "source": "alertmanager",
                "name": "LedgerWriterLatencyHigh",
                "fingerprint": "am-1f2e",
                "status": "firing",
                "severity": "warning",
                "summary": "p99 write latency above 800ms",
                "starts_at": "2026-10-17T01:50:00Z",
            }
        )
    ]
    services.alerts.ingest(ctx, alerts)
    first = services.incidents.open(
        ctx, "Duplicate postings from processor webhooks", "critical"
    ).incident.id
    services.incidents.add_note(ctx, first, "Retry path posts without an idempotency check")
    second = services.incidents.open(ctx, "Fee job slow", "warning").incident.id
    services.incidents.acknowledge(ctx.because("watching"), second)


@pytest.fixture
def frozen_clock() -> FakeClock:
    return FakeClock(T0 + timedelta(hours=1), step=timedelta(0))


@pytest.fixture
def app_settings(tmp_path: Path, frozen_clock: FakeClock) -> Settings:
    root = init_workspace(tmp_path / "ws").workspace
    return Settings(workspace=root, config=read_config(root), actor="user:ana", clock=frozen_clock)


@pytest.fixture
def seeded_services(app_settings: Settings) -> Services:
    services = make_services(app_settings)
    seed(services)
    return services


@pytest.fixture
def app(app_settings: Settings, seeded_services: Services) -> IncidentbookApp:
    return make_app(app_settings)
