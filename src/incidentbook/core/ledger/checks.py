"""The six reconciler checks of DESIGN §4, as queries over one ledger snapshot.

Each function checks one range of keys and returns its findings sorted by fingerprint.
Fingerprints are the contract's, exactly. The database does the heavy lifting: it sums,
groups and compares over index scans and returns only the rows that disagree, so Python
sees the (rare) suspicious rows, never one row per account or entry.

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
  already reversed; delta = reversal amount + target amount (the reversal's amount if missing;
  a reversal whose only problem is that it reverses an entry again: its own amount, the money
  taken out a second time).
- ``clock_skew``: ``recorded_at`` earlier than the previous entry's (by entry_id, across the
  whole ledger) by more than the tolerance (seconds, at least 1); delta 0.

Every finding with entries behind it also says when, in ledger time: ``bad_from`` and ``bad_to``
in its details, the earliest and latest ``recorded_at`` (UTC text, as ``iso`` writes it) of those
entries: a duplicate's uncancelled copies; a currency_mismatch, orphan_entry or clock_skew
finding's entry; an invalid reversal and its target (when it exists); for balance_mismatch, the
account's latest entry (highest ``entry_id``: recording order). An account without entries has
none. The times are read in the queries the checks run anyway, or by one batched primary-key
lookup of the (few) findings' entries.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from incidentbook.core.batches import chunks, marks
from incidentbook.core.ledger.contract import (
    LedgerError,
    Snapshot,
    is_overflow,
    iso,
    moment,
    overflow_error,
)

CHECKS = (
    "balance_mismatch",
    "duplicate_posting",
    "currency_mismatch",
    "orphan_entry",
    "invalid_reversal",
    "clock_skew",
)
# checks whose findings move no money (their delta is 0 by definition, not a sum to show)
CHECKS_WITHOUT_DELTA = ("clock_skew",)
ACCOUNT_CHECKS = ("balance_mismatch", "duplicate_posting", "currency_mismatch", "orphan_entry")
SEVERITY = {
    "balance_mismatch": "critical",
    "duplicate_posting": "critical",
    "currency_mismatch": "error",
    "orphan_entry": "error",
    "invalid_reversal": "error",
    "clock_skew": "warning",
}
# Above this share of entries without an immediate predecessor id (gaps), a clock batch
# streams its range instead of asking for each gap's predecessor.
GAP_SHARE = 0.05


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

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(**data)


def _int(value: Any, what: str) -> int:
    if type(value) is int:
        return value
    raise LedgerError(f"{what} is not an integer: {value!r}")


def range_clause(lo: Any, hi: Any, column: str = "account_id") -> tuple[str, list[Any]]:
    """A WHERE clause (and its parameters) for ``lo < column <= hi``; None is unbounded."""
    parts, params = [], []
    if lo is not None:
        parts.append(f"{column} > ?")
        params.append(lo)
    if hi is not None:
        parts.append(f"{column} <= ?")
        params.append(hi)
    return (" AND ".join(parts) or "1 = 1"), params


def in_clause(ids: Sequence[Any], column: str = "account_id") -> tuple[str, list[Any]]:
    """A WHERE clause (and its parameters) for ``column IN ids``."""
    return f"{column} IN ({marks(ids)})", list(ids)


def recorded_times(snap: Snapshot, entry_ids: Iterable[int]) -> dict[int, str]:
    """``recorded_at`` (as ``iso`` text) of the given entries, by primary key, in chunks."""
    times: dict[int, str] = {}
    for chunk in chunks(sorted(set(entry_ids))):
        clause, args = in_clause(chunk, "entry_id")
        for entry_id, recorded in snap.rows(
            f"SELECT entry_id, recorded_at FROM ledger_entries WHERE {clause}", args
        ):
            stamp = iso(recorded)
            if stamp is not None:
                times[int(entry_id)] = stamp
    return times


def bad_span(times: Iterable[str | None]) -> dict[str, str]:
    """``bad_from`` / ``bad_to`` details: the earliest and latest of ``times`` (``iso`` text,
    fixed width, so it sorts as it reads); empty when there is none."""
    known = [t for t in times if t is not None]
    return {"bad_from": min(known), "bad_to": max(known)} if known else {}


def _stamped(finding: Finding, times: Iterable[str | None]) -> Finding:
    span = bad_span(times)
    return replace(finding, details={**finding.details, **span}) if span else finding


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


def _bad_balance(account_id: str, balance: Any) -> LedgerError:
    return LedgerError(
        f"ledger_accounts.balance_minor is not an integer for account {account_id}: {balance!r}"
    )


# -- balance_mismatch, currency_mismatch, orphan_entry ----------------------------------------


def account_findings(snap: Snapshot, where: str, params: list[Any]) -> tuple[int, list[Finding]]:
    """``_account_findings``; entries that sum beyond 64 bits are a ``LedgerError`` naming
    their account, not the database's bare "integer overflow"."""
    try:
        return _account_findings(snap, where, params)
    except Exception as exc:
        if is_overflow(exc):
            raise overflow_error(snap, where, params) from None
        raise


