"""Fix forward against the ledger: read what a plan is decided on, and write one batch of a
plan in one ledger transaction (entries and balances together).

The only code of incidentbook that writes to a ledger. A batch locks what it decides on before
it reads it (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: the batch's account rows ``FOR UPDATE``
and the entries table in SHARE ROW EXCLUSIVE mode, so no entry can be posted in between),
checks every account's preconditions (``model.decide_account``) and writes only the accounts
that pass. A dry run reads the same in a read snapshot and writes nothing. New entries take
the ledger's next ids and are stamped with the batch's time, or the newest entry's
``recorded_at`` when the ledger's clock is ahead, so recording order stays time order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from incidentbook.clock import to_iso
from incidentbook.core.batches import chunks, marks
from incidentbook.core.fixes.model import (
    CORRECTED,
    AccountOutcome,
    AccountRows,
    EntryRow,
    LedgerNow,
    PlanAccount,
    decide_account,
)
from incidentbook.core.ledger.contract import (
    ENTRY_COLUMNS,
    Ledger,
    LedgerError,
    Snapshot,
    iso,
)
from incidentbook.core.ledger.contract import moment as to_moment
from incidentbook.digest import canonical_json, sha256_hex

TIME_COLUMNS = ("occurred_at", "recorded_at")


def canonical_entry(row: Sequence[Any]) -> dict[str, Any]:
    """An entry row (``ENTRY_COLUMNS`` order) as plain JSON values, times as UTC text."""
    out = dict(zip(ENTRY_COLUMNS, row, strict=True))
    for column in TIME_COLUMNS:
        out[column] = iso(out[column])
    return out


def entries_sha256(rows: Sequence[Sequence[Any]]) -> str:
    """The hash of an account's entry rows, in entry_id order, every contract column."""
    ordered = sorted(rows, key=lambda r: int(r[0]))
    return sha256_hex(canonical_json([canonical_entry(r) for r in ordered]))


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            return int(str(value))
        except ValueError:
            raise LedgerError(f"ledger value {value!r} of {what} is not an integer") from None
    return value


def account_entries(snap: Snapshot, account_ids: Sequence[str]) -> dict[str, list[tuple[Any, ...]]]:
    """Every entry row of the accounts, all contract columns."""
    out: dict[str, list[tuple[Any, ...]]] = {a: [] for a in account_ids}
    columns = ", ".join(ENTRY_COLUMNS)
    for chunk in chunks(list(account_ids)):
        for row in snap.rows(
            f"SELECT {columns} FROM ledger_entries WHERE account_id IN ({marks(chunk)})"
            " ORDER BY entry_id",
            list(chunk),
        ):
            out.setdefault(str(row[1]), []).append(tuple(row))
    return out


def read_accounts(snap: Snapshot, account_ids: Sequence[str]) -> dict[str, AccountRows]:
    """What the planner decides on for each account, read inside one snapshot in batches."""
    ids = sorted(set(account_ids))
    stored: dict[str, tuple[str, int]] = {}
    for chunk in chunks(ids):
        for account_id, currency, balance in snap.rows(
            "SELECT account_id, currency, balance_minor FROM ledger_accounts"
            f" WHERE account_id IN ({marks(chunk)})",
            list(chunk),
        ):
            stored[str(account_id)] = (
                str(currency),
                _int(balance, f"ledger_accounts.balance_minor of {account_id}"),
            )
    entries = account_entries(snap, ids)
    all_ids = sorted(int(r[0]) for rows in entries.values() for r in rows)
    reversed_ids: set[int] = set()
    for id_chunk in chunks(all_ids):
        reversed_ids.update(
            int(r[0])
            for r in snap.rows(
                "SELECT reverses_entry_id FROM ledger_entries"
                f" WHERE reverses_entry_id IN ({marks(id_chunk)})",
                list(id_chunk),
            )
        )
    out: dict[str, AccountRows] = {}
    for account_id in ids:
        rows = entries.get(account_id, [])
        account = stored.get(account_id)
        out[account_id] = AccountRows(
            account_id=account_id,
            exists=account is not None,
            currency=account[0] if account else None,
            balance_minor=account[1] if account else None,
            entries=tuple(
                EntryRow(
                    entry_id=int(r[0]),
                    account_id=account_id,
                    amount_minor=_int(r[2], f"ledger_entries.amount_minor of entry {r[0]}"),
                    currency=str(r[3]),
                    kind=str(r[4]),
                    external_ref=None if r[7] is None else str(r[7]),
                    reverses_entry_id=None if r[12] is None else int(r[12]),
                )
                for r in rows
            ),
            reversed_ids=frozenset(i for i in (int(r[0]) for r in rows) if i in reversed_ids),
            entries_sha256=entries_sha256(rows),
        )
    return out


