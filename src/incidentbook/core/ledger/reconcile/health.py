"""What the Health screen shows of the reconciler, as data (``ReconcilerHealth``): the last
complete run and its lag, an unfinished run, runs kept as summaries, findings per run. The
text is the UI's (``incidentbook.ui.screens.health``)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import text

from incidentbook.clock import parse_iso
from incidentbook.core.ledger.reconcile.model import ReconcilerHealth, RunBrief, RunFindings
from incidentbook.core.ledger.reconcile.runs import connection, run_summary

if TYPE_CHECKING:
    from incidentbook.storage.db import Database

RECENT_RUNS = 8


def reconciler_health(db: Database, now: datetime) -> ReconcilerHealth:
    """The reconciler's state among its latest runs (of any ledger), at ``now``."""
    with db.read() as session:
        conn = connection(session)
        rows = conn.execute(
            text(
                "SELECT run_id, mode, status, phase, batches, started_at, finished_at"
                " FROM reconcile_runs ORDER BY started_at DESC LIMIT :n"
            ),
            {"n": RECENT_RUNS},
        ).all()
        pruned = int(
            conn.execute(
                text("SELECT COUNT(*) FROM reconcile_runs WHERE pruned_at IS NOT NULL")
            ).scalar_one()
        )
    if not rows:
        return ReconcilerHealth(ever_run=False)
    recent = [RunBrief(r[0], r[1], r[2], r[3], int(r[4]), r[5], r[6]) for r in rows]
    last = next((r for r in recent if r.status == "complete"), None)
    lag = None
    if last is not None and last.finished_at is not None:
        lag = (now - parse_iso(last.finished_at)).total_seconds()
    trend = [
        RunFindings(
            run.run_id,
            run.mode,
            run.started_at,
            {
                check: counts["found"]
                for check, counts in run_summary(db, run.run_id).checks.items()
            },
        )
        for run in recent
        if run.status == "complete"
    ]
    return ReconcilerHealth(
        ever_run=True,
        last_complete=last,
        lag_seconds=lag,
        unfinished=next((r for r in recent if r.status == "running"), None),
        pruned_runs=pruned,
        trend=trend,
    )
