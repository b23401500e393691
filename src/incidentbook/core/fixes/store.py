"""Fix forward in the state database: plans (immutable: stored once with their hash), the apply
of a plan, its batch checkpoints, and the reads the closure gate decides on. SQL only."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlmodel import Session

from incidentbook.core.fixes.model import PlanHeader
from incidentbook.core.ledger.reconcile.model import SOURCE
from incidentbook.digest import sha256_hex
from incidentbook.errors import ConflictError


@dataclass(frozen=True)
class StoredPlan:
    header: PlanHeader
    body: str


@dataclass(frozen=True)
class ApplyRow:
    plan_id: str
    ledger: str
    batch_size: int
    started_at: str
    started_by: str
    status: str
    finished_at: str | None


@dataclass(frozen=True)
class BatchRow:
    batch_no: int
    applied_at: str
    accounts: int
    corrected: int
    conflicts: int
    entries_written: int
    outcome: dict[str, Any]


def next_number(session: Session) -> int:
    row = session.execute(text("SELECT COALESCE(MAX(number), 0) FROM fix_plans")).one()
    return int(row[0]) + 1


def insert_plan(session: Session, number: int, header: PlanHeader, body: str) -> None:
    session.execute(
        text(
            "INSERT INTO fix_plans (plan_id, number, incident_id, ledger, created_at,"
            " created_by, sha256, body, accounts, reversals) VALUES (:p, :n, :i, :l, :c, :b,"
            " :h, :body, :a, :r)"
        ),
        {
            "p": header.plan_id,
            "n": number,
            "i": header.incident_id,
            "l": header.ledger,
            "c": header.created_at,
            "b": header.created_by,
            "h": header.sha256,
            "body": body,
            "a": header.accounts,
            "r": header.reversals,
        },
    )


PLAN_COLUMNS = (
    "plan_id, incident_id, ledger, created_at, created_by, sha256, accounts, reversals, body"
)


def _stored(row: Any) -> StoredPlan:
    *head, body = row
    return StoredPlan(PlanHeader(*head), str(body))


def load_plan(session: Session, plan_id: str) -> StoredPlan | None:
    """The stored plan, its hash checked against its bytes (a mismatch is refused: someone
    edited the state database under the triggers)."""
    row = session.execute(
        text(f"SELECT {PLAN_COLUMNS} FROM fix_plans WHERE plan_id = :p"), {"p": plan_id}
    ).first()
    if row is None:
        return None
    stored = _stored(row)
    if sha256_hex(stored.body) != stored.header.sha256:
        raise ConflictError(
            f"{plan_id} is damaged: its content no longer matches its sha256"
            f" {stored.header.sha256[:12]}…; refusing to use it (make a fresh plan)"
        )
    return stored


def list_plans(session: Session, incident_id: str | None = None) -> list[PlanHeader]:
    where = "WHERE incident_id = :i" if incident_id else ""
    rows = session.execute(
        text(f"SELECT {PLAN_COLUMNS} FROM fix_plans {where} ORDER BY number"),
        {"i": incident_id} if incident_id else {},
    ).all()
    return [_stored(r).header for r in rows]


def newest_plan(session: Session, incident_id: str) -> StoredPlan | None:
    row = session.execute(
        text(
            f"SELECT {PLAN_COLUMNS} FROM fix_plans WHERE incident_id = :i"
            " ORDER BY number DESC LIMIT 1"
        ),
        {"i": incident_id},
    ).first()
    return None if row is None else load_plan(session, str(row[0]))


# -- applies and their checkpoints -----------------------------------------------------------


def get_apply(session: Session, plan_id: str) -> ApplyRow | None:
    row = session.execute(
        text(
            "SELECT plan_id, ledger, batch_size, started_at, started_by, status, finished_at"
            " FROM fix_applies WHERE plan_id = :p"
        ),
        {"p": plan_id},
    ).first()
    return None if row is None else ApplyRow(*row)


def start_apply(
    session: Session, plan_id: str, ledger: str, batch_size: int, at: str, actor: str
) -> None:
    session.execute(
        text(
            "INSERT INTO fix_applies (plan_id, ledger, batch_size, started_at, started_by,"
            " status) VALUES (:p, :l, :b, :t, :a, 'running')"
        ),
        {"p": plan_id, "l": ledger, "b": batch_size, "t": at, "a": actor},
    )


def finish_apply(session: Session, plan_id: str, at: str) -> None:
    session.execute(
        text(
            "UPDATE fix_applies SET status = 'complete', finished_at = :t"
            " WHERE plan_id = :p AND status = 'running'"
        ),
        {"p": plan_id, "t": at},
    )


def batches(session: Session, plan_id: str) -> list[BatchRow]:
    rows = session.execute(
        text(
            "SELECT batch_no, applied_at, accounts, corrected, conflicts, entries_written,"
            " outcome FROM fix_batches WHERE plan_id = :p ORDER BY batch_no"
        ),
        {"p": plan_id},
    ).all()
    return [
        BatchRow(int(r[0]), str(r[1]), int(r[2]), int(r[3]), int(r[4]), int(r[5]),
                 json.loads(r[6]))
        for r in rows
    ]  # fmt: skip


def insert_batch(
    session: Session,
    plan_id: str,
    batch_no: int,
    applied_at: str,
    counts: tuple[int, int, int, int],
    outcome: dict[str, Any],
) -> None:
    accounts, corrected, conflicts, written = counts
    session.execute(
        text(
            "INSERT INTO fix_batches (plan_id, batch_no, applied_at, accounts, corrected,"
            " conflicts, entries_written, outcome) VALUES (:p, :n, :t, :a, :c, :x, :w, :o)"
        ),
        {
            "p": plan_id,
            "n": batch_no,
            "t": applied_at,
            "a": accounts,
            "c": corrected,
            "x": conflicts,
            "w": written,
            "o": json.dumps(outcome, sort_keys=True),
        },
    )


# -- what the closure gate reads ---------------------------------------------------------------


def firing_findings(session: Session, incident_id: str) -> int:
    row = session.execute(
        text(
            "SELECT COUNT(*) FROM alerts WHERE source = :s AND incident_id = :i"
            " AND status = 'firing'"
        ),
        {"s": SOURCE, "i": incident_id},
    ).one()
    return int(row[0])


def last_complete_run_started(session: Session) -> str | None:
    row = session.execute(
        text("SELECT MAX(started_at) FROM reconcile_runs WHERE status = 'complete'")
    ).one()
    return None if row[0] is None else str(row[0])


def last_correction_at(session: Session, incident_id: str, event_type: str) -> str | None:
    row = session.execute(
        text("SELECT MAX(recorded_at) FROM events WHERE stream = :s AND type = :t"),
        {"s": f"incident:{incident_id}", "t": event_type},
    ).one()
    return None if row[0] is None else str(row[0])
