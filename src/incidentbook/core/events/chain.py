"""Proving the event log's hash chain: recompute every event's hash in seq order, name the
first broken seq and how it broke, and prove that a head recorded earlier is still a prefix.

How a break is named (the first one found, in seq order):

- ``gap``: seqs are missing (events deleted); the break is the first missing seq.
- ``no hash``: an event written outside the chain (its hash is empty).
- ``reordered``: its ``prev_hash`` is the hash of a later event.
- ``inserted``: its ``prev_hash`` is the hash of an earlier event than the one before it,
  so the events between were put in (or renumbered) after the chain was written.
- ``prev link broken``: its ``prev_hash`` is not the previous event's hash (the previous
  event was rewritten, hash and all).
- ``content edited``: its stored content no longer hashes to its hash.

A chain rewritten consistently from some seq on, or cut short, verifies on its own; what
catches it is a head recorded outside the database earlier (``verify --json``'s ``head_hash``
kept in a ticket, every postmortem's ``head_hash``) that the chain no longer holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from incidentbook.core.events.model import CHAIN_COLUMNS, GENESIS_HASH, link_hash
from incidentbook.core.events.projection import CheckResult
from incidentbook.settings import Settings
from incidentbook.storage.db import Database

BATCH = 5_000
_ROWS_SQL = (
    f"SELECT {', '.join(CHAIN_COLUMNS)}, prev_hash, hash FROM events "
    "WHERE seq > ? ORDER BY seq LIMIT ?"
)
_WIDTH = len(CHAIN_COLUMNS)


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"seq {self.seq}: {self.kind}: {self.detail}"


@dataclass(frozen=True)
class ChainReport:
    """The chain as stored: how many events, its head (the newest event's stored hash;
    ``GENESIS_HASH`` for an empty log), the first break, if any, and the seq of each head
    asked about that is in it."""

    events: int
    head_seq: int
    head_hash: str
    broken: ChainBreak | None
    found: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class HeadProof:
    """Whether a recorded head is still in the chain with every link up to it intact."""

    head_hash: str
    seq: int | None  # where the head is in the chain; None: it is not
    ok: bool
    reason: str  # one line either way


@dataclass
class ChainResult(CheckResult):
    """``verify``'s chain check, with what ``verify`` prints beside it."""

    events: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    broken: ChainBreak | None = field(default=None)


def short(digest: str) -> str:
    return digest[:12]


@dataclass
class Scan:
    """One pass over the chain: its first break, and where the wanted heads are."""

    broken: ChainBreak | None = None
    found: dict[str, int] = field(default_factory=dict)


def verify_chain(db: Database, wanted: frozenset[str] = frozenset()) -> ChainReport:
    """Recompute the whole chain in one read snapshot, finding the ``wanted`` heads on the way."""
    with db.read() as session:
        conn = session.connection()
        scan = walk(conn, wanted)
        events, head_seq, head_hash = _head(conn)
    return ChainReport(events, head_seq, head_hash, scan.broken, scan.found)


def walk(conn: Connection, wanted: frozenset[str] = frozenset(), *, stop: bool = False) -> Scan:
    """Check every link in seq order up to the first break; note the seq of each ``wanted``
    hash (read on past a break, since a head after it must be named too). ``stop``: end as
    soon as every wanted hash is found (what comes after it is not asked about)."""
    scan = Scan()
    missing = set(wanted) - {GENESIS_HASH}
    if GENESIS_HASH in wanted:
        scan.found[GENESIS_HASH] = 0
    if stop and not missing:
        return scan
    expected, prev, last = 1, GENESIS_HASH, 0
    while True:
        rows = conn.exec_driver_sql(_ROWS_SQL, (last, BATCH)).fetchall()
        if not rows:
            return scan
        for row in rows:
            seq, stored = int(row[0]), row[-1]
            if scan.broken is None:
                scan.broken = _check(conn, tuple(row), expected, prev)
            if stored in missing:
                scan.found[stored] = seq
                missing.discard(stored)
                if stop and not missing:
                    return scan
            if scan.broken is not None and not missing:
                return scan
            prev, expected, last = stored, seq + 1, seq


