"""``HealthService``: the Health figures (``core.health.stats.Health``) of the workspace now,
with the reconciler's health of the configured ledger; built in ``incidentbook.services``."""

from __future__ import annotations

from incidentbook.clock import Clock
from incidentbook.core.health.stats import Health, collect_health
from incidentbook.core.ledger.reconcile.service import ReconcileService
from incidentbook.storage.db import Database


class HealthService:
    """``reconciler`` gives the reconciler's health (runs, the watermark's lag behind the
    ledger); ``clock`` says what now is (ages, overdue)."""

    def __init__(self, db: Database, reconciler: ReconcileService, clock: Clock) -> None:
        self.db = db
        self.reconciler = reconciler
        self.clock = clock

    def report(self, ledger_url: str | None = None, *, lag: bool = True) -> Health:
        """The Health figures now, the reconciler's of the given (else the configured)
        ledger; ``lag`` False skips reading the ledger."""
        reconciler = self.reconciler.health(ledger_url, lag=lag)
        return collect_health(self.db, reconciler, self.clock())
