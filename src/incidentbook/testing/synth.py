"""Write a small ledger, given as rows, to any contract database (SQLite file or PostgreSQL).

Used by the tests (the same ledger on both databases must reconcile and audit identically) and
handy to load a hand-made ledger into PostgreSQL. Times are aware datetimes: ISO-8601 text with
``Z`` on SQLite, ``timestamptz`` on PostgreSQL, as the contract says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from incidentbook.core.ledger.checks import CHECKS
from incidentbook.core.ledger.contract import RECOMMENDED_INDEXES

# (account_id, currency, balance_minor, updated_at, opened_at)
AccountRow = tuple[str, str, int, datetime, datetime]
# (entry_id, account_id, amount_minor, currency, kind, occurred_at, recorded_at, external_ref,
#  idempotency_key, actor, reason, correlation_id, reverses_entry_id)
EntryRow = tuple[
    int, str, Any, str, str, datetime, datetime, str | None, str | None, str, str | None,
    str | None, int | None,
]  # fmt: skip

SQLITE_DDL = [
    "CREATE TABLE ledger_accounts (account_id TEXT PRIMARY KEY, currency TEXT NOT NULL,"
    " balance_minor BIGINT NOT NULL, updated_at TIMESTAMP NOT NULL, opened_at TIMESTAMP NOT NULL)",
    "CREATE TABLE ledger_entries (entry_id INTEGER PRIMARY KEY, account_id TEXT NOT NULL,"
    " amount_minor BIGINT NOT NULL, currency TEXT NOT NULL, kind TEXT NOT NULL,"
    " occurred_at TIMESTAMP NOT NULL, recorded_at TIMESTAMP NOT NULL, external_ref TEXT,"
    " idempotency_key TEXT UNIQUE, actor TEXT NOT NULL, reason TEXT, correlation_id TEXT,"
    " reverses_entry_id BIGINT)",
]
POSTGRES_DDL = [
    "CREATE TABLE ledger_accounts (account_id TEXT PRIMARY KEY, currency TEXT NOT NULL,"
    " balance_minor BIGINT NOT NULL, updated_at TIMESTAMPTZ NOT NULL,"
    " opened_at TIMESTAMPTZ NOT NULL)",
    "CREATE TABLE ledger_entries (entry_id BIGINT PRIMARY KEY, account_id TEXT NOT NULL,"
    " amount_minor BIGINT NOT NULL, currency TEXT NOT NULL, kind TEXT NOT NULL,"
    " occurred_at TIMESTAMPTZ NOT NULL, recorded_at TIMESTAMPTZ NOT NULL, external_ref TEXT,"
    " idempotency_key TEXT UNIQUE, actor TEXT NOT NULL, reason TEXT, correlation_id TEXT,"
    " reverses_entry_id BIGINT)",
]
# the recommended indexes, less the unique one the DDL above already declares
INDEXES = [s for s in RECOMMENDED_INDEXES if "idempotency" not in s]


@dataclass
class LedgerRows:
    accounts: list[AccountRow] = field(default_factory=list)
    entries: list[EntryRow] = field(default_factory=list)


def _text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def write_ledger(
    url: str,
    rows: LedgerRows,
    *,
    indexes: bool = True,
    replace: bool = True,
    tables: bool = True,
) -> None:
    """Create the contract tables at ``url`` (dropping old ones if ``replace``; none at all
    without ``tables``: they exist, made by the caller) and fill them."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    parsed = make_url(url)
    sqlite = parsed.get_backend_name() == "sqlite"
    engine = create_engine(url, poolclass=NullPool)
    try:
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            if replace:
                for table in ("ledger_entries", "ledger_accounts"):
                    cursor.execute(f"DROP TABLE IF EXISTS {table}")
            ddl = (SQLITE_DDL if sqlite else POSTGRES_DDL) if tables else []
            for statement in ddl + (INDEXES if indexes else []):
                cursor.execute(statement)
            mark = "?" if sqlite else "%s"

            def ts(moment: datetime) -> Any:
                return _text(moment) if sqlite else moment

            cursor.executemany(
                f"INSERT INTO ledger_accounts VALUES ({', '.join([mark] * 5)})",
                [(a, c, b, ts(u), ts(o)) for a, c, b, u, o in rows.accounts],
            )
            cursor.executemany(
                f"INSERT INTO ledger_entries VALUES ({', '.join([mark] * 13)})",
                [(*e[:5], ts(e[5]), ts(e[6]), *e[7:]) for e in rows.entries],
            )
            raw.commit()
        finally:
            raw.close()
    finally:
        engine.dispose()


FAULT_KINDS = CHECKS  # a fault of every check the reconciler runs
T0 = datetime(2026, 10, 1, 0, 0, tzinfo=UTC)