def _account_findings(
    snap: Snapshot, where: str, params: list[Any]
) -> tuple[int, list[Finding]]:
    """balance_mismatch, currency_mismatch and orphan_entry for the accounts (and entries)
    whose ``account_id`` matches ``where``. Returns (accounts in range, findings).

    One streamed scan sums every account's entries per currency (the ``(account_id,
    currency, amount_minor)`` index serves it in order), joins the stored balance and
    aggregates as it goes: it returns the accounts that disagree (an unknown account, a
    foreign currency, a wrong sum) and how many accounts with a non-zero balance have
    entries in their own currency. When that equals the count among all the range's
    accounts, no account without entries can hold a balance, and the range is not probed
    account by account for entries."""
    sqlite = snap.sqlite
    total_sql = "SUM(amount_minor)" if sqlite else "CAST(SUM(amount_minor) AS BIGINT)"
    typed = (
        " OR typeof(s.total) <> 'integer' OR typeof(a.balance_minor) <> 'integer'" if sqlite else ""
    )
    # a balance that needs entries to explain it (SQLite: or one that is not an integer)
    holding = "a.balance_minor <> 0" + (
        " OR typeof(a.balance_minor) <> 'integer'" if sqlite else ""
    )
    listed = "json_group_array(s.account_id)" if sqlite else "json_agg(s.account_id)"
    summary = snap.one(
        f"SELECT COUNT(*) FILTER (WHERE s.currency = a.currency AND ({holding})),"
        f" {listed} FILTER (WHERE a.account_id IS NULL OR s.currency <> a.currency"
        f" OR s.total <> a.balance_minor{typed})"
        f" FROM {_SUMS_WITH_ACCOUNTS.format(total=total_sql, latest='', where=where)}",
        params,
    )
    holding_with_entries, listed_ids = summary if summary is not None else (0, None)
    if isinstance(listed_ids, str):
        listed_ids = json.loads(listed_ids)
    suspicious: dict[str, list[tuple[Any, ...]]] = {}
    for chunk in chunks(listed_ids or []):
        clause, args = in_clause(chunk)
        for row in snap.rows(
            "SELECT s.account_id, s.currency, s.total, a.account_id, a.currency, a.balance_minor,"
            " s.latest FROM "
            + _SUMS_WITH_ACCOUNTS.format(
                total=total_sql, latest=", MAX(entry_id) AS latest", where=clause
            ),
            args,
        ):
            suspicious.setdefault(str(row[0]), []).append(row)
    findings: list[Finding] = []
    latest: dict[str, int] = {}  # a mismatched balance's account: its latest entry
    for account_id, rows in suspicious.items():
        found = _account_rows(snap, account_id, rows)
        if any(f.check == "balance_mismatch" for f in found):
            latest[account_id] = max(int(r[6]) for r in rows)
        findings.extend(found)
    if latest:
        times = recorded_times(snap, latest.values())
        findings = [
            _stamped(f, [times.get(latest[f.account_id])]) if f.account_id in latest
            and f.check == "balance_mismatch" else f
            for f in findings
        ]  # fmt: skip
    # ``where`` names the account_id of ledger_accounts, these queries' only table
    counts = snap.one(
        f"SELECT COUNT(*), COUNT(*) FILTER (WHERE {holding}) FROM ledger_accounts a WHERE {where}",
        params,
    )
    accounts, holding_all = counts if counts is not None else (0, 0)
    if int(holding_all or 0) != int(holding_with_entries or 0):
        # accounts without a single entry: their derived balance is 0
        for account_id, currency, balance in snap.rows(
            "SELECT a.account_id, a.currency, a.balance_minor FROM ledger_accounts a"
            f" WHERE {where} AND ({holding}) AND NOT EXISTS"
            " (SELECT 1 FROM ledger_entries e WHERE e.account_id = a.account_id)",
            params,
        ):
            if type(balance) is not int:
                raise _bad_balance(account_id, balance)
            findings.append(_balance(account_id, currency, balance, 0))
    findings.sort(key=lambda f: f.fingerprint)
    return int(accounts or 0), findings


