"""The reconciler's scan, cut into independent tasks over ranges of keys.

A run plans its tasks once, from its snapshot, and stores the plan with the run; a task is
done when its checkpoint (with its findings) is committed, in any order. So tasks can run in
parallel (``workers``), and ``--resume`` after ``kill -9`` runs exactly the tasks without a
checkpoint. Ranges are half-open ``(lo, hi]`` with ``None`` for an open end: the ranges of a
track partition the whole key space, so every account, ref and entry falls in exactly one
task whatever the ledger held when the plan was made, and each fingerprint comes from one task.

Tracks of a full run:

- ``accounts``   — balance_mismatch, currency_mismatch, orphan_entry; ranges of account_id
  of ``batch`` accounts each;
- ``duplicates`` — duplicate_posting; ranges of external_ref (when an index leads with it),
  else ``duplicates_by_account`` over the account ranges;
- ``entries``    — clock_skew; ranges of entry_id;
- ``reversals``  — invalid_reversal; ranges of reversed entry id.

An incremental run has ``scope`` tasks (positions in the run's account list, all four
account checks), ``entries`` from the last run's watermark, and one ``reversals_since``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from incidentbook.core.batches import chunks
from incidentbook.core.ledger.checks import (
    Finding,
    account_findings,
    account_ids_findings,
    clock_findings,
    duplicate_account_findings,
    duplicate_ref_findings,
    in_clause,
    range_clause,
    reversal_findings,
)
from incidentbook.core.ledger.contract import Snapshot

FULL_TRACKS = ("accounts", "duplicates", "entries", "reversals")
ENTRIES_PER_ACCOUNT = 10  # entry ids per batch = batch × this (about ten entries per account)
REF_SAMPLES_PER_TASK = 8
MAX_REF_TASKS = 62  # the sample stays one query of at most 496 values (old SQLite: 999)
REF_SAMPLE_WINDOW = 1000


@dataclass(frozen=True)
class Task:
    track: str
    lo: Any = None
    hi: Any = None

    def key(self) -> tuple[str, str | None, str | None]:
        """How the task's checkpoint row names it (``phase``, ``lo``, ``hi`` as text)."""
        return (
            self.track,
            None if self.lo is None else str(self.lo),
            None if self.hi is None else str(self.hi),
        )

    def to_json(self) -> list[Any]:
        return [self.track, self.lo, self.hi]

    @classmethod
    def from_json(cls, data: Sequence[Any]) -> Task:
        return cls(str(data[0]), data[1], data[2])


@dataclass
class TaskResult:
    items: int
    findings: list[Finding]

    def units(self, track: str) -> float:
        """Work done, in accounts, for ``--max-rate``."""
        if track in ("accounts", "scope"):
            return float(self.items)
        if track == "entries":
            return self.items / ENTRIES_PER_ACCOUNT
        return 0.0


@dataclass(frozen=True)
class ScanOptions:
    """What every task of a run needs besides its range (sent to scan workers as JSON)."""

    tolerance_s: float
    entry_rowid: bool = False
    reverses_index: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "tolerance_s": self.tolerance_s,
            "entry_rowid": self.entry_rowid,
            "reverses_index": self.reverses_index,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScanOptions:
        return cls(
            float(data["tolerance_s"]),
            bool(data.get("entry_rowid", False)),
            bool(data.get("reverses_index", False)),
        )


def run_task(
    snap: Snapshot, task: Task, options: ScanOptions, scope: Sequence[str] = ()
) -> TaskResult:
    """Run one task on a snapshot; ``scope`` is the run's account list (incremental runs)."""
    track, lo, hi = task.track, task.lo, task.hi
    if track == "accounts":
        where, params = range_clause(lo, hi)
        items, findings = account_findings(snap, where, params)
        return TaskResult(items, findings)
    if track == "duplicates":
        return TaskResult(*duplicate_ref_findings(snap, lo, hi))
    if track == "duplicates_by_account":
        where, params = range_clause(lo, hi)
        return TaskResult(0, duplicate_account_findings(snap, where, params))
    if track == "entries":
        found = clock_findings(snap, lo, hi, options.tolerance_s, rowid=options.entry_rowid)
        items = int(hi) - int(lo) if lo is not None and hi is not None else 0
        return TaskResult(items, found)
    if track == "reversals":
        where, params = range_clause(lo, hi, "r.reverses_entry_id")
        return TaskResult(*reversal_findings(snap, where, params, indexed=options.reverses_index))
    if track == "scope":
        return TaskResult(*account_ids_findings(snap, list(scope[int(lo) : int(hi)])))
    if track == "reversals_since":
        targets = sorted(
            int(r[0])
            for r in snap.rows(
                "SELECT DISTINCT reverses_entry_id FROM ledger_entries"
                " WHERE entry_id > ? AND reverses_entry_id IS NOT NULL",
                (int(lo),),
            )
        )
        items, findings = 0, []
        for chunk in chunks(targets):
            clause, args = in_clause(chunk, "r.reverses_entry_id")
            count, found = reversal_findings(snap, clause, args, indexed=options.reverses_index)
            items += count
            findings.extend(found)
        findings.sort(key=lambda f: f.fingerprint)
        return TaskResult(items, findings)
    raise ValueError(f"unknown reconcile task {track!r}")


# -- planning ----------------------------------------------------------------------------------


def _walk(snap: Snapshot, first_sql: str, after_sql: str, step: int) -> list[Any]:
    """Boundaries every ``step`` keys along an index, in the database's own order."""
    bounds: list[Any] = []
    offset = max(step - 1, 0)
    row = snap.one(first_sql, (offset,))
    while row is not None and row[0] is not None:
        bounds.append(row[0])
        row = snap.one(after_sql, (row[0], offset))
    return bounds


