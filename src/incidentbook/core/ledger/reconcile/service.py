"""``ReconcileService``: the reconciler's use cases (run a reconcile, its health), with the
collaborators and settings values it is given; built in ``incidentbook.services``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from incidentbook.clock import Clock
from incidentbook.context import Context
from incidentbook.core.alerts.service import AlertService
from incidentbook.core.ledger.contract import redact
from incidentbook.core.ledger.reconcile.health import ledger_lag, reconciler_health
from incidentbook.core.ledger.reconcile.model import ReconcileOptions, ReconcilerHealth, RunSummary
from incidentbook.core.ledger.reconcile.runner import AfterPublish, RunSetup, run_reconcile
from incidentbook.core.ledger.reconcile.settings import reconciler_settings, run_options
from incidentbook.errors import UsageError
from incidentbook.storage.db import Database

LOCK_NAME = "reconcile.lock"


class ReconcileService:
    """``config`` is the workspace's incidentbook.toml (its [reconciler] section is checked
    when a run starts, so a bad setting stops a run, not the app); ``ledger_url`` the ledger
    a run checks unless its options name another; ``state_dir`` holds the one-run-at-a-time
    lock; ``clock`` says how old the last run is; ``after_publish`` runs once a run completed
    (the evidence freeze of the incidents' accounts)."""

    def __init__(
        self,
        db: Database,
        alerts: AlertService,
        *,
        config: Mapping[str, Any],
        ledger_url: str,
        state_dir: Path,
        clock: Clock,
        after_publish: AfterPublish | None = None,
    ) -> None:
        self.db = db
        self.alerts = alerts
        self.config = config
        self.ledger_url = ledger_url
        self.state_dir = state_dir
        self.clock = clock
        self.after_publish = after_publish

    def run(self, ctx: Context, options: ReconcileOptions) -> RunSummary:
        """Run (or finish) a reconcile of the configured or given ledger."""
        if options.mode not in ("auto", "full", "incremental"):
            raise UsageError(f"unknown mode {options.mode!r}")
        if options.batch < 1:
            raise UsageError("--batch must be at least 1")
        if options.max_rate is not None and options.max_rate <= 0:
            raise UsageError("--max-rate must be positive")
        if options.jobs is not None and options.jobs < 1:
            raise UsageError("--jobs must be at least 1")
        configured = reconciler_settings(self.config)  # a bad setting stops the run first
        setup = RunSetup(
            db=self.db,
            alerts=self.alerts,
            ledger_url=self.ledger_url,
            settings_options=run_options(configured),
            keep_runs=int(configured["keep_runs"]),
            lock_path=self.state_dir / LOCK_NAME,
            after_publish=self.after_publish,
        )
        return run_reconcile(setup, ctx, options)

    def health(self, ledger_url: str | None = None, *, lag: bool = True) -> ReconcilerHealth:
        """The reconciler's state for the Health screen, ``stats`` and ``/metrics``: its runs
        of the given (else the configured) ledger and, with ``lag``, how far the last
        complete run's watermark is behind that ledger (one short read of it)."""
        url = ledger_url or self.ledger_url
        behind = ledger_lag(self.db, url) if lag else None
        return reconciler_health(self.db, self.clock(), redact(url), behind)