def faulted_ledger(
    seed: int, accounts: int, faults: dict[str, int], *, decoys: int = 2
) -> tuple[LedgerRows, set[str]]:
    """A clean random ledger plus injected faults; returns (rows, expected fingerprints).

    The expected set is known by construction, not by running any check. ``decoys`` adds
    look-alikes that must NOT be findings: duplicates cancelled by a reversal, valid
    reversals, backwards clock steps within the tolerance (30 s; the default is 300 s), ids
    with gaps.
    """
    import random
    from datetime import timedelta

    rng = random.Random(seed)
    currencies = ["EUR", "USD", "JPY"]
    # mixed case ids: byte order and a linguistic collation disagree on them
    ids = [(f"Acc_{i:03d}" if i % 3 == 0 else f"acc_{i:03d}") for i in range(accounts)]
    cur = {a: rng.choice(currencies) for a in ids}
    opened = {a: T0 - timedelta(days=rng.randint(1, 90)) for a in ids}
    bal = dict.fromkeys(ids, 0)
    last = dict(opened)
    entries: list[EntryRow] = []
    expected: set[str] = set()
    state: dict[str, Any] = {"id": 1, "t": T0}

    def add(
        account: str,
        amount: int,
        kind: str,
        *,
        currency: str | None = None,
        ref: str | None = None,
        reverses: int | None = None,
        back: float = 0.0,
        corr: str | None = None,
    ) -> int:
        entry_id = int(state["id"])
        state["id"] = entry_id + rng.choice([1, 1, 1, 2, 7])
        state["t"] = state["t"] + timedelta(seconds=rng.randint(1, 90))
        recorded: datetime = (
            entries[-1][6] - timedelta(seconds=back) if back and entries else state["t"]
        )
        entries.append(
            (entry_id, account, amount, currency or cur.get(account, "EUR"), kind,
             recorded - timedelta(seconds=1), recorded, ref,
             None if ref is None else f"idem-{entry_id}", "system:test", f"{kind} test",
             corr or f"req-{entry_id}", reverses)
        )  # fmt: skip
        if account in bal:
            bal[account] += amount
            last[account] = max(last[account], recorded)
        return entry_id

    actions: list[tuple[str, str]] = []
    for account in ids:
        actions.extend(("base", account) for _ in range(rng.randint(0, 5)))
    rng.shuffle(actions)
    payments: list[tuple[int, str, int]] = []
    for _, account in actions:
        roll = rng.random()
        if roll < 0.5:
            amount = rng.randint(100, 90_000)
            entry_id = add(account, amount, "payment", ref=f"evt-{state['id']}")
            payments.append((entry_id, account, amount))
        elif roll < 0.8:
            add(account, -rng.randint(10, 300), "fee")
        else:
            other = rng.choice(ids)
            if cur[other] == cur[account] and other != account:
                corr = f"trf-{state['id']}"
                amount = rng.randint(100, 5000)
                add(account, -amount, "transfer", corr=corr)
                add(other, amount, "transfer", corr=corr)
    plan: list[str] = []
    for kind, count in faults.items():
        plan.extend([kind] * count)
    plan.extend(["decoy"] * decoys)
    rng.shuffle(plan)
    mismatched: set[str] = set()
    stored_delta: dict[str, int] = {}
    for n, kind in enumerate(plan):
        account = rng.choice(ids)
        amount = rng.randint(100, 50_000)
        if kind == "balance_mismatch":
            free = [a for a in ids if a not in mismatched]
            if not free:
                continue
            account = rng.choice(free)
            mismatched.add(account)
            stored_delta[account] = rng.choice([-1, 1]) * rng.randint(1, 10_000)
            expected.add(f"balance_mismatch/{account}")
        elif kind == "duplicate_posting":
            ref = f"dup-{n}"
            for _ in range(rng.choice([2, 2, 3])):
                add(account, amount, "payment", ref=None)
                entries[-1] = (*entries[-1][:7], ref, None, *entries[-1][9:])
            expected.add(f"duplicate_posting/{account}/{ref}")
        elif kind == "currency_mismatch":
            other = next(c for c in currencies if c != cur[account])
            entry_id = add(account, -amount, "refund", currency=other)
            expected.add(f"currency_mismatch/{account}/{entry_id}")
        elif kind == "orphan_entry":
            entry_id = add(f"ghost_{n}", amount, "payment", currency="EUR")
            expected.add(f"orphan_entry/{entry_id}")
        elif kind == "invalid_reversal":
            mode = rng.randrange(3)
            if mode == 0:
                entry_id = add(account, -amount, "reversal", reverses=10**12 + n)
            elif mode == 1:
                target = add(account, amount, "payment", ref=f"q-{n}")
                entry_id = add(account, -amount + 7, "reversal", reverses=target)
            else:
                target = add(account, amount, "payment", ref=f"q-{n}")
                add(account, -amount, "reversal", reverses=target)
                entry_id = add(account, -amount, "reversal", reverses=target)
            expected.add(f"invalid_reversal/{entry_id}")
        elif kind == "clock_skew":
            if not entries:
                add(account, -10, "fee")
            entry_id = add(account, -rng.randint(10, 300), "fee", back=7200)
            expected.add(f"clock_skew/{entry_id}")
        else:  # decoys: nothing here may be found
            decoy = rng.randrange(3)
            if decoy == 0:
                ref = f"cdup-{n}"
                add(account, amount, "payment")
                entries[-1] = (*entries[-1][:7], ref, None, *entries[-1][9:])
                copy = add(account, amount, "payment")
                entries[-1] = (*entries[-1][:7], ref, None, *entries[-1][9:])
                add(account, -amount, "reversal", reverses=copy)
            elif decoy == 1 and payments:
                target, owner, paid = payments.pop(rng.randrange(len(payments)))
                add(owner, -paid, "reversal", reverses=target)
            else:
                add(account, -rng.randint(10, 300), "fee", back=30)
    rows = LedgerRows()
    for account in ids:
        stored = bal[account] + stored_delta.get(account, 0)
        rows.accounts.append((account, cur[account], stored, last[account], opened[account]))
    rows.entries = entries
    return rows, expected
