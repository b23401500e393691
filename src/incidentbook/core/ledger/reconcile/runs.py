"""The run store: a reconcile run's row and its own rows (findings, checkpoints, scope,
resolutions) in the state database; reads, the phase moves the runner commits, discarding
and pruning. SQL only, no orchestration."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, text

from incidentbook.clock import to_iso
from incidentbook.context import Context
from incidentbook.core.batches import chunks, marks
from incidentbook.core.events.model import encode_sorted
from incidentbook.core.ledger.checks import ACCOUNT_CHECKS, CHECKS, Finding
from incidentbook.core.ledger.reconcile.model import (
    DISCREPANCIES_KEY,
    SOURCE,
    Discrepancy,
    Run,
    RunSummary,
    empty_checks,
    stored_checks,
    summary_json,
)
from incidentbook.core.ledger.tasks import Task, TaskResult
from incidentbook.errors import NotFoundError
from incidentbook.obs import log_info

if TYPE_CHECKING:
    from incidentbook.storage.db import Database

LEGACY_SCAN_PHASES = ("accounts", "entries", "reversals")  # runs left by releases before tasks
# a run's own rows besides its reconcile_runs row (deleted when it is discarded or pruned)
RUN_TABLES = (
    "reconcile_findings",
    "reconcile_checkpoints",
    "reconcile_scope",
    "reconcile_resolved",
)

TaskKey = tuple[str, str | None, str | None]


def connection(session: Any) -> Connection:
    """The session's connection, for the raw SQL of the reconciler's tables."""
    conn: Connection = session.connection()
    return conn


# -- a run's row -----------------------------------------------------------------------


def unfinished_run(db: Database, display_url: str) -> Run | None:
    """The ledger's newest run still running, to be finished."""
    with db.read() as session:
        row = (
            connection(session)
            .execute(
                text(
                    "SELECT run_id, mode, phase, cursor, batch_size, options, watermark,"
                    " started_at, batches FROM reconcile_runs"
                    " WHERE status = 'running' AND ledger = :ledger"
                    " ORDER BY started_at DESC LIMIT 1"
                ),
                {"ledger": display_url},
            )
            .first()
        )
    if row is None:
        return None
    return Run(
        run_id=row[0],
        mode=row[1],
        phase=row[2],
        cursor=json.loads(row[3] or "{}"),
        batch=int(row[4]),
        options=json.loads(row[5]),
        watermark=json.loads(row[6]),
        started_at=row[7],
        batches=int(row[8]),
        resumed=True,
    )


def last_complete_watermark(db: Database, display_url: str) -> dict[str, Any] | None:
    """Where the ledger's last complete run left off (None: never reconciled)."""
    with db.read() as session:
        row = (
            connection(session)
            .execute(
                text(
                    "SELECT watermark FROM reconcile_runs WHERE status = 'complete'"
                    " AND ledger = :ledger ORDER BY finished_at DESC, rowid DESC LIMIT 1"
                ),
                {"ledger": display_url},
            )
            .first()
        )
    return json.loads(row[0]) if row else None


def insert_run(
    db: Database, ctx: Context, run: Run, display_url: str, scope: Sequence[str]
) -> None:
    """A new run's row and its incremental scope, in one transaction."""
    with db.write() as session:
        conn = connection(session)
        conn.execute(
            text(
                "INSERT INTO reconcile_runs (run_id, mode, ledger, status, phase, cursor,"
                " batch_size, options, watermark, batches, started_at, actor, correlation_id)"
                " VALUES (:run_id, :mode, :ledger, 'running', :phase, :cursor, :batch, :options,"
                " :watermark, 0, :started_at, :actor, :correlation_id)"
            ),
            {
                "run_id": run.run_id,
                "mode": run.mode,
                "ledger": display_url,
                "phase": run.phase,
                "cursor": json.dumps(run.cursor),
                "batch": run.batch,
                "options": json.dumps(run.options, sort_keys=True),
                "watermark": json.dumps(run.watermark, sort_keys=True),
                "started_at": run.started_at,
                "actor": ctx.actor,
                "correlation_id": ctx.correlation_id,
            },
        )
        if scope:
            conn.execute(
                text(
                    "INSERT INTO reconcile_scope (run_id, position, account_id)"
                    " VALUES (:run_id, :position, :account_id)"
                ),
                [
                    {"run_id": run.run_id, "position": i, "account_id": a}
                    for i, a in enumerate(scope)
                ],
            )