# every account's entries summed per currency (in index order), each sum with its account
# (``latest``: more columns of the group, e.g. its highest entry id)
_SUMS_WITH_ACCOUNTS = (
    "(SELECT account_id, currency, {total} AS total{latest} FROM ledger_entries"
    " WHERE {where} GROUP BY account_id, currency) AS s"
    " LEFT JOIN ledger_accounts a ON a.account_id = s.account_id"
)


def _account_rows(snap: Snapshot, account_id: str, rows: list[tuple[Any, ...]]) -> list[Finding]:
    """The findings of one account whose per-currency sums disagreed with its stored row
    (``rows``: each currency's sum, with the account's row)."""
    if rows[0][3] is None:  # no such account: every entry is an orphan
        return [
            Finding(
                "orphan_entry",
                f"orphan_entry/{entry_id}",
                account_id,
                entry_currency,
                entry_id,
                _int(amount, f"ledger_entries.amount_minor of entry {entry_id}"),
                {"amount_minor": amount, **bad_span([iso(recorded)])},
            )
            for entry_id, entry_currency, amount, recorded in snap.rows(
                "SELECT entry_id, currency, amount_minor, recorded_at FROM ledger_entries"
                " WHERE account_id = ? ORDER BY entry_id",
                (account_id,),
            )
        ]
    currency, stored = rows[0][4], rows[0][5]
    if type(stored) is not int:
        raise _bad_balance(account_id, stored)
    if any(type(r[2]) is not int for r in rows):
        raise _bad_amount(snap, account_id)
    findings: list[Finding] = []
    if all(r[1] == currency for r in rows):
        # every other currency group would have come back too: this sum is the whole
        derived = sum(int(r[2]) for r in rows)
    else:
        (derived,) = snap.one(  # type: ignore[misc]
            "SELECT SUM(amount_minor) FROM ledger_entries WHERE account_id = ?", (account_id,)
        )
        derived = int(derived)
        for entry_id, entry_currency, amount, recorded in snap.rows(
            "SELECT entry_id, currency, amount_minor, recorded_at FROM ledger_entries"
            " WHERE account_id = ? AND currency <> ? ORDER BY entry_id",
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
                     "amount_minor": amount, **bad_span([iso(recorded)])},
                )
            )  # fmt: skip
    if stored != derived:
        findings.append(_balance(account_id, currency, stored, derived))
    return findings


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


# -- duplicate_posting -------------------------------------------------------------------------

# (account_id, external_ref, kind, amount_minor, entry ids ascending)
DuplicateGroup = tuple[str, str, str, Any, list[int]]


def duplicate_ref_findings(
    snap: Snapshot, lo: str | None, hi: str | None
) -> tuple[int, list[Finding]]:
    """duplicate_posting for the external refs in ``(lo, hi]``: one grouped scan of the
    ``external_ref`` index finds the refs recorded more than once (the only candidates),
    then only their entries are read. Returns (repeated refs, findings)."""
    where, params = range_clause(lo, hi, "external_ref")
    repeated = [
        r[0]
        for r in snap.rows(
            "SELECT external_ref FROM ledger_entries WHERE external_ref IS NOT NULL"
            f" AND {where} GROUP BY external_ref HAVING COUNT(*) >= 2",
            params,
        )
    ]
    copies: dict[tuple[str, str, str, Any], list[int]] = {}
    for chunk in chunks(repeated):
        clause, args = in_clause(chunk, "external_ref")
        for entry_id, account_id, ref, kind, amount in snap.rows(
            "SELECT entry_id, account_id, external_ref, kind, amount_minor FROM ledger_entries"
            f" WHERE {clause}",
            args,
        ):
            copies.setdefault((str(account_id), ref, kind, amount), []).append(int(entry_id))
    groups = [(*key, sorted(ids)) for key, ids in copies.items() if len(ids) >= 2]
    return len(repeated), _duplicate_findings(snap, groups)


