"""The hash chain as a test computes it, independently of ``incidentbook.core.events``: the
spec (DESIGN §3) written out again with hashlib and json, plus tampering helpers that drop the
events table's triggers, change rows, and put the triggers back as they were."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

GENESIS = "0" * 64
CONTENT = (
    "seq",
    "event_id",
    "stream",
    "type",
    "data",
    "actor",
    "reason",
    "correlation_id",
    "recorded_at",
    "idempotency_key",
)


def expected_hash(prev_hash: str | None, row: dict[str, object]) -> str:
    """SHA-256 of the canonical JSON (sorted keys, compact, UTF-8) of an event's content and
    its predecessor's hash."""
    doc = {name: row[name] for name in CONTENT} | {"prev_hash": prev_hash}
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def rows(path: Path) -> list[dict[str, object]]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM events ORDER BY seq")]
    finally:
        conn.close()


def independent_chain(path: Path) -> list[tuple[int, str, str]]:
    """(seq, prev_hash, hash) of every event, recomputed from the rows' content alone."""
    chain: list[tuple[int, str, str]] = []
    prev = GENESIS
    for row in rows(path):
        digest = expected_hash(prev, row)
        chain.append((int(str(row["seq"])), prev, digest))
        prev = digest
    return chain


def stored_chain(path: Path) -> list[tuple[int, str, str]]:
    return [(int(str(r["seq"])), str(r["prev_hash"]), str(r["hash"])) for r in rows(path)]


def triggers(conn: sqlite3.Connection) -> dict[str, str]:
    return {
        str(name): str(sql)
        for name, sql in conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'events'"
        )
    }


@contextmanager
def tampered(path: Path) -> Iterator[sqlite3.Connection]:
    """A raw connection to the state database with the events triggers dropped; on leaving,
    the change is committed and the triggers are re-created exactly as they were."""
    conn = sqlite3.connect(path)
    try:
        kept = triggers(conn)
        for name in kept:
            conn.execute(f"DROP TRIGGER {name}")
        yield conn
        for sql in kept.values():
            conn.execute(sql)
        conn.commit()
        assert triggers(conn) == kept
    finally:
        conn.close()


def backup(source: Path, target: Path) -> None:
    """A consistent copy of a WAL-mode database (the WAL's pages included)."""
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
