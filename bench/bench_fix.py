"""Fix forward benchmark (issue 13): plan and apply the correction of 5,000 duplicated
accounts (10,000 reversals) on a large SQLite ledger.

    python -m bench fix [--accounts=1000000] [--duplicates=5000]

The ledger (2 entries per account, plus 5,000 accounts with a payment posted three times and
the stored balance counting every copy) is built once under the temp directory and reused;
each run works on a fresh copy. A full reconcile finds the duplicates, both groups are
acknowledged into one incident, then, timed:

- ``fix plan`` for the incident (the service call the CLI makes; target < 5 s);
- ``fix apply`` with the default batch (500 accounts), against a reference measured in the
  same run on another copy of the same ledger: a bare sqlite3 ``executemany`` of the same
  reversal rows plus the same balance UPDATEs, 500 accounts per transaction (target ≤ 3×).
"""

from __future__ import annotations

import random
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import save_result

BATCH = 500
T0 = datetime(2026, 9, 1, tzinfo=UTC)


def _arg(argv: list[str], name: str, default: str) -> str:
    for arg in argv:
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
    return default


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ensure_ledger(accounts: int, duplicates: int) -> Path:
    """The benchmark ledger, built once: ``accounts`` accounts with two entries each, and
    ``duplicates`` of them with one payment posted three times (stored balance counts all)."""
    from incidentbook.testing.synth import INDEXES, SQLITE_DDL

    path = Path(tempfile.gettempdir()) / f"incidentbook-bench-fix-{accounts}-{duplicates}.sqlite"
    if path.exists():
        return path
    started = time.perf_counter()
    rng = random.Random(13)
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    conn = sqlite3.connect(partial, isolation_level=None)
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN")
    for statement in SQLITE_DDL:
        conn.execute(statement)
    ids = [f"acct_{i:07d}" for i in range(accounts)]
    dup = set(rng.sample(range(accounts), duplicates))
    balance = [0] * accounts
    state = {"id": 0, "t": T0}

    def entries() -> Any:
        for n, account in enumerate(ids):
            for k in range(2):
                amount = rng.randint(100, 90_000) if k == 0 else -rng.randint(10, 300)
                state["id"] += 1
                state["t"] += timedelta(milliseconds=5)
                when = _ts(state["t"])
                balance[n] += amount
                kind = "payment" if k == 0 else "fee"
                yield (state["id"], account, amount, "EUR", kind, when, when,
                       f"evt-{state['id']}", f"idem-{state['id']}", "system:bench",
                       kind, f"req-{state['id']}", None)  # fmt: skip
        for n in sorted(dup):
            amount = rng.randint(100, 90_000)
            for _copy in range(3):
                state["id"] += 1
                state["t"] += timedelta(milliseconds=5)
                when = _ts(state["t"])
                balance[n] += amount
                yield (state["id"], ids[n], amount, "EUR", "payment", when, when,
                       f"dup-{n}", None, "system:bench", "payment", f"req-{state['id']}",
                       None)  # fmt: skip

    conn.executemany("INSERT INTO ledger_entries VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", entries())
    opened = _ts(T0 - timedelta(days=30))
    conn.executemany(
        "INSERT INTO ledger_accounts VALUES (?,?,?,?,?)",
        ((a, "EUR", balance[n], _ts(state["t"]), opened) for n, a in enumerate(ids)),
    )
    for statement in INDEXES:
        conn.execute(statement)
    conn.execute("COMMIT")
    conn.close()
    partial.rename(path)
    print(f"  built {path} in {time.perf_counter() - started:.1f}s")
    return path