def entry_id_extreme(snap: Snapshot, extreme: str) -> int:
    """The ledger's MIN or MAX entry_id (0 when it has none)."""
    row = snap.one(f"SELECT {extreme}(entry_id) FROM ledger_entries")
    return int(row[0]) if row and row[0] is not None else 0


def _ranges(track: str, bounds: Sequence[Any], first: Any = None) -> list[Task]:
    edges: list[Any] = [first, *bounds, None]
    # a boundary that is the last key leaves an empty open range; it also catches keys
    # added later (orphans above the last account), so it stays
    return [Task(track, edges[i], edges[i + 1]) for i in range(len(edges) - 1)]


def _entry_bounds(snap: Snapshot, start: int, last: int, size: int) -> list[int]:
    """Entry-id boundaries of about ``size`` ids each, skipping gaps: every range starts at an
    existing entry, so a gap of 10^12 ids costs one range, not 10^11."""
    bounds: list[int] = []
    after = start
    while True:
        following = snap.one(
            "SELECT MIN(entry_id) FROM ledger_entries WHERE entry_id > ?", (after,)
        )
        if following is None or following[0] is None:
            break
        hi = max(after + size, int(following[0]) + size - 1)
        if hi >= last:
            break
        bounds.append(hi)
        after = hi
    return bounds


def ref_bounds(snap: Snapshot, first: int, last: int, tasks: int) -> list[str]:
    """About ``tasks`` ranges of external_ref, cut at quantiles of a sample of refs taken at
    evenly spaced entry ids: a few bounded index reads, not a walk of millions of refs. A
    sample point looks at most ``REF_SAMPLE_WINDOW`` ids ahead (a stretch of legacy rows
    without refs yields no sample there, not a long scan). The database sorts the sample, so
    the cuts follow its collation."""
    if tasks <= 1 or last < first:
        return []
    samples = tasks * REF_SAMPLES_PER_TASK
    refs: set[str] = set()
    for i in range(samples):
        at = first + (last - first) * i // samples
        row = snap.one(
            "SELECT external_ref FROM ledger_entries WHERE entry_id >= ? AND entry_id < ?"
            " AND external_ref IS NOT NULL ORDER BY entry_id LIMIT 1",
            (at, at + REF_SAMPLE_WINDOW),
        )
        if row is not None:
            refs.add(str(row[0]))
    if not refs:
        return []
    clause, args = in_clause(sorted(refs), "external_ref")
    ordered = [
        str(r[0])
        for r in snap.rows(
            f"SELECT DISTINCT external_ref FROM ledger_entries WHERE {clause}"
            " ORDER BY external_ref",
            args,
        )
    ]
    step = len(ordered) / tasks
    cuts = [ordered[min(len(ordered) - 1, math.ceil(step * k))] for k in range(1, tasks)]
    return list(dict.fromkeys(cuts))  # equal cuts would make empty ranges


def plan_full(snap: Snapshot, batch: int, ref_index: bool) -> list[Task]:
    """Every task of a full run, interleaved across tracks (so parallel workers and the
    progress bars move together)."""
    account_bounds = _walk(
        snap,
        "SELECT account_id FROM ledger_accounts ORDER BY account_id LIMIT 1 OFFSET ?",
        "SELECT account_id FROM ledger_accounts WHERE account_id > ?"
        " ORDER BY account_id LIMIT 1 OFFSET ?",
        batch,
    )
    accounts = _ranges("accounts", account_bounds)
    first, last = entry_id_extreme(snap, "MIN"), entry_id_extreme(snap, "MAX")
    size = batch * ENTRIES_PER_ACCOUNT
    entries = _ranges("entries", _entry_bounds(snap, first - 1, last, size))
    if ref_index:
        wanted = min(len(accounts), MAX_REF_TASKS, max(1, math.ceil((last - first + 1) / size)))
        duplicates = _ranges("duplicates", ref_bounds(snap, first, last, wanted))
    else:
        duplicates = _ranges("duplicates_by_account", account_bounds)
    reversals = _ranges(
        "reversals",
        _walk(
            snap,
            "SELECT reverses_entry_id FROM ledger_entries WHERE reverses_entry_id IS NOT NULL"
            " ORDER BY reverses_entry_id LIMIT 1 OFFSET ?",
            "SELECT reverses_entry_id FROM ledger_entries WHERE reverses_entry_id IS NOT NULL"
            " AND reverses_entry_id > ? ORDER BY reverses_entry_id LIMIT 1 OFFSET ?",
            batch,
        ),
    )
    return _interleave([accounts, duplicates, entries, reversals])


def plan_incremental(snap: Snapshot, batch: int, scope_size: int, entries_after: int) -> list[Task]:
    """Scope chunks, the entries since the last run (with its overlap), their reversals."""
    scope = [Task("scope", i, min(i + batch, scope_size)) for i in range(0, scope_size, batch)]
    last = entry_id_extreme(snap, "MAX")
    bounds = _entry_bounds(snap, entries_after, last, batch * ENTRIES_PER_ACCOUNT)
    entries = _ranges("entries", bounds, first=entries_after)
    return _interleave([scope, entries, [Task("reversals_since", entries_after, None)]])


def _interleave(tracks: list[list[Task]]) -> list[Task]:
    out: list[Task] = []
    longest = max((len(t) for t in tracks), default=0)
    for i in range(longest):
        out.extend(t[i] for t in tracks if i < len(t))
    return out