def discard_run(db: Database, run_id: str) -> None:
    """A run aborted by bad ledger data leaves nothing behind."""
    with db.write() as session:
        conn = connection(session)
        for table in (*RUN_TABLES, "reconcile_runs"):
            conn.execute(text(f"DELETE FROM {table} WHERE run_id = :r"), {"r": run_id})


def advance(
    conn: Connection, run_id: str, phase: str, cursor: dict[str, Any] | None, batches: int
) -> None:
    """Advance the run; ``cursor`` None keeps the stored one (the scan's plan)."""
    conn.execute(
        text(
            "UPDATE reconcile_runs SET phase = :phase, batches = :batches,"
            " cursor = COALESCE(:cursor, cursor) WHERE run_id = :run_id"
        ),
        {
            "phase": phase,
            "cursor": None if cursor is None else json.dumps(cursor),
            "batches": batches,
            "run_id": run_id,
        },
    )


def mark_complete(
    conn: Connection, run_id: str, finished_at: str, checks: dict[str, dict[str, int]]
) -> None:
    """The run is complete: its summary (the checks' counts and, counted from its findings
    in the same transaction, their accounts and money per currency) is kept on its row."""
    summary = summary_json(checks, counted_discrepancies(conn, run_id))
    conn.execute(
        text(
            "UPDATE reconcile_runs SET status = 'complete', phase = 'complete',"
            " finished_at = :at, summary = :summary"
            " WHERE run_id = :r AND status = 'running'"
        ),
        {"at": finished_at, "summary": summary, "r": run_id},
    )


# -- scan: checkpoints and findings ------------------------------------------------------


def commit_tasks(
    db: Database,
    run: Run,
    batches: list[tuple[Task, TaskResult]],
    next_phase: str,
    cursor: dict[str, Any] | None,
    at: str,
) -> None:
    """Finished tasks' findings, their checkpoints (one per task, numbered in commit
    order) and the run's counters, in one transaction; ``run`` follows."""
    seq = run.batches
    findings_rows: list[tuple[Any, ...]] = []
    checkpoint_rows: list[tuple[Any, ...]] = []
    for task, result in batches:
        seq += 1
        _, lo, hi = task.key()
        findings_rows.extend(
            (run.run_id, f.fingerprint, f.check, f.account_id, f.currency, f.entry_id,
             f.delta_minor, encode_sorted(f.details), seq)
            for f in result.findings
        )  # fmt: skip
        checkpoint_rows.append(
            (run.run_id, seq, task.track, lo, hi, result.items, len(result.findings), at)
        )
    with db.write() as session:
        conn = connection(session)
        # positional rows, not named: a scan's thousands of findings go through the
        # driver's executemany without a parameter dict each
        if findings_rows:
            conn.exec_driver_sql(
                "INSERT INTO reconcile_findings (run_id, fingerprint, check_name, account_id,"
                " currency, entry_id, delta_minor, details, seq)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                findings_rows,
            )
        if checkpoint_rows:
            conn.exec_driver_sql(
                "INSERT INTO reconcile_checkpoints (run_id, seq, phase, lo, hi, items,"
                " findings, committed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                checkpoint_rows,
            )
        advance(conn, run.run_id, next_phase, cursor, seq)
    run.batches = seq
    run.phase = next_phase
    if cursor is not None:
        run.cursor = cursor


def done_task_keys(db: Database, run_id: str) -> set[TaskKey]:
    """The tasks of the run whose checkpoint is committed."""
    with db.read() as session:
        return {
            (str(r[0]), r[1], r[2])
            for r in connection(session).execute(
                text("SELECT phase, lo, hi FROM reconcile_checkpoints WHERE run_id = :r"),
                {"r": run_id},
            )
        }


def scope_accounts(db: Database, run_id: str) -> list[str]:
    """An incremental run's accounts, in their stored order."""
    with db.read() as session:
        return [
            str(r[0])
            for r in connection(session).execute(
                text("SELECT account_id FROM reconcile_scope WHERE run_id = :r ORDER BY position"),
                {"r": run_id},
            )
        ]


# -- publish and resolve ---------------------------------------------------------------


def count_findings(db: Database, run_id: str) -> int:
    with db.read() as session:
        return int(
            connection(session)
            .execute(
                text("SELECT COUNT(*) FROM reconcile_findings WHERE run_id = :r"),
                {"r": run_id},
            )
            .scalar_one()
        )


