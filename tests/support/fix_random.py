"""Fix-forward test helpers for generated ledgers (``tests/support/fixes`` has the hand-made
one): ``fix_ledger`` (a random ledger with duplicates and balance mismatches whose true
balances the generator knows, plus unrelated faults of the other checks), a fresh workspace's
services, reconcile-and-acknowledge, and exact dumps of a
ledger's rows to compare before and after."""

from __future__ import annotations

import hashlib
import random
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from incidentbook.core.ledger.reconcile.model import ReconcileOptions
from incidentbook.core.ledger.reconcile.runs import findings
from incidentbook.services import Services, make_services
from incidentbook.settings import load_settings
from incidentbook.testing.clocks import FakeClock
from incidentbook.testing.synth import LedgerRows, faulted_ledger
from incidentbook.workspace import init_workspace

OTHER_CHECKS = ("currency_mismatch", "orphan_entry", "invalid_reversal", "clock_skew")
FIXABLE_CHECKS = ("duplicate_posting", "balance_mismatch")


@dataclass
class FixLedger:
    """A generated ledger and what the generator knows about it: ``truth`` the true balance
    of every account it made wrong (sum of its entries without the extra copies),
    ``fixable`` the duplicate/balance fingerprints it injected, ``others`` the other checks'."""

    rows: LedgerRows
    truth: dict[str, int] = field(default_factory=dict)
    fixable: set[str] = field(default_factory=set)
    others: set[str] = field(default_factory=set)
    extra_copies: int = 0


def fix_ledger(
    seed: int,
    accounts: int,
    *,
    dup_all: int,
    dup_one: int,
    mismatch: int,
    others: dict[str, int] | None = None,
    decoys: int = 2,
) -> FixLedger:
    """``faulted_ledger`` with only the other checks' faults, then on accounts those faults do
    not touch (so nothing needs a human): ``dup_all`` accounts with a payment posted 2–3 times
    and the stored balance counting every copy (a duplicate finding only), ``dup_one`` the same
    with the stored balance counting one copy (duplicate and balance findings), ``mismatch``
    accounts whose stored balance is simply off. Appended entries keep ids and times rising."""
    rng = random.Random(seed * 7919 + 1)
    rows, expected = faulted_ledger(seed, accounts, others or {}, decoys=decoys)
    by_id = {e[0]: e for e in rows.entries}
    tainted: set[str] = set()
    for fp in expected:
        check, *rest = fp.split("/")
        if check == "currency_mismatch":
            tainted.add(rest[0])
        elif check == "invalid_reversal":
            tainted.add(by_id[int(rest[0])][1])
    # an account with two reversals of one entry anywhere is a human's job too
    for e in rows.entries:
        if e[12] is not None and e[12] in by_id:
            tainted.add(e[1])
    balances = {a[0]: a[2] for a in rows.accounts}
    currency = {a[0]: a[1] for a in rows.accounts}
    free = [a for a in sorted(balances) if a not in tainted]
    rng.shuffle(free)
    wanted = dup_all + dup_one + mismatch
    chosen = free[:wanted]
    out = FixLedger(rows=rows, others=set(expected))
    next_id = max((e[0] for e in rows.entries), default=0) + 1
    moment: datetime = max((e[6] for e in rows.entries), default=datetime(2026, 10, 1))
    stored = dict(balances)
    for n, account in enumerate(chosen):
        truth = balances[account]
        if n < dup_all + dup_one:
            refs = rng.choice([1, 1, 2])
            for r in range(refs):
                amount = rng.randint(100, 50_000)
                ref = f"fxdup-{n}-{r}"
                copies = rng.choice([2, 3])
                for _ in range(copies):
                    moment += timedelta(seconds=rng.randint(1, 90))
                    rows.entries.append(
                        (
                            next_id,
                            account,
                            amount,
                            currency[account],
                            "payment",
                            moment - timedelta(seconds=1),
                            moment,
                            ref,
                            None,
                            "system:test",
                            "payment test",
                            f"req-{next_id}",
                            None,
                        )
                    )
                    next_id += rng.choice([1, 1, 3])
                truth += amount
                out.extra_copies += copies - 1
                stored[account] += amount * (copies if n < dup_all else 1)
                out.fixable.add(f"duplicate_posting/{account}/{ref}")
            if n >= dup_all:
                out.fixable.add(f"balance_mismatch/{account}")
        else:
            stored[account] += rng.choice([-1, 1]) * rng.randint(1, 10_000)
            out.fixable.add(f"balance_mismatch/{account}")
        out.truth[account] = truth
    rows.accounts = [(a, c, stored[a], u, o) for a, c, _b, u, o in rows.accounts]
    return out


