"""Account audit lookups over the ledger contract (DESIGN §4).

- history newest first (by entry_id, i.e. recording order) with the running balance after
  each entry, actor, reason, correlation id, kind, external ref;
- stored vs derived balance and the difference;
- balance at a moment: the sum of the entries recorded at or before it;
- everything on a day, in the workspace's time zone (entries whose ``occurred_at`` falls in
  that local day);
- every entry sharing a correlation id, across accounts;
- a stable reference ``ACCOUNT@ENTRY_ID`` for every entry, which ``audit`` opens again;
- stored and derived balance of many accounts at once (``Auditor.balances``).

Each lookup reads one snapshot. Times come back as incidentbook's UTC text on both SQLite and
PostgreSQL, so the two give identical results.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from incidentbook.clock import parse_iso
from incidentbook.core.batches import chunks, marks
from incidentbook.core.ledger.contract import (
    Ledger,
    LedgerError,
    Snapshot,
    is_overflow,
    iso,
    moment,
    open_ledger,
    overflow_error,
)
from incidentbook.errors import NotFoundError, UsageError

ENTRY_SELECT = (
    "SELECT entry_id, account_id, amount_minor, currency, kind, occurred_at, recorded_at,"
    " external_ref, idempotency_key, actor, reason, correlation_id, reverses_entry_id"
    " FROM ledger_entries"
)


@dataclass(frozen=True)
class AuditEntry:
    ref: str
    entry_id: int
    account_id: str
    amount_minor: int
    currency: str
    kind: str
    occurred_at: str
    recorded_at: str
    running_balance_minor: int | None
    actor: str
    reason: str | None
    correlation_id: str | None
    external_ref: str | None
    idempotency_key: str | None
    reverses_entry_id: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AccountAudit:
    account_id: str
    exists: bool
    currency: str | None
    stored_minor: int | None
    derived_minor: int
    difference_minor: int | None
    entry_count: int
    updated_at: str | None
    opened_at: str | None
    timezone: str
    entries: list[AuditEntry] = field(default_factory=list)
    at: str | None = None
    balance_at_minor: int | None = None
    on: str | None = None
    ref: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["entries"] = [e.to_dict() for e in self.entries]
        return out


@dataclass(frozen=True)
class AccountBalance:
    """An account's stored balance (None when it is not in ``ledger_accounts``) and derived
    balance (the sum of its entries; 0 without entries), integer minor units."""

    account_id: str
    exists: bool
    currency: str | None
    stored_minor: int | None
    derived_minor: int
    entry_count: int

    @property
    def difference_minor(self) -> int | None:
        return None if self.stored_minor is None else self.stored_minor - self.derived_minor


def entry_ref(account_id: str, entry_id: int) -> str:
    return f"{account_id}@{entry_id}"


ENTRY_ID_MAX = 2**63 - 1  # SQLite's INTEGER and PostgreSQL's bigint
LIMIT_MAX = 1_000_000


def parse_ref(text: str) -> tuple[str, int | None]:
    """``ACCOUNT@ENTRY_ID`` -> (account, entry id); a plain account id -> (account, None)."""
    account, sep, suffix = text.rpartition("@")
    if sep and account and suffix.isdigit():
        if len(suffix) > 19 or int(suffix) > ENTRY_ID_MAX:
            raise UsageError(f"{text!r}: entry id {suffix[:24]}… is out of range")
        return account, int(suffix)
    return text, None


def parse_moment(text: str) -> datetime:
    try:
        return parse_iso(text)
    except ValueError:
        raise UsageError(f"--at: not an ISO-8601 timestamp: {text!r}") from None


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--on: not a date (YYYY-MM-DD): {text!r}") from None


def day_bounds(day: date, timezone: str) -> tuple[datetime, datetime]:
    """The UTC start (inclusive) and end (exclusive) of a local day (DST-aware); a day whose
    bounds fall outside years 1-9999 in UTC (``9999-12-31``) is a ``UsageError``."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"unknown time zone {timezone!r} (workspace.timezone)") from None
    try:
        start = datetime.combine(day, time(0), tzinfo=zone)
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
        return start.astimezone(UTC), end.astimezone(UTC)
    except OverflowError:
        raise UsageError(f"--on: {day.isoformat()} is out of range") from None


def _amount(value: Any, entry_id: Any) -> int:
    if type(value) is not int:
        raise LedgerError(
            f"ledger_entries.amount_minor is not an integer in entry {entry_id}: {value!r}"
        )
    return value


def _row(entry_id: Any, account_id: Any, column: str) -> str:
    """Where a ledger value came from, for its error: the column, entry and account."""
    return f"ledger_entries.{column} of entry {entry_id} (account {account_id})"


