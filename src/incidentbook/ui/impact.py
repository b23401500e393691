"""A group's impact as the app shows it (DESIGN §4): accounts, Δ per currency and the bad-entry
window in ledger time, for the Triage table and detail and the Incident header; and the
Incident detail's deploy context and sender links. Text only: the numbers come from
``AlertGroup`` (``services.alerts.groups()``), money from ``format_minor``, the changes from
``services.changes``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from incidentbook.core.alerts.model import AlertGroup
from incidentbook.core.alerts.model import sender_context as read_sender_context
from incidentbook.errors import NotFoundError
from incidentbook.present import (
    accounts_text,
    bad_window,
    change_before_text,
    money_parts,
    zone_named,
)

if TYPE_CHECKING:
    from incidentbook.core.changes.model import DeployContext
    from incidentbook.core.incidents.model import IncidentState
    from incidentbook.services import Services

UTC_ZONE = ZoneInfo("UTC")


def workspace_zone(name: str) -> ZoneInfo:
    """The workspace's time zone (``workspace.timezone``); UTC when the name is unknown (the
    app keeps working; ``alerts groups`` is where a bad name is reported)."""
    return zone_named(name) or UTC_ZONE


def has_impact(group: AlertGroup) -> bool:
    """A reconciler group (its impact is known); other sources' groups keep their counts."""
    return group.accounts is not None


def money_text(delta_minor_by_currency: Mapping[str, int] | None) -> str:
    """Every currency: '32,088.57 EUR · 4,724,185 JPY' ('—' when no money moved)."""
    return " · ".join(money_parts(delta_minor_by_currency)) or "—"


def money_short(delta_minor_by_currency: Mapping[str, int] | None) -> str:
    """The first currency and how many more: '32,088.57 EUR +2' (narrow tables)."""
    parts = money_parts(delta_minor_by_currency)
    if not parts:
        return "—"
    return parts[0] + (f" +{len(parts) - 1}" if len(parts) > 1 else "")


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


def deploy_lines(deploys: DeployContext, zone: ZoneInfo) -> list[str]:
    """The changes before detection, one a line: 'api v2 deployed 01:55, 7 minutes before
    the first duplicate (api)'."""
    anchor = deploys.anchor
    return [
        change_before_text(
            p.change.summary, p.change.at, p.seconds_before, anchor.kind, anchor.check, zone
        )
        + f" ({p.change.source})"
        for p in deploys.changes
    ]


SENDER_ALERTS_READ = 20  # the Incident screen reads the sender context of its first alerts


def sender_context_lines(annotations: dict[str, str]) -> list[str]:
    """An alert's sender context (links, images, client) as the app's detail lines."""
    sender = read_sender_context(annotations)
    lines = []
    if sender.client or sender.client_url:
        lines.append(f"client {sender.client or '-'} {sender.client_url or ''}".rstrip())
    lines += [f"link {x.get('text') or ''} {x.get('href', '')}".replace("  ", " ")
              for x in sender.links]  # fmt: skip
    lines += [f"image {x.get('alt') or ''} {x.get('src', '')}".replace("  ", " ")
              for x in sender.images]  # fmt: skip
    return lines


def sender_context(services: Services, incident: IncidentState) -> list[str]:
    """The sender context of the incident's first alerts, without repeats."""
    lines: list[str] = []
    for fingerprint in incident.alerts[:SENDER_ALERTS_READ]:
        try:
            alert = services.alerts.get(fingerprint)
        except NotFoundError:
            continue
        for line in sender_context_lines(alert.annotations):
            if line not in lines:
                lines.append(line)
    return lines
