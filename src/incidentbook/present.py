"""Impact as text for people, shared by the app and the CLI (DESIGN §4): accounts, money per
currency and the bad entries' window in ledger time. The numbers come from the core; this only
words them (money through ``money.format_minor``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from incidentbook.clock import parse_iso
from incidentbook.money import format_maybe, format_minor


def zone_named(name: str) -> ZoneInfo | None:
    """The IANA time zone ``name`` (``workspace.timezone``), or None when it is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def accounts_text(accounts: int | None) -> str:
    """'1 account', '4,812 accounts'; '—' when not known."""
    if accounts is None:
        return "—"
    return f"{accounts:,} {'account' if accounts == 1 else 'accounts'}"


def money_parts(delta_minor_by_currency: Mapping[str, int] | None) -> list[str]:
    """'32,088.57 EUR', '4,724,185 JPY', … by currency code; currencies that net to 0 left out."""
    return [
        format_minor(total, currency)
        for currency, total in sorted((delta_minor_by_currency or {}).items())
        if total
    ]


def money_text(delta_minor_by_currency: Mapping[str, int] | None, empty: str = "—") -> str:
    """'−32,088.57 EUR · 4,724,185 JPY', or ``empty`` when every currency nets to 0."""
    return " · ".join(money_parts(delta_minor_by_currency)) or empty


def correction_text(data: Mapping[str, Any]) -> str:
    """An applied correction batch (``incident.correction_applied``) in words: '110 reversals
    over 60 accounts, Δ −32,088.57 EUR restored, plan FIX-0001 sha256 3f2a…'."""
    reversals = int(data.get("reversals") or 0)
    corrected = int(data.get("corrected") or 0)
    text = (
        f"{reversals:,} {'reversal' if reversals == 1 else 'reversals'} over"
        f" {accounts_text(corrected)}"
    )
    restored = money_parts(data.get("reversals_minor_by_currency"))
    if restored:
        text += f", Δ {' · '.join(restored)} restored"
    balances = money_parts(data.get("balance_change_minor_by_currency"))
    if balances:
        text += f", stored balances Δ {' · '.join(balances)}"
    text += f", plan {data.get('plan_id')} sha256 {str(data.get('sha256') or '')[:12]}…"
    conflicts = int(data.get("conflicts") or 0)
    if conflicts:
        text += f"; {conflicts:,} {'conflict' if conflicts == 1 else 'conflicts'} left"
    return text


def bad_window(
    first_bad_at: str | None, last_bad_at: str | None, zone: ZoneInfo, *, dated: bool = True
) -> str | None:
    """'2026-10-17 02:02–07:50' in ``zone`` ('02:02–07:50' when not ``dated``); both ends dated
    when the window spans days. None when no finding says when its entries were recorded."""
    if not first_bad_at or not last_bad_at:
        return None
    first = parse_iso(first_bad_at).astimezone(zone)
    last = parse_iso(last_bad_at).astimezone(zone)
    if first.date() != last.date():
        return f"{first:%Y-%m-%d %H:%M}–{last:%Y-%m-%d %H:%M}"
    return f"{first:%Y-%m-%d %H:%M}–{last:%H:%M}" if dated else f"{first:%H:%M}–{last:%H:%M}"


def cross_check(
    *, duplicate: bool, stored_took_copies: bool | None, fails_balance: bool | None
) -> str:
    """An affected account's duplicate/balance cross-check in words (``incident accounts`` and
    the Account audit screen): for a duplicate, whether the stored balance already took every
    copy (no balance alert fires) or not; else whether it fails ``balance_mismatch``."""
    if duplicate:
        if stored_took_copies is None:
            return "duplicate; no stored balance"
        if stored_took_copies:
            return "duplicate; stored took every copy (no balance alert)"
        return "duplicate; stored did not take the copies (balance_mismatch)"
    if fails_balance:
        return "balance_mismatch"
    return ""


class AffectedAccountLike(Protocol):
    """What ``account_cells`` reads of an affected account (the core's ``AffectedAccount``)."""

    @property
    def account_id(self) -> str: ...
    @property
    def currency(self) -> str: ...
    @property
    def delta_minor(self) -> int: ...
    @property
    def stored_minor(self) -> int | None: ...
    @property
    def derived_minor(self) -> int | None: ...
    @property
    def duplicate(self) -> bool: ...
    @property
    def stored_took_copies(self) -> bool | None: ...
    @property
    def fails_balance(self) -> bool | None: ...


def account_cells(account: AffectedAccountLike) -> tuple[str, str, str, str, str, str]:
    """One affected account's cells (``incident accounts`` and the Account audit screen):
    account, currency, signed delta, stored, derived, cross-check."""
    return (
        account.account_id,
        account.currency,
        format_minor(account.delta_minor, account.currency, signed=True),
        format_maybe(account.stored_minor, account.currency),
        format_maybe(account.derived_minor, account.currency),
        cross_check(
            duplicate=account.duplicate,
            stored_took_copies=account.stored_took_copies,
            fails_balance=account.fails_balance,
        ),
    )


# What an incident's deploy context is measured back from, in words: the reconciler check of
# its first bad entry ("the first duplicate"), else the first bad entry or first alert.
_ANCHOR_WORDS = {
    "duplicate_posting": "the first duplicate",
    "balance_mismatch": "the first balance mismatch",
}


def anchor_words(kind: str, check: str | None) -> str:
    if kind == "first_bad_entry":
        return _ANCHOR_WORDS.get(check or "", "the first bad entry")
    return "the first alert"


def minutes_words(seconds: float) -> str:
    """'7 minutes', '1 minute', 'under a minute', '1 h 5 minutes'."""
    minutes = int(seconds // 60)
    if minutes < 1:
        return "under a minute"
    hours, rest = divmod(minutes, 60)
    tail = f"{rest} minute{'s' if rest != 1 else ''}"
    if not hours:
        return tail
    return f"{hours} h {tail}" if rest else f"{hours} h"


def change_before_text(
    summary: str, at: str, seconds_before: float, kind: str, check: str | None, zone: ZoneInfo
) -> str:
    """'api v2 deployed 01:55, 7 minutes before the first duplicate' (the time in ``zone``)."""
    when = parse_iso(at).astimezone(zone)
    return (
        f"{summary} {when:%H:%M}, {minutes_words(seconds_before)} before "
        f"{anchor_words(kind, check)}"
    )
