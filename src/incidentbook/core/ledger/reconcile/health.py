"""What the Health screen, ``stats`` and ``/metrics`` show of the reconciler, as data
(``ReconcilerHealth``): the last complete run, its age and duration, an unfinished run, runs
kept as summaries, the complete full runs' discrepancies over time, and the watermark's lag
behind the ledger (``ledger_lag``). The text is the faces' (``incidentbook.ui.screens.health``,
``incidentbook.cli.stats``)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, text

from incidentbook.clock import parse_iso
from incidentbook.core.ledger.contract import LedgerError, iso, open_ledger, redact
from incidentbook.core.ledger.reconcile.model import (
    FullRun,
    LedgerLag,
    ReconcilerHealth,
    RunBrief,
    stored_checks,
    stored_discrepancies,
)
from incidentbook.core.ledger.reconcile.runs import (
    connection,
    counted_checks,
    counted_discrepancies,
    last_complete_watermark,
)

if TYPE_CHECKING:
    from incidentbook.storage.db import Database

RECENT_RUNS = 8
FULL_RUNS = 30  # points of the discrepancies-over-time charts


def reconciler_health(
    db: Database, now: datetime, ledger: str | None = None, lag: LedgerLag | None = None
) -> ReconcilerHealth:
    """The reconciler's state at ``now`` among its runs of the ledger whose display URL is
    ``ledger`` (None: of any ledger); ``lag`` is carried as given (``ledger_lag``)."""
    where, params = ("WHERE ledger = :l", {"l": ledger}) if ledger else ("", {})
    with db.read() as session:
        conn = connection(session)
        rows = conn.execute(
            text(
                "SELECT run_id, mode, status, phase, batches, started_at, finished_at"
                f" FROM reconcile_runs {where} ORDER BY started_at DESC, rowid DESC LIMIT :n"
            ),
            {**params, "n": RECENT_RUNS},
        ).all()
        pruned = int(
            conn.execute(
                text(
                    "SELECT COUNT(*) FROM reconcile_runs WHERE pruned_at IS NOT NULL"
                    + (" AND ledger = :l" if ledger else "")
                ),
                params,
            ).scalar_one()
        )
        last_row = conn.execute(
            text(
                "SELECT run_id, mode, status, phase, batches, started_at, finished_at, summary"
                " FROM reconcile_runs WHERE status = 'complete'"
                + (" AND ledger = :l" if ledger else "")
                + " ORDER BY finished_at DESC, rowid DESC LIMIT 1"
            ),
            params,
        ).first()
        full = conn.execute(
            text(
                "SELECT run_id, started_at, finished_at, summary, pruned_at FROM reconcile_runs"
                " WHERE status = 'complete' AND mode = 'full'"
                + (" AND ledger = :l" if ledger else "")
                + " ORDER BY finished_at DESC, rowid DESC LIMIT :n"
            ),
            {**params, "n": FULL_RUNS},
        ).all()
        full_runs = [_full_run(conn, row) for row in reversed(full)]
        last_found = _found(conn, last_row[0], last_row[7]) if last_row else {}
    if not rows:
        return ReconcilerHealth(ever_run=False, lag=lag)
    recent = [RunBrief(r[0], r[1], r[2], r[3], int(r[4]), r[5], r[6]) for r in rows]
    last = None
    if last_row is not None:
        run_id, mode, status, phase, batches, started_at, finished_at, _ = last_row
        last = RunBrief(run_id, mode, status, phase, int(batches), started_at, finished_at)
    age = duration = None
    if last is not None and last.finished_at is not None:
        finished = parse_iso(last.finished_at)
        age = (now - finished).total_seconds()
        duration = (finished - parse_iso(last.started_at)).total_seconds()
    return ReconcilerHealth(
        ever_run=True,
        last_complete=last,
        age_seconds=age,
        duration_seconds=duration,
        last_found=last_found,
        unfinished=next((r for r in recent if r.status == "running"), None),
        pruned_runs=pruned,
        full_runs=full_runs,
        lag=lag,
    )


def _found(conn: Connection, run_id: str, summary: str | None) -> dict[str, int]:
    checks = stored_checks(summary) if summary else counted_checks(conn, run_id)
    return {check: counts["found"] for check, counts in checks.items()}


def _full_run(conn: Connection, row: Any) -> FullRun:
    run_id, started_at, finished_at, summary, pruned_at = row
    discrepancies = stored_discrepancies(summary) if summary else None
    if discrepancies is None and pruned_at is None:
        # completed before summaries recorded them, and not pruned: its findings are all there
        discrepancies = counted_discrepancies(conn, run_id)
    return FullRun(run_id, started_at, finished_at, _found(conn, run_id, summary), discrepancies)


def ledger_lag(db: Database, ledger_url: str) -> LedgerLag | None:
    """How far the ledger's last complete run (any mode) is behind the ledger now: its
    watermark's entry against the ledger's newest entry (None: never reconciled). One read
    transaction on the ledger; a ledger that cannot be read gives a lag with ``error``."""
    display = redact(ledger_url)
    watermark = last_complete_watermark(db, display)
    if watermark is None:
        return None
    mark = watermark.get("max_entry_id")
    mark_id = int(mark) if mark else None
    try:
        ledger = open_ledger(ledger_url)
        try:
            with ledger.snapshot() as snap:
                newest = snap.one(
                    "SELECT entry_id, recorded_at FROM ledger_entries"
                    " ORDER BY entry_id DESC LIMIT 1"
                )
                at_mark = None
                if mark_id is not None:
                    at_mark = snap.one(
                        "SELECT recorded_at FROM ledger_entries WHERE entry_id = ?", (mark_id,)
                    )
                behind = snap.one(
                    "SELECT COUNT(*) FROM ledger_entries WHERE entry_id > ?", (mark_id or 0,)
                )
        finally:
            ledger.dispose()
    except LedgerError as exc:
        return LedgerLag(display, watermark_entry_id=mark_id, error=str(exc))
    except Exception as exc:  # a driver's error mid-read: the health view still shows
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return LedgerLag(
            display, watermark_entry_id=mark_id, error=f"cannot read ledger {display}: {first}"
        )
    newest_at = iso(newest[1]) if newest else None
    mark_at = iso(at_mark[0]) if at_mark else None
    lag = None
    if newest_at is not None and mark_at is not None:
        lag = max(0.0, (parse_iso(newest_at) - parse_iso(mark_at)).total_seconds())
    elif newest is None:
        lag = 0.0  # an empty ledger: nothing to be behind
    return LedgerLag(
        display,
        newest_entry_id=int(newest[0]) if newest else None,
        newest_recorded_at=newest_at,
        watermark_entry_id=mark_id,
        watermark_recorded_at=mark_at,
        entries_behind=int(behind[0]) if behind else 0,
        lag_seconds=lag,
    )
