"""The six reconciler checks of DESIGN §4, as queries over one ledger snapshot.

Each function returns the findings of one batch, sorted by fingerprint. Fingerprints are the
contract's, exactly. The heavy lifting (sums, grouping) happens in the database over index
scans; Python sees one row per account and the (rare) suspicious rows only.

Definitions this module settles where the contract leaves room:

- ``balance_mismatch``: stored ``balance_minor`` minus the sum of all the account's entries
  (any currency); an account without entries has a derived balance of 0. delta = stored − derived.
- ``duplicate_posting``: entries of one account with the same non-NULL ``external_ref``, kind
  and amount; an entry that some entry reverses (``reverses_entry_id``) is cancelled. Two or more
  uncancelled copies are a finding; delta = (copies − 1) × amount, the money posted too often.
  Entries of accounts that do not exist are ``orphan_entry`` findings only.
- ``currency_mismatch``: one finding per entry whose currency differs from its account's;
  delta = the entry's amount, in the entry's currency.
- ``orphan_entry``: one finding per entry whose account does not exist; delta = its amount.
- ``invalid_reversal``: a reversal whose target is missing, whose amount is not the exact
  negation of the target's, or that reverses an entry an earlier reversal (lower entry_id)
  already reversed; delta = reversal amount + target amount (the reversal's amount if missing).
- ``clock_skew``: ``recorded_at`` earlier than the previous entry's (by entry_id, across the
  whole ledger) by more than the tolerance (seconds, at least 1); delta 0.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from incidentbook.core.ledger.contract import LedgerError, Snapshot, iso, moment

CHECKS = (
    "balance_mismatch",
    "duplicate_posting",
    "currency_mismatch",
    "orphan_entry",
    "invalid_reversal",
    "clock_skew",
)
ACCOUNT_CHECKS = ("balance_mismatch", "duplicate_posting", "currency_mismatch", "orphan_entry")
SEVERITY = {
    "balance_mismatch": "critical",
    "duplicate_posting": "critical",
    "currency_mismatch": "error",
    "orphan_entry": "error",
    "invalid_reversal": "error",
    "clock_skew": "warning",
}
IN_CHUNK = 500


@dataclass(frozen=True)
class Finding:
    check: str
    fingerprint: str
    account_id: str
    currency: str
    entry_id: int | None = None
    delta_minor: int = 0
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "fingerprint": self.fingerprint,
            "account_id": self.account_id,
            "currency": self.currency,
            "entry_id": self.entry_id,
            "delta_minor": self.delta_minor,
            "details": self.details,
        }


def _int(value: Any, what: str) -> int:
    if type(value) is int:
        return value
    raise LedgerError(f"{what} is not an integer: {value!r}")


def _sum_sql(snap: Snapshot) -> str:
    return "SUM(amount_minor)" if snap.sqlite else "CAST(SUM(amount_minor) AS BIGINT)"


def _range(lo: str | None, hi: str | None, column: str = "account_id") -> tuple[str, list[Any]]:
    parts, params = [], []
    if lo is not None:
        parts.append(f"{column} > ?")
        params.append(lo)
    if hi is not None:
        parts.append(f"{column} <= ?")
        params.append(hi)
    return (" AND ".join(parts) or "1 = 1"), params


def _in(ids: Sequence[Any], column: str = "account_id") -> tuple[str, list[Any]]:
    return f"{column} IN ({', '.join('?' for _ in ids)})", list(ids)


def _bad_amount(snap: Snapshot, account_id: str) -> LedgerError:
    if snap.sqlite:
        row = snap.one(
            "SELECT entry_id, amount_minor FROM ledger_entries WHERE account_id = ?"
            " AND typeof(amount_minor) <> 'integer' LIMIT 1",
            (account_id,),
        )
        if row is not None:
            return LedgerError(
                f"ledger_entries.amount_minor is not an integer in entry {row[0]}: {row[1]!r}"
            )
    return LedgerError(f"ledger_entries.amount_minor is not an integer for account {account_id}")


def account_findings(snap: Snapshot, where: str, params: list[Any]) -> tuple[int, list[Finding]]:
    """balance_mismatch, duplicate_posting, currency_mismatch, orphan_entry for the accounts
    (and entries) matching ``where`` on ``account_id``. Returns (accounts seen, findings)."""
    accounts: dict[str, tuple[str, int]] = {}
    for account_id, currency, balance in snap.rows(
        f"SELECT account_id, currency, balance_minor FROM ledger_accounts WHERE {where}", params
    ):
        if type(balance) is not int:
            raise LedgerError(
                f"ledger_accounts.balance_minor is not an integer for account {account_id}: "
                f"{balance!r}"
            )
        accounts[account_id] = (currency, balance)
    findings: list[Finding] = []
    seen: set[str] = set()
    suspicious_currency: list[str] = []
    repeated_refs: list[str] = []
    orphans: list[str] = []
    # One index scan: sums, currencies, and whether any external_ref repeats (the only
    # accounts that can hold a duplicate posting; they get a second, targeted query).
    for account_id, total, low, high, repeats in snap.rows(
        f"SELECT account_id, {_sum_sql(snap)}, MIN(currency), MAX(currency),"
        " COUNT(external_ref) - COUNT(DISTINCT external_ref)"
        f" FROM ledger_entries WHERE {where} GROUP BY account_id",
        params,
    ):
        known = accounts.get(account_id)
        if known is None:
            orphans.append(account_id)
            continue
        if type(total) is not int:
            raise _bad_amount(snap, account_id)
        seen.add(account_id)
        currency, stored = known
        if stored != total:
            findings.append(_balance(account_id, currency, stored, total))
        if low != currency or high != currency:
            suspicious_currency.append(account_id)
        if repeats:
            repeated_refs.append(account_id)
    for account_id, (currency, stored) in accounts.items():
        if account_id not in seen and stored != 0:
            findings.append(_balance(account_id, currency, stored, 0))
    for account_id in suspicious_currency:
        currency = accounts[account_id][0]
        for entry_id, entry_currency, amount in snap.rows(
            "SELECT entry_id, currency, amount_minor FROM ledger_entries"
            " WHERE account_id = ? AND currency <> ?",
            (account_id, currency),
        ):
            findings.append(
                Finding(
                    "currency_mismatch",
                    f"currency_mismatch/{account_id}/{entry_id}",
                    account_id,
                    entry_currency,
                    entry_id,
                    amount,
                    {"account_currency": currency, "entry_currency": entry_currency,
                     "amount_minor": amount},
                )
            )  # fmt: skip
    for account_id in orphans:
        for entry_id, entry_currency, amount in snap.rows(
            "SELECT entry_id, currency, amount_minor FROM ledger_entries WHERE account_id = ?",
            (account_id,),
        ):
            findings.append(
                Finding(
                    "orphan_entry",
                    f"orphan_entry/{entry_id}",
                    account_id,
                    entry_currency,
                    entry_id,
                    _int(amount, f"ledger_entries.amount_minor of entry {entry_id}"),
                    {"amount_minor": amount},
                )
            )
    for start in range(0, len(repeated_refs), IN_CHUNK):
        clause, args = _in(repeated_refs[start : start + IN_CHUNK])
        findings.extend(_duplicates(snap, clause, args, accounts))
    findings.sort(key=lambda f: f.fingerprint)
    return len(accounts), findings


def _balance(account_id: str, currency: str, stored: int, derived: int) -> Finding:
    return Finding(
        "balance_mismatch",
        f"balance_mismatch/{account_id}",
        account_id,
        currency,
        None,
        stored - derived,
        {"stored_minor": stored, "derived_minor": derived},
    )


def _duplicates(
    snap: Snapshot, where: str, params: list[Any], accounts: dict[str, tuple[str, int]]
) -> list[Finding]:
    ids_sql = "group_concat(entry_id)" if snap.sqlite else "string_agg(CAST(entry_id AS TEXT), ',')"
    groups = [
        (account_id, ref, kind, amount, sorted(int(i) for i in str(ids).split(",")))
        for account_id, ref, kind, amount, ids in snap.rows(
            f"SELECT account_id, external_ref, kind, amount_minor, {ids_sql} FROM ledger_entries"
            f" WHERE external_ref IS NOT NULL AND {where}"
            " GROUP BY account_id, external_ref, kind, amount_minor HAVING COUNT(*) >= 2",
            params,
        )
        if account_id in accounts
    ]
    # one lookup for every candidate entry of the batch: which of them some entry reverses
    candidates = sorted({i for group in groups for i in group[4]})
    reversed_ids: set[int] = set()
    for start in range(0, len(candidates), IN_CHUNK):
        clause, args = _in(candidates[start : start + IN_CHUNK], "reverses_entry_id")
        reversed_ids.update(
            int(r[0])
            for r in snap.rows(f"SELECT reverses_entry_id FROM ledger_entries WHERE {clause}", args)
        )
    findings: list[Finding] = []
    for account_id, ref, kind, amount, ids in groups:
        live = [i for i in ids if i not in reversed_ids]
        if len(live) < 2:
            continue
        amount = _int(amount, f"ledger_entries.amount_minor of entry {ids[0]}")
        findings.append(
            Finding(
                "duplicate_posting",
                f"duplicate_posting/{account_id}/{ref}",
                account_id,
                accounts[account_id][0],
                live[1],
                (len(live) - 1) * amount,
                {"external_ref": ref, "kind": kind, "amount_minor": amount, "copies": len(live),
                 "entry_ids": live},
            )
        )  # fmt: skip
    # Two groups of one account and ref (different kind or amount) share a fingerprint: merge.
    merged: dict[str, Finding] = {}
    for finding in findings:
        other = merged.get(finding.fingerprint)
        if other is None:
            merged[finding.fingerprint] = finding
        else:
            ids = sorted([*other.details["entry_ids"], *finding.details["entry_ids"]])
            merged[finding.fingerprint] = Finding(
                other.check, other.fingerprint, other.account_id, other.currency, other.entry_id,
                other.delta_minor + finding.delta_minor,
                {**other.details, "entry_ids": ids, "copies": other.details["copies"]
                 + finding.details["copies"]},
            )  # fmt: skip
    return list(merged.values())


def account_ids_findings(snap: Snapshot, ids: Sequence[str]) -> tuple[int, list[Finding]]:
    """The account checks for an explicit list of account ids (incremental runs)."""
    seen = 0
    findings: list[Finding] = []
    for start in range(0, len(ids), IN_CHUNK):
        clause, args = _in(ids[start : start + IN_CHUNK])
        count, found = account_findings(snap, clause, args)
        seen += count
        findings.extend(found)
    findings.sort(key=lambda f: f.fingerprint)
    return seen, findings


def clock_findings(
    snap: Snapshot, lo: int | None, hi: int | None, tolerance_s: float
) -> list[Finding]:
    """clock_skew for entries with ``lo < entry_id <= hi``, each compared with its predecessor
    (which may lie at or before ``lo``). A string comparison of the ISO text (or timestamptz)
    selects the candidates; the tolerance (at least 1 s) is then checked exactly."""
    parts, params = [], []
    if lo is not None:
        prev = snap.one("SELECT MAX(entry_id) FROM ledger_entries WHERE entry_id <= ?", (lo,))
        parts.append("entry_id >= ?")
        params.append(prev[0] if prev and prev[0] is not None else lo)
    if hi is not None:
        parts.append("entry_id <= ?")
        params.append(hi)
    where = " AND ".join(parts) or "1 = 1"
    candidates: list[tuple[Any, ...]] = []
    if snap.sqlite:
        # SQLite's window functions are slow over millions of rows; a streamed scan of the
        # (entry_id, recorded_at) covering index is not.
        prev_id: Any = None
        prev_at: Any = None
        cursor = snap.dbapi.cursor()
        try:
            cursor.arraysize = 10_000
            cursor.execute(
                f"SELECT entry_id, recorded_at FROM ledger_entries WHERE {where} ORDER BY entry_id",
                params,
            )
            # compare whole chunks in C (map/operator.lt); walk a chunk only if it steps back
            while chunk := cursor.fetchmany():
                recorded = [r[1] for r in chunk]
                if prev_at is not None and recorded[0] < prev_at:
                    candidates.append((chunk[0][0], recorded[0], prev_id, prev_at))
                if any(map(operator.lt, recorded[1:], recorded)):
                    for i in range(1, len(chunk)):
                        if recorded[i] < recorded[i - 1]:
                            candidates.append((chunk[i][0], recorded[i], chunk[i - 1][0],
                                               recorded[i - 1]))  # fmt: skip
                prev_id, prev_at = chunk[-1]
        finally:
            cursor.close()
    else:
        candidates = snap.all(
            "SELECT entry_id, recorded_at, prev_id, prev_at FROM ("
            " SELECT entry_id, recorded_at,"
            " LAG(entry_id) OVER (ORDER BY entry_id) AS prev_id,"
            " LAG(recorded_at) OVER (ORDER BY entry_id) AS prev_at"
            f" FROM ledger_entries WHERE {where}) AS w"
            " WHERE recorded_at < prev_at",
            params,
        )
    findings: list[Finding] = []
    for entry_id, recorded, prev_id, prev_at in candidates:
        if lo is not None and entry_id <= lo:
            continue
        skew = (moment(prev_at) - moment(recorded)).total_seconds()
        if skew <= tolerance_s:
            continue
        row = snap.one(
            "SELECT account_id, currency FROM ledger_entries WHERE entry_id = ?", (entry_id,)
        )
        assert row is not None
        findings.append(
            Finding(
                "clock_skew",
                f"clock_skew/{entry_id}",
                str(row[0]),
                str(row[1]),
                int(entry_id),
                0,
                {"recorded_at": iso(recorded), "previous_entry_id": int(prev_id),
                 "previous_recorded_at": iso(prev_at), "skew_seconds": round(skew, 3)},
            )
        )  # fmt: skip
    findings.sort(key=lambda f: f.fingerprint)
    return findings


REVERSALS_SQL = (
    "SELECT r.entry_id, r.account_id, r.currency, r.amount_minor, r.reverses_entry_id,"
    " t.entry_id, t.amount_minor"
    " FROM ledger_entries r LEFT JOIN ledger_entries t ON t.entry_id = r.reverses_entry_id"
    " WHERE r.reverses_entry_id IS NOT NULL AND {where}"
)


def reversal_findings(snap: Snapshot, where: str, params: list[Any]) -> tuple[int, list[Finding]]:
    """invalid_reversal for reversals whose target (``reverses_entry_id``) matches ``where``.
    All reversals of one target must be in one call."""
    rows = sorted(snap.rows(REVERSALS_SQL.format(where=where), params), key=lambda r: (r[4], r[0]))
    findings: list[Finding] = []
    previous_target: Any = None
    for entry_id, account_id, currency, amount, target, target_id, target_amount in rows:
        amount = _int(amount, f"ledger_entries.amount_minor of entry {entry_id}")
        problems = []
        if target_id is None:
            problems.append("missing_target")
        elif amount != -target_amount:
            problems.append("amount_not_negation")
        if target == previous_target:
            problems.append("reversed_more_than_once")
        previous_target = target
        if not problems:
            continue
        delta = amount + (target_amount or 0)
        findings.append(
            Finding(
                "invalid_reversal",
                f"invalid_reversal/{entry_id}",
                str(account_id),
                str(currency),
                int(entry_id),
                delta if problems != ["reversed_more_than_once"] else amount,
                {"reverses_entry_id": int(target), "problems": problems, "amount_minor": amount,
                 "target_amount_minor": target_amount},
            )
        )  # fmt: skip
    findings.sort(key=lambda f: f.fingerprint)
    return len(rows), findings