def findings_page(conn: Connection, run_id: str, after: str | None, limit: int) -> list[Any]:
    """Up to ``limit`` finding rows (fingerprint, check_name, account_id, currency, entry_id,
    delta_minor, details) past fingerprint ``after``, in fingerprint order."""
    return list(
        conn.execute(
            text(
                "SELECT fingerprint, check_name, account_id, currency, entry_id,"
                " delta_minor, details FROM reconcile_findings WHERE run_id = :r"
                " AND fingerprint > :after ORDER BY fingerprint LIMIT :n"
            ),
            # '' sorts before every fingerprint (none is empty)
            {"r": run_id, "after": after or "", "n": limit},
        ).all()
    )


def record_outcomes(
    conn: Connection, run_id: str, fingerprints: list[str], outcomes: list[str]
) -> None:
    """What publishing did to each finding's alert, one UPDATE per outcome and slice
    (a batch's outcomes are mostly one: all new, or all repeated)."""
    by_outcome: dict[str, list[str]] = {}
    for fingerprint, outcome in zip(fingerprints, outcomes, strict=True):
        by_outcome.setdefault(outcome, []).append(fingerprint)
    for outcome, members in by_outcome.items():
        for chunk in chunks(members):
            conn.exec_driver_sql(
                "UPDATE reconcile_findings SET outcome = ? WHERE run_id = ?"
                f" AND fingerprint IN ({marks(chunk)})",
                (outcome, run_id, *chunk),
            )


def firing_without_finding(conn: Connection, run_id: str, scoped: bool, limit: int) -> list[Any]:
    """Up to ``limit`` firing reconciler alerts (fingerprint, name, severity, summary, labels,
    annotations, starts_at) the run found nothing for; ``scoped``: only the account checks of
    the run's scope."""
    checks_sql = ", ".join(f"'{c}'" for c in ACCOUNT_CHECKS)
    scope_sql = (
        f" AND a.name IN ({checks_sql}) AND json_extract(a.labels, '$.account_id') IN"
        " (SELECT account_id FROM reconcile_scope WHERE run_id = :r)"
        if scoped
        else ""
    )
    return list(
        conn.execute(
            text(
                "SELECT a.fingerprint, a.name, a.severity, a.summary, a.labels,"
                " a.annotations, a.starts_at FROM alerts a"
                " WHERE a.source = :source AND a.status = 'firing'"
                " AND a.fingerprint NOT IN"
                " (SELECT fingerprint FROM reconcile_findings WHERE run_id = :r)"
                f"{scope_sql} ORDER BY a.fingerprint LIMIT :n"
            ),
            {"source": SOURCE, "r": run_id, "n": limit},
        ).all()
    )


def record_resolved(conn: Connection, run_id: str, resolved: list[tuple[str, str, str]]) -> None:
    """The alerts the run resolved: (fingerprint, check, account_id) each."""
    conn.execute(
        text(
            "INSERT OR IGNORE INTO reconcile_resolved"
            " (run_id, fingerprint, check_name, account_id)"
            " VALUES (:r, :f, :c, :a)"
        ),
        [{"r": run_id, "f": f, "c": c, "a": a} for f, c, a in resolved],
    )


# -- summaries, findings, pruning --------------------------------------------------------


def run_summary(db: Database, run_id: str) -> RunSummary:
    """Per check: found, new (new or re-fired alerts), resolved. Stable across resumes."""
    with db.read() as session:
        conn = connection(session)
        row = conn.execute(
            text(
                "SELECT run_id, mode, ledger, status, batches, started_at, finished_at, summary"
                " FROM reconcile_runs WHERE run_id = :r"
            ),
            {"r": run_id},
        ).first()
        if row is None:
            raise NotFoundError(f"no reconcile run {run_id}")
        checks = stored_checks(row[7]) if row[7] else counted_checks(conn, run_id)
    return RunSummary(
        run_id=row[0],
        mode=row[1],
        ledger=row[2],
        status=row[3],
        resumed=False,
        batches=int(row[4]),
        started_at=row[5],
        finished_at=row[6],
        checks=checks,
    )


