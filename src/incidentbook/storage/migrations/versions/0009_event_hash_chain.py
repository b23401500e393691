"""The hash chain over the event log (DESIGN §3, issue 16): ``prev_hash`` and ``hash`` on every
event, the existing events chained by a batched, resumable backfill.

The first transaction adds the two columns and ``event_chain_backfill``, the checkpoint: the
seq and hash the chain has reached. (No index on ``hash``: appends would pay for it on every
event, and ``verify`` finds recorded heads in the one pass that recomputes the chain.)
Then each batch of ``BATCH`` events is one transaction that drops the UPDATE trigger, sets the
batch's hashes, re-creates the trigger from its own stored SQL and moves the checkpoint on; the
last one drops the checkpoint table. So no committed state ever lacks the trigger, and after a
``kill -9`` anywhere the chained events are a prefix ending at the checkpoint: running the
upgrade again resumes there and gives the same chain. The checkpoint table exists exactly
while the backfill is unfinished. Each batch begins IMMEDIATE and reads the checkpoint under
that lock, so two backfills at once would take turns rather than chain a batch twice.

The hash is ``core.events.model.link_hash``, the one canonical form the store appends with.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection

from incidentbook.core.events.model import CHAIN_COLUMNS, GENESIS_HASH, link_hash
from incidentbook.obs import log_info

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

BATCH = 5_000
CHECKPOINT = "event_chain_backfill"
_TRIGGER = "events_no_update"


def upgrade() -> None:
    conn = op.get_bind()
    columns = {str(r[1]) for r in conn.exec_driver_sql("PRAGMA table_info(events)")}
    if "hash" not in columns:  # not started (else resumed, or done but not yet stamped)
        op.add_column("events", sa.Column("prev_hash", sa.Text))
        op.add_column("events", sa.Column("hash", sa.Text))
        conn.exec_driver_sql(
            f"CREATE TABLE {CHECKPOINT} (id INTEGER PRIMARY KEY CHECK (id = 1), "
            "last_seq INTEGER NOT NULL, last_hash TEXT NOT NULL)"
        )
        conn.exec_driver_sql(f"INSERT INTO {CHECKPOINT} VALUES (1, 0, ?)", (GENESIS_HASH,))
    conn.commit()
    backfill(conn)


def backfill(conn: Connection, batch: int = BATCH) -> None:
    """Chain every event after the checkpoint, one committed transaction per ``batch``."""
    conn.execution_options(sqlite_begin="IMMEDIATE")
    select_sql = f"SELECT {', '.join(CHAIN_COLUMNS)} FROM events WHERE seq > ? ORDER BY seq LIMIT ?"
    total = int(conn.exec_driver_sql("SELECT count(*) FROM events").scalar_one())
    conn.commit()
    done, started = 0, time.monotonic()
    while True:
        with conn.begin():
            checkpoint = _checkpoint(conn)
            if checkpoint is None:
                return  # finished (here or by another process)
            last_seq, last_hash = checkpoint
            rows = conn.exec_driver_sql(select_sql, (last_seq, batch)).fetchall()
            if not rows:
                conn.exec_driver_sql(f"DROP TABLE {CHECKPOINT}")
                log_info("migration_0009_chained", events=total, seconds=_since(started))
                return
            updates: list[tuple[Any, ...]] = []
            for row in rows:
                digest = link_hash(last_hash, tuple(row))
                updates.append((last_hash, digest, row[0]))
                last_hash = digest
            trigger = conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?", (_TRIGGER,)
            ).scalar()
            if trigger is not None:
                conn.exec_driver_sql(f"DROP TRIGGER {_TRIGGER}")
            conn.exec_driver_sql("UPDATE events SET prev_hash = ?, hash = ? WHERE seq = ?", updates)
            if trigger is not None:
                conn.exec_driver_sql(str(trigger))
            conn.exec_driver_sql(
                f"UPDATE {CHECKPOINT} SET last_seq = ?, last_hash = ? WHERE id = 1",
                (int(rows[-1][0]), last_hash),
            )
        done += len(rows)
        log_info(
            "migration_0009_progress",
            chained=done,
            of=total,
            through_seq=int(rows[-1][0]),
            seconds=_since(started),
        )


def _checkpoint(conn: Connection) -> tuple[int, str] | None:
    exists = conn.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (CHECKPOINT,)
    ).first()
    if exists is None:
        return None
    row = conn.exec_driver_sql(f"SELECT last_seq, last_hash FROM {CHECKPOINT}").one()
    return int(row[0]), str(row[1])


def _since(started: float) -> float:
    return round(time.monotonic() - started, 3)
