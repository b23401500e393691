"""A small hand-made ledger for the fix-forward tests, whose correct end state is written down
here by hand (``TRUTH``), and the steps that take it to a fix: reconcile, one incident for the
duplicate and balance groups, a plan."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from incidentbook.core.fixes.service import PlanResult
from incidentbook.core.ledger.contract import open_ledger
from incidentbook.core.ledger.reconcile.model import ReconcileOptions
from incidentbook.services import Services
from incidentbook.testing.synth import LedgerRows, write_ledger


def at(h: int, m: int = 0) -> datetime:
    return datetime(2026, 10, 17, h, m, tzinfo=UTC)


def entry(i: int, account: str, amount: int, ref: str | None, kind: str = "payment",
          currency: str = "EUR", h: int = 1, reverses: int | None = None) -> tuple:  # fmt: skip
    return (i, account, amount, currency, kind, at(h, i % 60), at(h, i % 60), ref,
            f"k-{i}", "system:api", f"{kind} {i}", f"req-{i}", reverses)  # fmt: skip


# account -> (currency, the stored balance the ledger should end with, the entry ids a fix must
# reverse). Worked out by hand from the rows below, not by any code under test.
TRUTH: dict[str, tuple[str, int, set[int]]] = {
    "dup_all": ("EUR", 990, {2}),  # stored took both copies of evt-1: 1000 + 1000 - 10
    "dup_one": ("EUR", 500, {4, 5}),  # three copies of evt-2, stored took one
    "bal_jpy": ("JPY", 500, set()),  # pure mismatch: stored 600, history 500
    "dup_kwd": ("KWD", 1_234, {8}),  # two copies of 1.234 KWD, stored took both
}
UNTOUCHED = {"mixed": 70, "clean": 100}  # a currency mismatch (a human's), a clean account


def fix_ledger() -> LedgerRows:
    r = LedgerRows()
    opened = at(0)
    r.accounts = [
        ("dup_all", "EUR", 1_990, at(2), opened),
        ("dup_one", "EUR", 500, at(2), opened),
        ("bal_jpy", "JPY", 600, at(2), opened),
        ("dup_kwd", "KWD", 2_468, at(2), opened),
        ("mixed", "EUR", 70, at(2), opened),  # 100 EUR - 30 USD: needs a human, stays 70
        ("clean", "EUR", 100, at(2), opened),
    ]
    r.entries = [
        entry(1, "dup_all", 1_000, "evt-1"),
        entry(2, "dup_all", 1_000, "evt-1"),
        entry(3, "dup_one", 500, "evt-2"),
        entry(4, "dup_one", 500, "evt-2"),
        entry(5, "dup_one", 500, "evt-2"),
        entry(6, "dup_all", -10, None, kind="fee"),
        entry(7, "dup_kwd", 1_234, "evt-3", currency="KWD"),
        entry(8, "dup_kwd", 1_234, "evt-3", currency="KWD"),
        entry(9, "bal_jpy", 300, "evt-4", currency="JPY"),
        entry(10, "bal_jpy", 200, "evt-5", currency="JPY"),
        entry(11, "mixed", 100, "evt-6"),
        entry(12, "mixed", -30, "evt-7", currency="USD"),
        entry(13, "clean", 100, "evt-8"),
    ]
    return r


def write_fix_ledger(path: Path) -> str:
    url = f"sqlite:///{path}"
    write_ledger(url, fix_ledger())
    return url


def reconcile(services: Services, url: str) -> None:
    ctx = services.context("test", actor="reconciler")
    services.reconciler.run(ctx, ReconcileOptions(ledger_url=url, mode="full", batch=3))


def incident_with_findings(services: Services, url: str) -> str:
    """Reconcile, then one incident for the duplicate group joined by the balance group (and
    the currency group, so the plan has something to leave to a human)."""
    reconcile(services, url)
    ctx = services.context("test")
    opened = services.alerts.acknowledge_group(ctx, "duplicate_posting")
    incident_id = opened.incident.id
    for key in ("balance_mismatch", "currency_mismatch"):
        services.alerts.acknowledge_group(ctx, key, incident_id=incident_id)
    return incident_id


def make_plan(services: Services, url: str, incident_id: str) -> PlanResult:
    ledger = open_ledger(url)
    try:
        return services.fixes.plan(services.context("test"), incident_id, ledger)
    finally:
        ledger.dispose()


def ledger_rows(path: Path) -> tuple[list[tuple], list[tuple]]:
    """Every row of both tables, ordered: the ledger's whole content."""
    conn = sqlite3.connect(path)
    try:
        accounts = conn.execute("SELECT * FROM ledger_accounts ORDER BY account_id").fetchall()
        entries = conn.execute("SELECT * FROM ledger_entries ORDER BY entry_id").fetchall()
    finally:
        conn.close()
    return accounts, entries