def counted_checks(conn: Connection, run_id: str) -> dict[str, dict[str, int]]:
    """Per check: found, new (new or re-fired alerts), resolved, counted from the run's rows."""
    checks = empty_checks()
    for check, found, new in conn.execute(
        text(
            "SELECT check_name, COUNT(*), SUM(outcome IN ('new', 'refired'))"
            " FROM reconcile_findings WHERE run_id = :r GROUP BY check_name"
        ),
        {"r": run_id},
    ):
        checks[check]["found"] = int(found)
        checks[check]["new"] = int(new or 0)
    for check, resolved in conn.execute(
        text(
            "SELECT check_name, COUNT(*) FROM reconcile_resolved WHERE run_id = :r"
            " GROUP BY check_name"
        ),
        {"r": run_id},
    ):
        if check in checks:
            checks[check]["resolved"] = int(resolved)
    return checks


def counted_discrepancies(conn: Connection, run_id: str) -> dict[str, Discrepancy]:
    """Per check (in CHECKS order): the distinct accounts of the run's findings and the sum of
    their |delta_minor| per currency, counted from the run's rows."""
    accounts = dict.fromkeys(CHECKS, 0)
    money: dict[str, dict[str, int]] = {c: {} for c in CHECKS}
    for check, count in conn.execute(
        text(
            "SELECT check_name, COUNT(DISTINCT account_id) FROM reconcile_findings"
            " WHERE run_id = :r GROUP BY check_name"
        ),
        {"r": run_id},
    ):
        accounts[str(check)] = int(count)
    for check, currency, total in conn.execute(
        text(
            "SELECT check_name, currency, SUM(ABS(delta_minor)) FROM reconcile_findings"
            " WHERE run_id = :r AND currency IS NOT NULL GROUP BY check_name, currency"
        ),
        {"r": run_id},
    ):
        if total:
            money.setdefault(str(check), {})[str(currency)] = int(total)
    return {c: Discrepancy(accounts.get(c, 0), money.get(c, {})) for c in accounts}


def prune_runs(db: Database, ctx: Context, ledger: str, keep: int) -> int:
    """Let go of the findings, checkpoints, scope and resolutions of a ledger's complete runs
    older than its newest ``keep``: a run's summary stays on its row (counted first for runs
    from before summaries were stored), and its alerts and their events stay. One transaction
    per run, so a run is either whole or pruned, and running this again does nothing more.
    Returns the runs pruned."""
    with db.read() as session:
        old = [
            str(r[0])
            for r in connection(session).execute(
                text(
                    "SELECT run_id FROM reconcile_runs WHERE ledger = :l AND status = 'complete'"
                    " AND pruned_at IS NULL AND run_id NOT IN (SELECT run_id FROM reconcile_runs"
                    " WHERE ledger = :l AND status = 'complete'"
                    " ORDER BY finished_at DESC, run_id DESC LIMIT :keep)"
                ),
                {"l": ledger, "keep": keep},
            )
        ]
    rows = 0
    for run_id in old:
        with db.write() as session:
            conn = connection(session)
            row = conn.execute(
                text("SELECT summary FROM reconcile_runs WHERE run_id = :r AND pruned_at IS NULL"),
                {"r": run_id},
            ).first()
            if row is None:  # another caller pruned it since the list was read
                continue
            summary = row[0]
            if not summary:
                summary = summary_json(counted_checks(conn, run_id), None)
            if DISCREPANCIES_KEY not in json.loads(summary):
                # a run completed before summaries recorded them: counted before its findings go
                summary = summary_json(stored_checks(summary), counted_discrepancies(conn, run_id))
            for table in RUN_TABLES:
                rows += conn.execute(
                    text(f"DELETE FROM {table} WHERE run_id = :r"), {"r": run_id}
                ).rowcount
            conn.execute(
                text("UPDATE reconcile_runs SET summary = :s, pruned_at = :at WHERE run_id = :r"),
                {"s": summary, "at": to_iso(ctx.clock()), "r": run_id},
            )
    if old:
        log_info("reconcile.pruned", ctx.correlation_id, ledger=ledger, runs=len(old),
                 rows=rows, kept=keep)  # fmt: skip
    return len(old)


def findings(db: Database, run_id: str) -> list[Finding]:
    """The findings of one run, sorted by fingerprint."""
    with db.read() as session:
        rows = (
            connection(session)
            .execute(
                text(
                    "SELECT check_name, fingerprint, account_id, currency, entry_id, delta_minor,"
                    " details FROM reconcile_findings WHERE run_id = :r ORDER BY fingerprint"
                ),
                {"r": run_id},
            )
            .all()
        )
    return [Finding(r[0], r[1], r[2], r[3], r[4], int(r[5]), json.loads(r[6])) for r in rows]