def duplicate_account_findings(snap: Snapshot, where: str, params: list[Any]) -> list[Finding]:
    """duplicate_posting for the accounts matching ``where`` (incremental runs, and ledgers
    without an index on ``external_ref``)."""
    ids_sql = "group_concat(entry_id)" if snap.sqlite else "string_agg(CAST(entry_id AS TEXT), ',')"
    # "the same" ref, kind and account means equal values, as the ref path compares them,
    # whatever collation the ledger declares (SQLite: NOCASE would merge evt_A and evt_a)
    exact = " COLLATE BINARY" if snap.sqlite else ""
    groups: list[DuplicateGroup] = [
        (str(account_id), ref, kind, amount, sorted(int(i) for i in str(ids).split(",")))
        for account_id, ref, kind, amount, ids in snap.rows(
            f"SELECT account_id, external_ref, kind, amount_minor, {ids_sql} FROM ledger_entries"
            f" WHERE external_ref IS NOT NULL AND {where}"
            f" GROUP BY account_id{exact}, external_ref{exact}, kind{exact}, amount_minor"
            " HAVING COUNT(*) >= 2",
            params,
        )
    ]
    return _duplicate_findings(snap, groups)


def _duplicate_findings(snap: Snapshot, groups: list[DuplicateGroup]) -> list[Finding]:
    if not groups:
        return []
    # which candidate entries some entry reverses (cancelled copies)
    candidates = sorted({i for group in groups for i in group[4]})
    reversed_ids: set[int] = set()
    for chunk in chunks(candidates):
        clause, args = in_clause(chunk, "reverses_entry_id")
        reversed_ids.update(
            int(r[0])
            for r in snap.rows(f"SELECT reverses_entry_id FROM ledger_entries WHERE {clause}", args)
        )
    # entries of unknown accounts are orphan_entry findings only
    currency_of: dict[str, str] = {}
    for accounts in chunks(sorted({g[0] for g in groups})):
        clause, args = in_clause(accounts)
        currency_of.update(
            (str(a), str(c))
            for a, c in snap.rows(
                f"SELECT account_id, currency FROM ledger_accounts WHERE {clause}", args
            )
        )
    # when the uncancelled copies were recorded (the few candidates' rows, by primary key)
    times = recorded_times(
        snap, [i for g in groups if g[0] in currency_of for i in g[4] if i not in reversed_ids]
    )
    merged: dict[str, Finding] = {}
    for account_id, ref, kind, amount, ids in groups:
        if account_id not in currency_of:
            continue
        live = [i for i in ids if i not in reversed_ids]
        if len(live) < 2:
            continue
        amount = _int(amount, f"ledger_entries.amount_minor of entry {ids[0]}")
        finding = Finding(
            "duplicate_posting",
            f"duplicate_posting/{account_id}/{ref}",
            account_id,
            currency_of[account_id],
            live[1],
            (len(live) - 1) * amount,
            {"external_ref": ref, "kind": kind, "amount_minor": amount, "copies": len(live),
             "entry_ids": live},
        )  # fmt: skip
        other = merged.get(finding.fingerprint)
        if other is not None:
            # two groups of one account and ref (another kind or amount) share a fingerprint
            entry_ids = sorted([*other.details["entry_ids"], *live])
            finding = Finding(
                other.check, other.fingerprint, other.account_id, other.currency, entry_ids[1],
                other.delta_minor + finding.delta_minor,
                {**other.details, "entry_ids": entry_ids,
                 "copies": other.details["copies"] + len(live)},
            )  # fmt: skip
        merged[finding.fingerprint] = finding
    stamped = [_stamped(f, [times.get(i) for i in f.details["entry_ids"]]) for f in merged.values()]
    return sorted(stamped, key=lambda f: f.fingerprint)


