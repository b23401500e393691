"""``incidentbook verify``'s reconciler check: every run's checkpoints agree with the findings
they committed, and a pruned run kept its summary and nothing else."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import text

from incidentbook.core.events.projection import CheckResult
from incidentbook.core.ledger.reconcile.runs import RUN_TABLES, connection

if TYPE_CHECKING:
    from incidentbook.settings import Settings
    from incidentbook.storage.db import Database


def verify_checkpoints(_settings: Settings, db: Database) -> CheckResult:
    """``incidentbook verify``: reconciler checkpoints agree with the findings they committed.

    Per run: checkpoint seqs are 1..batches without a gap; each checkpoint's finding count is
    the number of findings committed with it; a complete run has every finding published."""
    result = CheckResult("reconciler_checkpoints")
    with db.read() as session:
        conn = connection(session)
        runs = conn.execute(
            text(
                "SELECT run_id, status, batches, finished_at, pruned_at, summary"
                " FROM reconcile_runs"
            )
        ).all()
        for run_id, status, batches, finished, pruned, summary in runs:
            result.checked += 1
            if pruned:
                left = sum(
                    conn.execute(
                        text(f"SELECT COUNT(*) FROM {table} WHERE run_id = :r"), {"r": run_id}
                    ).scalar_one()
                    for table in RUN_TABLES
                )
                if left or not summary or status != "complete":
                    result.problems.append(
                        f"run {run_id}: pruned, but {left} rows left, summary "
                        f"{'kept' if summary else 'missing'}, status {status}"
                    )
                continue
            seqs = conn.execute(
                text(
                    "SELECT c.seq, c.findings, (SELECT COUNT(*) FROM reconcile_findings f"
                    " WHERE f.run_id = c.run_id AND f.seq = c.seq)"
                    " FROM reconcile_checkpoints c WHERE c.run_id = :r ORDER BY c.seq"
                ),
                {"r": run_id},
            ).all()
            if [s[0] for s in seqs] != list(range(1, len(seqs) + 1)) or len(seqs) != batches:
                result.problems.append(
                    f"run {run_id}: checkpoints {[s[0] for s in seqs][:10]} do not match "
                    f"{batches} batches"
                )
            for seq, claimed, actual in seqs:
                if claimed != actual:
                    result.problems.append(
                        f"run {run_id}: batch {seq} committed {claimed} findings, "
                        f"{actual} are stored"
                    )
            orphans = conn.execute(
                text(
                    "SELECT COUNT(*) FROM reconcile_findings f WHERE f.run_id = :r AND NOT EXISTS"
                    " (SELECT 1 FROM reconcile_checkpoints c WHERE c.run_id = f.run_id"
                    " AND c.seq = f.seq)"
                ),
                {"r": run_id},
            ).scalar_one()
            if orphans:
                result.problems.append(f"run {run_id}: {orphans} findings without a checkpoint")
            if status == "complete":
                unpublished = conn.execute(
                    text(
                        "SELECT COUNT(*) FROM reconcile_findings WHERE run_id = :r"
                        " AND outcome IS NULL"
                    ),
                    {"r": run_id},
                ).scalar_one()
                if unpublished or not finished:
                    result.problems.append(
                        f"run {run_id}: complete but {unpublished} findings never published"
                    )
    return result