def ledger_now(snap: Snapshot, accounts: Sequence[PlanAccount]) -> dict[str, LedgerNow]:
    """The planned accounts as the ledger holds them now (inside the caller's transaction)."""
    ids = [a.account_id for a in accounts]
    balances: dict[str, int] = {}
    sums: dict[str, tuple[int, int]] = {}
    for chunk in chunks(ids):
        params = list(chunk)
        for account_id, balance in snap.rows(
            f"SELECT account_id, balance_minor FROM ledger_accounts WHERE account_id IN"
            f" ({marks(chunk)})",
            params,
        ):
            balances[str(account_id)] = _int(balance, f"balance_minor of {account_id}")
        for account_id, total, count in snap.rows(
            "SELECT account_id, COALESCE(SUM(amount_minor), 0), COUNT(*) FROM ledger_entries"
            f" WHERE account_id IN ({marks(chunk)}) GROUP BY account_id",
            params,
        ):
            sums[str(account_id)] = (_int(total, f"the entries of {account_id}"), int(count))
    keys = [r.idempotency_key for a in accounts for r in a.reversals]
    targets = [r.reverses_entry_id for a in accounts for r in a.reversals]
    present: dict[str, str | None] = {}
    for chunk in chunks(keys):
        for key, correlation in snap.rows(
            "SELECT idempotency_key, correlation_id FROM ledger_entries"
            f" WHERE idempotency_key IN ({marks(chunk)})",
            list(chunk),
        ):
            present[str(key)] = None if correlation is None else str(correlation)
    existing: set[int] = set()
    reversed_by: dict[int, int] = {}
    for target_chunk in chunks(targets):
        existing.update(
            int(r[0])
            for r in snap.rows(
                f"SELECT entry_id FROM ledger_entries WHERE entry_id IN ({marks(target_chunk)})",
                list(target_chunk),
            )
        )
        for target, entry_id in snap.rows(
            "SELECT reverses_entry_id, MIN(entry_id) FROM ledger_entries"
            f" WHERE reverses_entry_id IN ({marks(target_chunk)}) GROUP BY reverses_entry_id",
            list(target_chunk),
        ):
            reversed_by[int(target)] = int(entry_id)
    out: dict[str, LedgerNow] = {}
    for a in accounts:
        mine = {r.idempotency_key for r in a.reversals}
        goals = {r.reverses_entry_id for r in a.reversals}
        total, count = sums.get(a.account_id, (0, 0))
        out[a.account_id] = LedgerNow(
            exists=a.account_id in balances,
            balance_minor=balances.get(a.account_id),
            entries_sum=total,
            entry_count=count,
            keys={k: v for k, v in present.items() if k in mine},
            targets=frozenset(t for t in goals if t in existing),
            reversed_by={t: e for t, e in reversed_by.items() if t in goals},
        )
    return out


def decide_batch(
    snap: Snapshot, accounts: Sequence[PlanAccount], plan_id: str, *, in_doubt: bool = False
) -> list[AccountOutcome]:
    now = ledger_now(snap, accounts)
    return [decide_account(a, now[a.account_id], plan_id, in_doubt=in_doubt) for a in accounts]


def dry_run(ledger: Ledger, accounts: Sequence[PlanAccount], plan_id: str) -> list[AccountOutcome]:
    """What applying these accounts would do now; reads one snapshot, writes nothing."""
    with ledger.snapshot() as snap:
        return decide_batch(snap, accounts, plan_id)


def _entry_id_default(snap: Snapshot) -> bool:
    """PostgreSQL: ``entry_id`` has a default (a sequence or identity) that new ids must come
    from, or the ledger's own writers would collide with ours later."""
    row = snap.one(
        "SELECT column_default IS NOT NULL OR is_identity = 'YES' FROM information_schema.columns"
        " WHERE table_name = 'ledger_entries' AND column_name = 'entry_id'"
        " AND table_schema = ANY (current_schemas(false))"
    )
    return bool(row and row[0])