def account_ids_findings(snap: Snapshot, ids: Sequence[str]) -> tuple[int, list[Finding]]:
    """All four account checks for an explicit list of account ids (incremental runs)."""
    seen = 0
    findings: list[Finding] = []
    for chunk in chunks(ids):
        clause, args = in_clause(chunk)
        count, found = account_findings(snap, clause, args)
        seen += count
        findings.extend(found)
        findings.extend(duplicate_account_findings(snap, clause, args))
    findings.sort(key=lambda f: f.fingerprint)
    return seen, findings


# -- clock_skew --------------------------------------------------------------------------------


def clock_findings(
    snap: Snapshot, lo: int | None, hi: int | None, tolerance_s: float, *, rowid: bool = False
) -> list[Finding]:
    """clock_skew for entries with ``lo < entry_id <= hi``, each compared with its predecessor
    (which may lie at or before ``lo``). A comparison of the ISO text (or timestamptz) selects
    the candidates; the tolerance (at least 1 s) is then checked exactly.

    ``rowid`` (SQLite, ``entry_id`` is the rowid): the database pairs every entry with entry
    ``id - 1`` in one join and returns only the pairs that step back, plus the entries whose
    id has no immediate predecessor (gaps), whose real predecessor is then looked up."""
    candidates: list[tuple[Any, ...]] | None = None
    if rowid:
        candidates = clock_by_rowid(snap, lo, hi)
    if candidates is None:
        candidates = _clock_by_scan(snap, lo, hi)
    findings: list[Finding] = []
    for entry_id, recorded, prev_id, prev_at in candidates:
        if lo is not None and entry_id <= lo:
            continue
        skew = (
            moment(prev_at, f"ledger_entries.recorded_at of entry {prev_id}")
            - moment(recorded, f"ledger_entries.recorded_at of entry {entry_id}")
        ).total_seconds()
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
                 "previous_recorded_at": iso(prev_at), "skew_seconds": round(skew, 3),
                 **bad_span([iso(recorded)])},
            )
        )  # fmt: skip
    findings.sort(key=lambda f: f.fingerprint)
    return findings


def clock_by_rowid(snap: Snapshot, lo: int | None, hi: int | None) -> list[tuple[Any, ...]] | None:
    where, params = range_clause(lo, hi, "n.entry_id")
    # NOT INDEXED: both walk the table in rowid order, so the lookup of id - 1 right after
    # id - 2 is a step, not a seek (and n reads recorded_at from the row it is on)
    rows = snap.all(
        "SELECT n.entry_id, n.recorded_at, p.entry_id, p.recorded_at FROM ledger_entries n"
        " NOT INDEXED LEFT JOIN ledger_entries p NOT INDEXED ON p.rowid = n.entry_id - 1"
        f" WHERE {where} AND (p.rowid IS NULL OR n.recorded_at < p.recorded_at)",
        params,
    )
    gaps = [r for r in rows if r[2] is None]
    if gaps and lo is not None and hi is not None and len(gaps) > GAP_SHARE * (hi - lo) + 64:
        return None  # sparse ids: one streamed pass is cheaper than a lookup per gap
    candidates = [r for r in rows if r[2] is not None]
    for entry_id, recorded, _, _ in gaps:
        prev = snap.one(
            "SELECT entry_id, recorded_at FROM ledger_entries WHERE entry_id < ?"
            " ORDER BY entry_id DESC LIMIT 1",
            (entry_id,),
        )
        if prev is not None and recorded < prev[1]:
            candidates.append((entry_id, recorded, prev[0], prev[1]))
    return candidates


def _clock_by_scan(snap: Snapshot, lo: int | None, hi: int | None) -> list[tuple[Any, ...]]:
    parts, params = [], []
    if lo is not None:
        prev = snap.one("SELECT MAX(entry_id) FROM ledger_entries WHERE entry_id <= ?", (lo,))
        parts.append("entry_id >= ?")
        params.append(prev[0] if prev and prev[0] is not None else lo)
    if hi is not None:
        parts.append("entry_id <= ?")
        params.append(hi)
    where = " AND ".join(parts) or "1 = 1"
    if not snap.sqlite:
        return snap.all(
            "SELECT entry_id, recorded_at, prev_id, prev_at FROM ("
            " SELECT entry_id, recorded_at,"
            " LAG(entry_id) OVER (ORDER BY entry_id) AS prev_id,"
            " LAG(recorded_at) OVER (ORDER BY entry_id) AS prev_at"
            f" FROM ledger_entries WHERE {where}) AS w"
            " WHERE recorded_at < prev_at",
            params,
        )
    # SQLite's window functions copy the whole range aside first; a streamed scan of the
    # (entry_id, recorded_at) index does not
    candidates: list[tuple[Any, ...]] = []
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
    return candidates


