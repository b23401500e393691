"""Evidence truth built by the test from the ledger rows it wrote: each account's canonical JSON
and SHA-256, the set hash, the stored balances per currency; reading the state database's
evidence tables raw, and editing them past their append-only triggers."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from incidentbook.testing.synth import LedgerRows

# the contract's columns (DESIGN §4), written out here on purpose
ACCOUNT_KEYS = ("account_id", "currency", "balance_minor", "updated_at", "opened_at")
ENTRY_KEYS = ("entry_id", "account_id", "amount_minor", "currency", "kind", "occurred_at",
              "recorded_at", "external_ref", "idempotency_key", "actor", "reason",
              "correlation_id", "reverses_entry_id")  # fmt: skip


def _ts(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


def expected_body(rows: LedgerRows, account: str) -> bytes:
    found = [a for a in rows.accounts if a[0] == account]
    record = dict(zip(ACCOUNT_KEYS, map(_ts, found[0]), strict=True)) if found else None
    entries = sorted((e for e in rows.entries if e[1] == account), key=lambda e: e[0])
    body = {
        "account_id": account,
        "account": record,
        "entries": [dict(zip(ENTRY_KEYS, map(_ts, e), strict=True)) for e in entries],
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def expected_sha(rows: LedgerRows, account: str) -> str:
    return hashlib.sha256(expected_body(rows, account)).hexdigest()


def expected_set(rows: LedgerRows, accounts: Iterable[str]) -> str:
    pairs = sorted([a, expected_sha(rows, a)] for a in accounts)
    data = json.dumps(pairs, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(data).hexdigest()


def stored_by_currency(rows: LedgerRows, accounts: Iterable[str]) -> dict[str, int]:
    wanted = set(accounts)
    totals: dict[str, int] = defaultdict(int)
    for account, currency, balance, _u, _o in rows.accounts:
        if account in wanted:
            totals[currency] += balance
    return dict(totals)


def evidence_rows(db_path: Path, incident_id: str) -> dict[str, tuple[str, str]]:
    """account → (sha256, body) as stored."""
    conn = sqlite3.connect(db_path)
    try:
        return {
            str(a): (str(h), str(b))
            for a, h, b in conn.execute(
                "SELECT account_id, sha256, body FROM evidence_accounts WHERE incident_id = ?",
                (incident_id,),
            )
        }
    finally:
        conn.close()


def evidence_sets(db_path: Path, incident_id: str) -> list[tuple[int, int, str]]:
    """(number, accounts, sha256) of the incident's sets, oldest first."""
    conn = sqlite3.connect(db_path)
    try:
        return [
            (int(n), int(a), str(h))
            for n, a, h in conn.execute(
                "SELECT number, accounts, sha256 FROM evidence_sets WHERE incident_id = ?"
                " ORDER BY number",
                (incident_id,),
            )
        ]
    finally:
        conn.close()


def edit_past_triggers(db_path: Path, table: str, sql: str, params: tuple[Any, ...]) -> None:
    """Run an UPDATE on an append-only table with its UPDATE trigger dropped and re-added."""
    conn = sqlite3.connect(db_path)
    try:
        name = f"{table}_no_update"
        (ddl,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (name,)).fetchone()
        conn.execute(f"DROP TRIGGER {name}")
        conn.execute(sql, params)
        conn.execute(ddl)
        conn.commit()
    finally:
        conn.close()