def write_batch(
    ledger: Ledger,
    accounts: Sequence[PlanAccount],
    plan_id: str,
    at: datetime,
    *,
    in_doubt: bool = False,
) -> list[AccountOutcome]:
    """Apply one batch in one ledger transaction: lock, check each account, write the
    reversals and balances of the accounts that pass, commit. Returns every account's
    outcome (written entry ids filled in). ``in_doubt``: see ``model.decide_account``."""
    from sqlalchemy.exc import DBAPIError  # deferred like contract's: SQLAlchemy is heavy

    try:
        raw = ledger.engine.raw_connection()
    except DBAPIError as exc:
        raise LedgerError(f"cannot open ledger {ledger.display_url}: {exc.orig}") from None
    dbapi = raw.driver_connection
    sqlite = ledger.is_sqlite
    snap = Snapshot(dbapi, sqlite=sqlite)
    try:
        if sqlite:
            dbapi.isolation_level = None
            dbapi.execute("PRAGMA busy_timeout = 30000")
            dbapi.execute("BEGIN IMMEDIATE")
        else:
            dbapi.rollback()
            dbapi.autocommit = False
            with dbapi.cursor() as cursor:
                cursor.execute("LOCK TABLE ledger_entries IN SHARE ROW EXCLUSIVE MODE")
                for chunk in chunks([a.account_id for a in accounts]):
                    cursor.execute(
                        "SELECT account_id FROM ledger_accounts WHERE account_id IN"
                        f" ({', '.join(['%s'] * len(chunk))}) FOR UPDATE",
                        list(chunk),
                    )
        outcomes = decide_batch(snap, accounts, plan_id, in_doubt=in_doubt)
        outcomes = _write(snap, dbapi, accounts, outcomes, at)
        if sqlite:
            dbapi.execute("COMMIT")
        else:
            dbapi.commit()
        return outcomes
    except BaseException as exc:
        try:
            if sqlite:
                if dbapi.in_transaction:
                    dbapi.execute("ROLLBACK")
            else:
                dbapi.rollback()
        except Exception:  # the connection is gone; the database rolls the batch back itself
            pass
        driver = type(exc).__module__.split(".")[0] in ("sqlite3", "psycopg", "sqlalchemy")
        if isinstance(exc, Exception) and driver:
            lines = str(exc).strip().splitlines()
            first = lines[0] if lines else type(exc).__name__
            raise LedgerError(
                f"ledger {ledger.display_url} refused the fix: {first} (nothing written in"
                " this batch)"
            ) from None
        raise
    finally:
        raw.close()


def _write(
    snap: Snapshot,
    dbapi: Any,
    accounts: Sequence[PlanAccount],
    outcomes: Sequence[AccountOutcome],
    at: datetime,
) -> list[AccountOutcome]:
    by_id: Mapping[str, PlanAccount] = {a.account_id: a for a in accounts}
    use_default = not snap.sqlite and _entry_id_default(snap)
    newest = snap.one(
        "SELECT entry_id, recorded_at FROM ledger_entries ORDER BY entry_id DESC LIMIT 1"
    )
    next_id = int(newest[0]) + 1 if newest else 1
    # Entries are recorded in id order: a ledger whose clock runs ahead of ours must not get
    # reversals that look recorded before the entry under them (a clock_skew finding).
    if newest is not None and newest[1] is not None:
        at = max(at, to_moment(newest[1]))
    stamp: Any = to_iso(at) if snap.sqlite else at
    columns = [c for c in ENTRY_COLUMNS if not (use_default and c == "entry_id")]
    insert = snap.sql(
        f"INSERT INTO ledger_entries ({', '.join(columns)}) VALUES ({marks(columns)})"
        + (" RETURNING entry_id" if use_default else "")
    )
    update = snap.sql(
        "UPDATE ledger_accounts SET balance_minor = ?, updated_at = ?"
        " WHERE account_id = ? AND balance_minor = ?"
    )
    cursor = dbapi.cursor()
    try:
        done: list[AccountOutcome] = []
        for outcome in outcomes:
            if not (outcome.write and outcome.status == CORRECTED):
                done.append(outcome)
                continue
            account = by_id[outcome.account_id]
            written: list[int] = []
            for r in account.reversals:
                values: dict[str, Any] = {
                    "entry_id": next_id,
                    "account_id": r.account_id,
                    "amount_minor": r.amount_minor,
                    "currency": r.currency,
                    "kind": r.kind,
                    "occurred_at": stamp,
                    "recorded_at": stamp,
                    "external_ref": r.external_ref,
                    "idempotency_key": r.idempotency_key,
                    "actor": r.actor,
                    "reason": r.reason,
                    "correlation_id": r.correlation_id,
                    "reverses_entry_id": r.reverses_entry_id,
                }
                cursor.execute(insert, [values[c] for c in columns])
                if use_default:
                    written.append(int(cursor.fetchone()[0]))
                else:
                    written.append(next_id)
                    next_id += 1
            if account.balance_change_minor:
                cursor.execute(
                    update,
                    (account.derived_after_minor, stamp, account.account_id,
                     account.stored_before_minor),
                )  # fmt: skip
                if cursor.rowcount != 1:
                    raise LedgerError(
                        f"ledger account {account.account_id} changed under the batch's lock"
                        " (nothing written in this batch)"
                    )
            done.append(replace(outcome, written_entry_ids=tuple(written)))
        return done
    finally:
        cursor.close()