def fresh_services(root: Path, clock: FakeClock | None = None) -> Services:
    """Services over a new workspace under ``root`` with a deterministic clock."""
    ws = init_workspace(root).workspace
    return make_services(load_settings(ws, actor="user:test", clock=clock or FakeClock()))


def reconcile(services: Services, url: str) -> dict[str, dict[str, Any]]:
    """One full reconcile run; its findings by fingerprint (every field)."""
    ctx = services.context("fix test", actor="reconciler")
    summary = services.reconciler.run(ctx, ReconcileOptions(ledger_url=url, mode="full", jobs=1))
    return {f.fingerprint: f.to_dict() for f in findings(services.db, summary.run_id)}


def ack_fixable(services: Services) -> str:
    """Acknowledge the duplicate_posting and balance_mismatch groups into one incident."""
    ctx = services.context("fix it")
    keys = {g.key for g in services.alerts.groups()}
    incident: str | None = None
    for key in FIXABLE_CHECKS:
        if key in keys:
            outcome = services.alerts.acknowledge_group(ctx, key, incident_id=incident)
            incident = outcome.incident.id
    assert incident is not None, keys
    return incident


# -- exact views of a ledger ------------------------------------------------------------------

ACCOUNT_SQL = "SELECT * FROM ledger_accounts ORDER BY account_id"
ENTRY_SQL = "SELECT * FROM ledger_entries ORDER BY entry_id"


def _rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            return [tuple(r) for r in conn.execute(sql)]
        finally:
            conn.close()
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        return [tuple(r) for r in conn.execute(sql)]


def dump(url: str) -> list[str]:
    """Every row of both tables, ordered, as ``repr`` lines: equal dumps are equal ledgers."""
    return [f"A {r!r}" for r in _rows(url, ACCOUNT_SQL)] + [
        f"E {r!r}" for r in _rows(url, ENTRY_SQL)
    ]


def dump_sha256(url: str) -> str:
    return hashlib.sha256("\n".join(dump(url)).encode()).hexdigest()


def entry_hashes(url: str) -> dict[int, str]:
    """entry_id → sha256 of the whole row, for every entry."""
    return {int(r[0]): hashlib.sha256(repr(r).encode()).hexdigest() for r in _rows(url, ENTRY_SQL)}


BALANCE_SQL = "SELECT account_id, balance_minor FROM ledger_accounts"
HISTORY_SQL = (
    "SELECT a.account_id, COALESCE(SUM(e.amount_minor), 0) FROM ledger_accounts a"
    " LEFT JOIN ledger_entries e ON e.account_id = a.account_id GROUP BY a.account_id"
)


def balances(url: str) -> dict[str, int]:
    return {str(r[0]): int(r[1]) for r in _rows(url, BALANCE_SQL)}


def histories(url: str) -> dict[str, int]:
    """Every account's derived balance: the sum of its entries (0 without any)."""
    return {str(r[0]): int(r[1]) for r in _rows(url, HISTORY_SQL)}


def reversals(url: str) -> list[tuple[Any, ...]]:
    """The fix's reversals without ids and times: (account, amount, currency, kind, key,
    actor, correlation, reverses)."""
    return sorted(
        _rows(
            url,
            "SELECT account_id, amount_minor, currency, kind, idempotency_key, actor,"
            " correlation_id, reverses_entry_id FROM ledger_entries"
            " WHERE idempotency_key LIKE 'incidentbook-fix:%'",
        )
    )


def plan_by_cli(cli: Any, url: str) -> tuple[str, str]:
    """Through the real CLI: reconcile ``url``, ack the two fixable groups into one incident,
    plan its fix; returns (incident id, plan id)."""
    assert cli("reconcile", "--ledger", url).exit_code == 1  # findings
    incident = str(cli.json("alerts", "ack-group", "duplicate_posting")["incident"]["id"])
    cli.json("alerts", "ack-group", "balance_mismatch", "--incident", incident)
    plan = cli.json("fix", "plan", incident, "--ledger", url)
    return incident, str(plan["plan_id"])


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