def _check(conn: Connection, row: tuple[Any, ...], expected: int, prev: str) -> ChainBreak | None:
    seq, stored_prev, stored = int(row[0]), row[-2], row[-1]
    if seq != expected:
        missing = f"seq {expected}" if seq == expected + 1 else f"seqs {expected}-{seq - 1}"
        after = f"after seq {expected - 1}" if expected > 1 else "at the start"
        return ChainBreak(expected, "gap", f"{missing} missing {after} (events deleted)")
    if not stored:
        return ChainBreak(seq, "no hash", "the event has no hash (written outside the chain)")
    if stored_prev != prev:
        linked = seq_of(conn, stored_prev) if stored_prev else None
        if linked is not None and linked > seq:
            return ChainBreak(
                seq, "reordered", f"it links to seq {linked}, a later event (events reordered)"
            )
        if linked is not None and linked < seq - 1:
            between = f"seq {seq - 1}" if linked == seq - 2 else f"seqs {linked + 1}-{seq - 1}"
            return ChainBreak(
                seq, "inserted", f"it links to seq {linked}: {between} put in after it was chained"
            )
        return ChainBreak(
            seq,
            "prev link broken",
            f"its prev_hash is not the hash of seq {seq - 1} (an earlier event was rewritten)",
        )
    if link_hash(stored_prev, row[:_WIDTH]) != stored:
        return ChainBreak(seq, "content edited", "its content does not match its hash")
    return None


def seq_of(conn: Connection, digest: str) -> int | None:
    """The seq of the event whose stored hash is ``digest`` (0 for the genesis hash); a scan
    (``hash`` has no index), asked only to name a break."""
    if digest == GENESIS_HASH:
        return 0
    row = conn.exec_driver_sql(
        "SELECT seq FROM events WHERE hash = ? ORDER BY seq LIMIT 1", (digest,)
    ).first()
    return int(row[0]) if row is not None else None


def _head(conn: Connection) -> tuple[int, int, str]:
    count = int(conn.exec_driver_sql("SELECT count(*) FROM events").scalar_one())
    row = conn.exec_driver_sql("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").first()
    if row is None:
        return count, 0, GENESIS_HASH
    return count, int(row[0]), str(row[1] or "")


def prove_head(db: Database, head_hash: str) -> HeadProof:
    """Is ``head_hash`` still in the chain, with every link up to it intact?"""
    with db.read() as session:
        conn = session.connection()
        scan = walk(conn, frozenset({head_hash}), stop=True)
        _count, head_seq, _hash = _head(conn)
    return head_proof(scan.broken, scan.found, head_hash, head_seq)


def head_proof(
    broken: ChainBreak | None, found: dict[str, int], head_hash: str, head_seq: int
) -> HeadProof:
    """What a pass over the chain (its first break, the heads it found) says of a head;
    ``head_seq``: the chain's newest seq."""
    seq = found.get(head_hash)
    if seq is None:
        return HeadProof(
            head_hash,
            None,
            False,
            f"head {short(head_hash)} is not in the chain (rolled back or rewritten); "
            f"the chain now ends at seq {head_seq}",
        )
    before = broken if broken is not None and broken.seq <= seq else None
    return _proof(head_hash, seq, before)


def _proof(head_hash: str, seq: int, broken: ChainBreak | None) -> HeadProof:
    if broken is not None:
        return HeadProof(
            head_hash,
            seq,
            False,
            f"chain broken before head {short(head_hash)} (seq {seq}): {broken}",
        )
    return HeadProof(
        head_hash,
        seq,
        True,
        f"head {short(head_hash)} is seq {seq}: every event up to it is unchanged",
    )


def check_chain(_settings: Settings, db: Database) -> ChainResult:
    """``verify``'s check: the whole chain recomputed, its head beside it."""
    report = verify_chain(db)
    result = ChainResult(
        "event_chain",
        checked=report.events,
        events=report.events,
        head_seq=report.head_seq,
        head_hash=report.head_hash,
        broken=report.broken,
    )
    if report.broken is not None:
        result.problems.append(f"first broken event: {report.broken}")
    return result