def reference_seconds(path: Path, plan: Any, at: datetime) -> float:
    """A bare executemany of the plan's reversal rows plus its balance UPDATEs, 500 accounts
    per transaction: the floor any apply of this plan has to pay."""
    from incidentbook.core.batches import chunks

    conn = sqlite3.connect(path, isolation_level=None)
    stamp = _ts(at)
    started = time.perf_counter()
    (next_id,) = conn.execute("SELECT MAX(entry_id) FROM ledger_entries").fetchone()
    for batch in chunks(plan.accounts, BATCH):
        rows = []
        for a in batch:
            for r in a.reversals:
                next_id += 1
                rows.append((next_id, r.account_id, r.amount_minor, r.currency, r.kind, stamp,
                             stamp, r.external_ref, r.idempotency_key, r.actor, r.reason,
                             r.correlation_id, r.reverses_entry_id))  # fmt: skip
        updates = [
            (a.derived_after_minor, stamp, a.account_id, a.stored_before_minor)
            for a in batch
            if a.balance_change_minor
        ]
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO ledger_entries VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        conn.executemany(
            "UPDATE ledger_accounts SET balance_minor = ?, updated_at = ?"
            " WHERE account_id = ? AND balance_minor = ?",
            updates,
        )
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def main(argv: list[str]) -> None:
    from incidentbook.core.ledger.contract import open_ledger
    from incidentbook.core.ledger.reconcile.model import ReconcileOptions
    from incidentbook.services import make_services
    from incidentbook.settings import load_settings
    from incidentbook.workspace import init_workspace

    accounts = int(_arg(argv, "accounts", "200000"))
    duplicates = int(_arg(argv, "duplicates", str(min(5000, accounts // 10))))
    source = ensure_ledger(accounts, duplicates)
    work = Path(tempfile.mkdtemp(prefix="ib-bench-fix-"))
    try:
        ledger_path, ref_path = work / "ledger.sqlite", work / "reference.sqlite"
        shutil.copyfile(source, ledger_path)
        shutil.copyfile(source, ref_path)
        url = f"sqlite:///{ledger_path}"
        services = make_services(load_settings(init_workspace(work / "ws").workspace))
        started = time.perf_counter()
        services.reconciler.run(
            services.context("bench", actor="reconciler"),
            ReconcileOptions(ledger_url=url, mode="full"),
        )
        reconcile_s = time.perf_counter() - started
        ctx = services.context("bench")
        incident = services.alerts.acknowledge_group(ctx, "duplicate_posting").incident.id

        ledger = open_ledger(url)
        started = time.perf_counter()
        planned = services.fixes.plan(services.context("bench"), incident, ledger)
        plan_s = time.perf_counter() - started
        ledger.dispose()
        plan = planned.plan
        assert len(plan.accounts) == duplicates and plan.reversal_count == 2 * duplicates

        reference = reference_seconds(ref_path, plan, datetime.now(UTC))
        writable = open_ledger(url, writable=True)
        started = time.perf_counter()
        report = services.fixes.apply(services.context("bench"), plan.plan_id, writable)
        apply_s = time.perf_counter() - started
        writable.dispose()
        assert report.totals.corrected == duplicates and report.totals.conflicts == 0
        assert report.totals.entries_written == 2 * duplicates
        # the reference again, on a fresh copy: the better of the two is the floor
        shutil.copyfile(source, ref_path)
        reference = min(reference, reference_seconds(ref_path, plan, datetime.now(UTC)))
        services.db.dispose()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    result = {
        "accounts": accounts,
        "duplicate_accounts": duplicates,
        "reversals": 2 * duplicates,
        "batch": BATCH,
        "reconcile_s": round(reconcile_s, 2),
        "plan_s": round(plan_s, 3),
        "apply_s": round(apply_s, 3),
        "reference_s": round(reference, 3),
        "apply_ratio": round(apply_s / reference, 2),
    }
    print(f"  {accounts:,} accounts, {duplicates:,} duplicated, {2 * duplicates:,} reversals")
    print(f"  full reconcile {reconcile_s:.1f}s; fix plan {plan_s:.2f}s (target < 5 s)")
    print(
        f"  fix apply {apply_s:.2f}s vs bare executemany + UPDATEs {reference:.2f}s:"
        f" {result['apply_ratio']}x (target ≤ 3x)"
    )
    save_result("fix", result)


if __name__ == "__main__":
    main(sys.argv[1:])
