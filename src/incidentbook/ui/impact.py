"""A group's impact as the app shows it (DESIGN §4): accounts, Δ per currency and the bad-entry
window in ledger time, for the Triage table and detail and the Incident header. Text only: the
numbers come from ``AlertGroup`` (``services.alerts.groups()``), money from ``format_minor``."""

from __future__ import annotations

from collections.abc import Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from incidentbook.clock import parse_iso
from incidentbook.core.alerts.model import AlertGroup
from incidentbook.money import format_minor

UTC_ZONE = ZoneInfo("UTC")


def workspace_zone(name: str) -> ZoneInfo:
    """The workspace's time zone (``workspace.timezone``); UTC when the name is unknown (the
    app keeps working; ``alerts groups`` is where a bad name is reported)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC_ZONE


def has_impact(group: AlertGroup) -> bool:
    """A reconciler group (its impact is known); other sources' groups keep their counts."""
    return group.accounts is not None


def accounts_text(accounts: int | None) -> str:
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


def money_text(delta_minor_by_currency: Mapping[str, int] | None) -> str:
    """Every currency: '32,088.57 EUR · 4,724,185 JPY' ('—' when no money moved)."""
    return " · ".join(money_parts(delta_minor_by_currency)) or "—"


def money_short(delta_minor_by_currency: Mapping[str, int] | None) -> str:
    """The first currency and how many more: '32,088.57 EUR +2' (narrow tables)."""
    parts = money_parts(delta_minor_by_currency)
    if not parts:
        return "—"
    return parts[0] + (f" +{len(parts) - 1}" if len(parts) > 1 else "")


def bad_window(first_bad_at: str | None, last_bad_at: str | None, zone: ZoneInfo) -> str | None:
    """'2026-10-17 02:02–07:50' in ``zone`` (both dates when the window spans days); None
    when no finding says when its entries were recorded."""
    if not first_bad_at or not last_bad_at:
        return None
    first = parse_iso(first_bad_at).astimezone(zone)
    last = parse_iso(last_bad_at).astimezone(zone)
    end = f"{last:%H:%M}" if first.date() == last.date() else f"{last:%Y-%m-%d %H:%M}"
    return f"{first:%Y-%m-%d %H:%M}–{end}"


def impact_cell(group: AlertGroup) -> str:
    """One table cell: '12 accounts · Δ 1,204.33 EUR +2', or '3 firing' for other groups."""
    if not has_impact(group):
        return f"{group.firing:,} firing"
    money = money_short(group.delta_minor_by_currency)
    return accounts_text(group.accounts) + ("" if money == "—" else f" · Δ {money}")


def impact_detail(group: AlertGroup, zone: ZoneInfo) -> list[str]:
    """The detail panel's lines: accounts, Δ one currency a line, the bad-entry window."""
    if not has_impact(group):
        return []
    lines = [accounts_text(group.accounts)]
    parts = money_parts(group.delta_minor_by_currency)
    if parts:
        lines.append("Δ " + parts[0])
        lines.extend("  " + p for p in parts[1:])
    window = bad_window(group.first_bad_at, group.last_bad_at, zone)
    if window:
        lines.append(f"bad entries (ledger time, {zone.key}):")
        lines.append("  " + window)
    return lines


def impact_line(group: AlertGroup, zone: ZoneInfo) -> str:
    """One line for a header: 'duplicate_posting: 10 accounts · Δ 32,088.57 EUR · 4,724,185 JPY
    · bad entries 2026-10-17 02:02–07:50 (ledger time, Europe/Berlin)'."""
    parts = [accounts_text(group.accounts)]
    money = money_parts(group.delta_minor_by_currency)
    if money:
        parts.append("Δ " + " · ".join(money))
    window = bad_window(group.first_bad_at, group.last_bad_at, zone)
    if window:
        parts.append(f"bad entries {window} (ledger time, {zone.key})")
    return f"{group.key}: " + " · ".join(parts)