def _entry(row: tuple[Any, ...], running: int | None) -> AuditEntry:
    (entry_id, account_id, amount, currency, kind, occurred, recorded, ref, idem, actor, reason,
     corr, reverses) = row  # fmt: skip
    return AuditEntry(
        ref=entry_ref(str(account_id), int(entry_id)),
        entry_id=int(entry_id),
        account_id=str(account_id),
        amount_minor=_amount(amount, entry_id),
        currency=str(currency),
        kind=str(kind),
        occurred_at=iso(occurred, _row(entry_id, account_id, "occurred_at")) or "",
        recorded_at=iso(recorded, _row(entry_id, account_id, "recorded_at")) or "",
        running_balance_minor=running,
        actor=str(actor),
        reason=reason,
        correlation_id=corr,
        external_ref=ref,
        idempotency_key=idem,
        reverses_entry_id=None if reverses is None else int(reverses),
    )


class Auditor:
    """Audit lookups on one opened ledger (open once, look up many times)."""

    def __init__(self, ledger: Ledger, timezone: str = "UTC") -> None:
        self.ledger = ledger
        self.timezone = timezone

    @classmethod
    def open(cls, url: str, timezone: str = "UTC") -> Auditor:
        return cls(open_ledger(url), timezone)

    def close(self) -> None:
        self.ledger.dispose()

    def account(
        self,
        account_or_ref: str,
        *,
        limit: int = 100,
        at: datetime | None = None,
        on: date | None = None,
    ) -> AccountAudit:
        if not 1 <= limit <= LIMIT_MAX:
            raise UsageError(f"--limit must be from 1 to {LIMIT_MAX:,}")
        account_id, entry_id = parse_ref(account_or_ref)
        with self.ledger.snapshot() as snap:
            try:
                return self._account(snap, account_id, entry_id, limit, at, on)
            except Exception as exc:
                if is_overflow(exc):
                    raise overflow_error(snap, "account_id = ?", (account_id,)) from None
                raise

    def _account(
        self,
        snap: Snapshot,
        account_id: str,
        entry_id: int | None,
        limit: int,
        at: datetime | None,
        on: date | None,
    ) -> AccountAudit:
        """The audit of one account, every read in the caller's one snapshot."""
        audit = self._header(snap, account_id)
        if entry_id is not None:
            audit.ref = entry_ref(account_id, entry_id)
            audit.entries = self._history(snap, audit, limit, upto=entry_id)
            if not audit.entries or audit.entries[0].entry_id != entry_id:
                raise NotFoundError(f"no entry {entry_id} on account {account_id}")
        elif on is not None:
            audit.on = on.isoformat()
            audit.entries = self._day(snap, audit, on)
        elif at is not None:
            audit.entries = self._history(snap, audit, limit, at=at)
        else:
            audit.entries = self._history(snap, audit, limit)
        if at is not None:
            audit.at = iso(at)
            audit.balance_at_minor = self._balance_at(snap, account_id, at)
        return audit

    def _header(self, snap: Snapshot, account_id: str) -> AccountAudit:
        row = snap.one(
            "SELECT currency, balance_minor, updated_at, opened_at FROM ledger_accounts"
            " WHERE account_id = ?",
            (account_id,),
        )
        sums = snap.one(
            "SELECT COUNT(*), " + ("SUM(amount_minor)" if snap.sqlite else
                                   "CAST(SUM(amount_minor) AS BIGINT)")
            + " FROM ledger_entries WHERE account_id = ?",
            (account_id,),
        )  # fmt: skip
        count = int(sums[0]) if sums else 0
        if row is None and count == 0:
            raise NotFoundError(f"no account {account_id!r} in ledger {self.ledger.display_url}")
        derived = sums[1] if sums and sums[1] is not None else 0
        if type(derived) is not int:
            bad = snap.one(
                "SELECT entry_id, amount_minor FROM ledger_entries WHERE account_id = ?"
                " AND typeof(amount_minor) <> 'integer' LIMIT 1",
                (account_id,),
            )
            raise LedgerError(
                "ledger_entries.amount_minor is not an integer"
                + (f" in entry {bad[0]}: {bad[1]!r}" if bad else f" for account {account_id}")
            )
        stored = None if row is None else row[1]
        where = f"account {account_id}: ledger_accounts"
        if stored is not None and type(stored) is not int:
            raise LedgerError(
                f"ledger_accounts.balance_minor is not an integer for account {account_id}"
            )
        return AccountAudit(
            account_id=account_id,
            exists=row is not None,
            currency=None if row is None else str(row[0]),
            stored_minor=stored,
            derived_minor=derived,
            difference_minor=None if stored is None else stored - derived,
            entry_count=count,
            updated_at=None if row is None else iso(row[2], f"{where}.updated_at"),
            opened_at=None if row is None else iso(row[3], f"{where}.opened_at"),
            timezone=self.timezone,
        )

    def _history(
        self,
        snap: Snapshot,
        audit: AccountAudit,
        limit: int,
        *,
        upto: int | None = None,
        at: datetime | None = None,
    ) -> list[AuditEntry]:
        """Newest first; running balance = derived balance minus the newer entries."""
        running = audit.derived_minor
        if at is not None:
            # entries recorded after the moment are not part of the history as of then
            newer = [
                r
                for r in snap.rows(
                    "SELECT entry_id, amount_minor, recorded_at FROM ledger_entries"
                    " WHERE account_id = ?",
                    (audit.account_id,),
                )
                if moment(r[2], _row(r[0], audit.account_id, "recorded_at")) > at
            ]
            skip = {int(r[0]) for r in newer}
            running -= sum(_amount(r[1], r[0]) for r in newer)
            rows = snap.all(
                f"{ENTRY_SELECT} WHERE account_id = ? ORDER BY entry_id DESC",
                (audit.account_id,),
            )
            rows = [r for r in rows if int(r[0]) not in skip][:limit]
        else:
            if upto is not None:
                after = snap.one(
                    ("SELECT SUM(amount_minor)" if snap.sqlite else
                     "SELECT CAST(SUM(amount_minor) AS BIGINT)")
                    + " FROM ledger_entries WHERE account_id = ? AND entry_id > ?",
                    (audit.account_id, upto),
                )  # fmt: skip
                running -= _amount(after[0], upto) if after and after[0] is not None else 0
                rows = snap.all(
                    f"{ENTRY_SELECT} WHERE account_id = ? AND entry_id <= ?"
                    " ORDER BY entry_id DESC LIMIT ?",
                    (audit.account_id, upto, limit),
                )
            else:
                rows = snap.all(
                    f"{ENTRY_SELECT} WHERE account_id = ? ORDER BY entry_id DESC LIMIT ?",
                    (audit.account_id, limit),
                )
        out = []
        for row in rows:
            entry = _entry(row, running)
            out.append(entry)
            running -= entry.amount_minor
        return out

    def _day(self, snap: Snapshot, audit: AccountAudit, day: date) -> list[AuditEntry]:
        start, end = day_bounds(day, self.timezone)
        rows = [
            r
            for r in snap.all(
                f"{ENTRY_SELECT} WHERE account_id = ? ORDER BY entry_id DESC",
                (audit.account_id,),
            )
        ]
        running = audit.derived_minor
        out = []
        for row in rows:
            amount = _amount(row[2], row[0])
            if start <= moment(row[5], _row(row[0], row[1], "occurred_at")) < end:
                out.append(_entry(row, running))
            running -= amount
        return out

    def _balance_at(self, snap: Snapshot, account_id: str, at: datetime) -> int:
        total = 0
        for entry_id, amount, recorded in snap.rows(
            "SELECT entry_id, amount_minor, recorded_at FROM ledger_entries WHERE account_id = ?",
            (account_id,),
        ):
            if moment(recorded, _row(entry_id, account_id, "recorded_at")) <= at:
                total += _amount(amount, entry_id)
        return total

    def balances(self, account_ids: Sequence[str]) -> dict[str, AccountBalance]:
        """Stored vs derived balance of each account, read in one snapshot (a few chunked
        aggregates, not two queries per account). Every id asked for gets an entry, one the
        ledger does not know with ``exists`` False, no stored balance and derived 0."""
        ids = sorted(set(account_ids))
        stored: dict[str, tuple[str, Any]] = {}
        sums: dict[str, tuple[int, Any]] = {}
        total = "SUM(amount_minor)"
        with self.ledger.snapshot() as snap:
            if not snap.sqlite:
                total = "CAST(SUM(amount_minor) AS BIGINT)"
            for chunk in chunks(ids):
                for account, currency, balance in snap.rows(
                    "SELECT account_id, currency, balance_minor FROM ledger_accounts"
                    f" WHERE account_id IN ({marks(chunk)})",
                    chunk,
                ):
                    stored[str(account)] = (str(currency), balance)
                for account, count, derived in snap.rows(
                    f"SELECT account_id, COUNT(*), {total} FROM ledger_entries"
                    f" WHERE account_id IN ({marks(chunk)}) GROUP BY account_id",
                    chunk,
                ):
                    sums[str(account)] = (int(count), derived)
        out = {}
        for account in ids:
            currency, balance = stored.get(account, (None, None))
            count, derived = sums.get(account, (0, 0))
            if type(derived) is not int:
                raise LedgerError(
                    f"ledger_entries.amount_minor is not an integer for account {account}"
                )
            if balance is not None and type(balance) is not int:
                raise LedgerError(
                    f"ledger_accounts.balance_minor is not an integer for account {account}"
                )
            out[account] = AccountBalance(
                account_id=account,
                exists=account in stored,
                currency=currency,
                stored_minor=balance,
                derived_minor=derived,
                entry_count=count,
            )
        return out

    def correlation(self, correlation_id: str) -> list[AuditEntry]:
        """Every entry of one originating request, across accounts, in recording order."""
        with self.ledger.snapshot() as snap:
            rows = snap.all(
                f"{ENTRY_SELECT} WHERE correlation_id = ? ORDER BY entry_id", (correlation_id,)
            )
        if not rows:
            raise NotFoundError(
                f"no entries with correlation id {correlation_id!r} in {self.ledger.display_url}"
            )
        return [_entry(r, None) for r in rows]