# -- invalid_reversal --------------------------------------------------------------------------

REVERSALS_SQL = (
    "SELECT r.entry_id, r.account_id, r.currency, r.amount_minor, r.reverses_entry_id,"
    " t.entry_id, t.amount_minor"
    " FROM ledger_entries r LEFT JOIN ledger_entries t ON t.entry_id = r.reverses_entry_id"
    " WHERE r.reverses_entry_id IS NOT NULL AND {where}"
)
# An earlier reversal of the same target (cheap with an index on reverses_entry_id).
EARLIER_REVERSAL = (
    "EXISTS (SELECT 1 FROM ledger_entries r2 WHERE r2.reverses_entry_id = r.reverses_entry_id"
    " AND r2.entry_id < r.entry_id)"
)


def reversal_findings(
    snap: Snapshot, where: str, params: list[Any], *, indexed: bool = False
) -> tuple[int, list[Finding]]:
    """invalid_reversal for reversals whose target (``reverses_entry_id``) matches ``where``.
    All reversals of one target must be in one call.

    ``indexed`` (an index leads with ``reverses_entry_id``): the database returns only the
    invalid reversals; otherwise every reversal of the range comes back and is judged here."""
    if indexed:
        typed = " OR typeof(r.amount_minor) <> 'integer'" if snap.sqlite else ""
        # only columns the (reverses_entry_id, amount_minor) index holds; the account and
        # currency of the few invalid ones are read after
        flagged = snap.all(
            "SELECT r.entry_id, r.amount_minor, r.reverses_entry_id, t.entry_id,"
            f" t.amount_minor, {EARLIER_REVERSAL} FROM ledger_entries r"
            " LEFT JOIN ledger_entries t ON t.entry_id = r.reverses_entry_id"
            f" WHERE r.reverses_entry_id IS NOT NULL AND {where}"
            " AND (t.entry_id IS NULL OR r.amount_minor <> -t.amount_minor"
            f"{typed} OR {EARLIER_REVERSAL})",
            params,
        )
        owner: dict[int, tuple[Any, Any]] = {}
        for chunk in chunks(sorted({int(r[0]) for r in flagged})):
            clause, args = in_clause(chunk, "entry_id")
            owner.update(
                (int(e), (a, c))
                for e, a, c in snap.rows(
                    f"SELECT entry_id, account_id, currency FROM ledger_entries WHERE {clause}",
                    args,
                )
            )
        rows = [
            (entry_id, *owner[int(entry_id)], amount, target, target_id, target_amount, bool(again))
            for entry_id, amount, target, target_id, target_amount, again in flagged
        ]
        count = snap.one(
            f"SELECT COUNT(*) FROM ledger_entries r WHERE r.reverses_entry_id IS NOT NULL"
            f" AND {where}",
            params,
        )
        items = int(count[0]) if count else 0
    else:
        ordered = sorted(
            snap.rows(REVERSALS_SQL.format(where=where), params), key=lambda r: (r[4], r[0])
        )
        rows = []
        previous_target: Any = None
        for row in ordered:
            rows.append((*row, row[4] == previous_target))
            previous_target = row[4]
        items = len(ordered)
    findings: list[Finding] = []
    for entry_id, account_id, currency, amount, target, target_id, target_amount, again in rows:
        amount = _int(amount, f"ledger_entries.amount_minor of entry {entry_id}")
        problems = []
        if target_id is None:
            problems.append("missing_target")
        elif amount != -target_amount:
            problems.append("amount_not_negation")
        if again:
            problems.append("reversed_more_than_once")
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
    # when the invalid reversals and their targets were recorded (by primary key)
    behind = [(f.entry_id, f.details["reverses_entry_id"]) for f in findings]
    times = recorded_times(snap, [i for pair in behind for i in pair if i is not None])
    findings = [
        _stamped(f, [times.get(f.entry_id or 0), times.get(f.details["reverses_entry_id"])])
        for f in findings
    ]
    findings.sort(key=lambda f: f.fingerprint)
    return items, findings
