"""The evidence's values (pure): the canonical JSON of one account's evidence and its SHA-256,
the set hash over every account frozen for an incident, the report and the postmortem's
before/after per currency.

One account's body is ``{"account_id", "account", "entries"}``: ``account`` is its
``ledger_accounts`` row with every contract column (null for an account the ledger lacks, an
orphan's entries), ``entries`` every ``ledger_entries`` row of the account with every contract
column, in ``entry_id`` order. Timestamps are ``contract.iso`` text, money and ids integers.
The JSON has sorted keys, compact separators and ``ensure_ascii=False``; the account's hash is
the SHA-256 of exactly its UTF-8 bytes, which are stored as they are hashed.

The set hash is the SHA-256 of the canonical JSON of the sorted ``[account_id, sha256]``
pairs of every account frozen for the incident so far.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from incidentbook.core.ledger.contract import ACCOUNT_COLUMNS, ENTRY_COLUMNS, LedgerError, iso
from incidentbook.digest import canonical_json, sha256_hex

ACCOUNT_TIMES = frozenset({"updated_at", "opened_at"})
ENTRY_TIMES = frozenset({"occurred_at", "recorded_at"})
ACCOUNT_INTS = frozenset({"balance_minor"})
ENTRY_INTS = frozenset({"entry_id", "amount_minor", "reverses_entry_id"})


def canonical(value: Any) -> bytes:
    """The canonical JSON bytes of a value (``incidentbook.digest``)."""
    return canonical_json(value).encode()


def _value(column: str, value: Any, times: frozenset[str], ints: frozenset[str]) -> Any:
    if value is None:
        return None
    if column in times:
        return iso(value)
    if column in ints:
        if type(value) is not int:
            raise LedgerError(f"ledger {column} {value!r} is not an integer")
        return value
    return str(value)


def account_record(row: Sequence[Any]) -> dict[str, Any]:
    """A ``ledger_accounts`` row (``ACCOUNT_COLUMNS`` order) as the body's ``account``."""
    return {
        c: _value(c, v, ACCOUNT_TIMES, ACCOUNT_INTS)
        for c, v in zip(ACCOUNT_COLUMNS, row, strict=True)
    }


def entry_record(row: Sequence[Any]) -> dict[str, Any]:
    """A ``ledger_entries`` row (``ENTRY_COLUMNS`` order) as one of the body's ``entries``."""
    return {
        c: _value(c, v, ENTRY_TIMES, ENTRY_INTS) for c, v in zip(ENTRY_COLUMNS, row, strict=True)
    }


@dataclass(frozen=True)
class FrozenAccount:
    """One account's evidence as it is stored: ``body`` the canonical JSON text, ``sha256``
    the hash of its UTF-8 bytes; ``currency`` and ``balance_minor`` (the stored balance at
    detection) are None for an orphan."""

    account_id: str
    currency: str | None
    balance_minor: int | None
    entries: int
    sha256: str
    body: str


def freeze_account(
    account_id: str, account: Sequence[Any] | None, entries: Sequence[Sequence[Any]]
) -> FrozenAccount:
    """The evidence of one account from its ledger rows; ``entries`` in any order."""
    record = account_record(account) if account is not None else None
    items = sorted((entry_record(e) for e in entries), key=lambda e: int(e["entry_id"]))
    data = canonical({"account_id": account_id, "account": record, "entries": items})
    return FrozenAccount(
        account_id=account_id,
        currency=record["currency"] if record is not None else None,
        balance_minor=record["balance_minor"] if record is not None else None,
        entries=len(items),
        sha256=sha256_hex(data),
        body=data.decode(),
    )


def set_hash(pairs: Iterable[tuple[str, str]]) -> str:
    """The set hash over (account_id, sha256) pairs, in any order given."""
    return sha256_hex(canonical(sorted([a, h] for a, h in pairs)))


@dataclass(frozen=True)
class FreezeResult:
    """What one freeze did: ``added`` accounts frozen now (0: nothing new, no set row),
    ``orphans`` among them, ``set_number`` and ``set_sha256`` of the set recorded now (None
    when nothing was added)."""

    incident_id: str
    added: int
    orphans: int = 0
    set_number: int | None = None
    set_sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class EvidenceAccount:
    account_id: str
    frozen_at: str
    ledger: str
    currency: str | None
    balance_minor: int | None
    entries: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class EvidenceReport:
    """An incident's evidence: the newest set (its hash covers every account listed),
    the accounts in id order and the stored balances at detection per currency (orphans,
    without a balance, are counted apart)."""

    incident_id: str
    set_number: int
    set_sha256: str
    frozen_at: str
    accounts: list[EvidenceAccount]
    balance_minor_by_currency: dict[str, int]
    orphans: int

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["accounts"] = [a.to_dict() for a in self.accounts]
        return out


def balances_by_currency(accounts: Iterable[EvidenceAccount]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for a in accounts:
        if a.currency is not None and a.balance_minor is not None:
            totals[a.currency] = totals.get(a.currency, 0) + a.balance_minor
    return dict(sorted(totals.items()))


@dataclass(frozen=True)
class CurrencyBeforeAfter:
    """Per currency: the stored balances of the frozen accounts at detection and now (None:
    unknown, the ledger could not be read); ``accounts`` counted in that currency."""

    currency: str
    accounts: int
    before_minor: int
    after_minor: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class EvidenceComparison:
    """The postmortem's evidence facts: the set hash and account count, the before/after
    table, and why "now" is unknown when it is (``now_error``)."""

    set_sha256: str
    accounts: int
    frozen_at: str
    rows: list[CurrencyBeforeAfter] = field(default_factory=list)
    now_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["rows"] = [r.to_dict() for r in self.rows]
        return out


def before_after(
    report: EvidenceReport, now: Mapping[str, tuple[str, int]] | None, now_error: str | None
) -> EvidenceComparison:
    """Per currency of the accounts at detection: their stored balances then and now.
    ``now``: account → (currency, stored balance) read from the ledger (None: unreachable);
    an account gone from the ledger counts 0 now, one whose currency changed counts in the
    currency it had."""
    counts: dict[str, int] = {}
    after: dict[str, int] = {}
    for a in report.accounts:
        if a.currency is None or a.balance_minor is None:
            continue
        counts[a.currency] = counts.get(a.currency, 0) + 1
        if now is not None:
            current = now.get(a.account_id)
            after[a.currency] = after.get(a.currency, 0) + (current[1] if current else 0)
    rows = [
        CurrencyBeforeAfter(
            currency=cur,
            accounts=counts[cur],
            before_minor=before,
            after_minor=after.get(cur, 0) if now is not None else None,
        )
        for cur, before in report.balance_minor_by_currency.items()
    ]
    return EvidenceComparison(
        set_sha256=report.set_sha256,
        accounts=len(report.accounts),
        frozen_at=report.frozen_at,
        rows=rows,
        now_error=now_error if now is None else None,
    )
