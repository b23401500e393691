"""What incidentbook already knows about an incident, for prefilling its postmortem.

Everything comes from the incident's events and the alerts linked to it. Alerts from the
reconciler (source ``reconciler``) carry per-account labels/annotations such as ``account_id``,
``currency``, ``delta_minor``/``delta`` and ``bad_from`` (ledger time: when the earliest entry
behind the finding was recorded); they are read defensively: a missing or malformed value is
skipped, never fatal.

Times (DESIGN §4): for an incident with reconciler alerts, time to detect runs from
``first_bad_at`` (the earliest ``bad_from``; without one, the earliest alert start) to the first
alert, the duration from it to the resolution, time to acknowledge from the first alert to the
FIRST acknowledgement (a reopen and a second acknowledge do not move it). Other incidents keep
detection at the first alert or opening, and acknowledgement from the opening.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlmodel import Session, col, select

from incidentbook.clock import parse_iso, to_iso
from incidentbook.core.batches import chunks
from incidentbook.core.changes.model import FIRST_ALERT, FIRST_BAD_ENTRY, Anchor
from incidentbook.core.events.model import Event
from incidentbook.core.events.store import stream_events
from incidentbook.core.incidents import model as incidents
from incidentbook.core.incidents.timeline import describe
from incidentbook.core.ledger.reconcile.accounts import BALANCE, DUPLICATE
from incidentbook.errors import NotFoundError
from incidentbook.storage.db import Database
from incidentbook.storage.models import AlertRow

# Events about writing the postmortem itself are not part of the incident's story.
DOCUMENT_EVENT_PREFIX = "incident.postmortem"

ACCOUNT_KEYS = ("account_id", "account")
CURRENCY_KEYS = ("currency",)
MINOR_KEYS = ("delta_minor", "difference_minor", "amount_minor", "total_delta_minor")
DECIMAL_KEYS = ("delta", "difference", "amount")


@dataclass
class TimelineEntry:
    at: str
    source: str  # "incident" | "alert"
    text: str
    actor: str = ""
    reason: str = ""


@dataclass
class AlertSummary:
    name: str
    source: str
    severity: str
    count: int
    firing: int
    first_starts_at: str
    first_seen: str
    last_ends_at: str | None


@dataclass
class Money:
    """The summed delta of one reconciler check's alerts in one currency (deltas of different
    checks are kept apart: a duplicate posting also shows as a balance mismatch)."""

    currency: str
    delta_minor: int
    check: str = ""


@dataclass
class CheckImpact:
    """One row of the impact table: a reconciler check's accounts and delta in one currency."""

    check: str
    currency: str
    accounts: int
    delta_minor: int | None  # None: the check moves no money (or no alert says how much)


@dataclass
class Correction:
    """One fix plan's applied batches on the incident (``incident.correction_applied``), summed:
    what the ledger holds of that plan."""

    plan_id: str
    sha256: str
    batches: int
    accounts: int
    reversals: int
    conflicts: int
    reversals_minor_by_currency: dict[str, int]
    balance_change_minor_by_currency: dict[str, int]
    first_at: str
    last_at: str


def corrections_of(events: list[Event]) -> list[Correction]:
    by_plan: dict[str, Correction] = {}
    for e in events:
        if e.type != incidents.CORRECTION_APPLIED:
            continue
        d = e.data
        plan_id = str(d.get("plan_id"))
        c = by_plan.get(plan_id) or Correction(
            plan_id, str(d.get("sha256", "")), 0, 0, 0, 0, {}, {}, e.recorded_at, e.recorded_at
        )
        c.batches += 1
        c.accounts += int(d.get("corrected") or 0)
        c.reversals += int(d.get("reversals") or 0)
        c.conflicts += int(d.get("conflicts") or 0)
        for field_name in ("reversals_minor_by_currency", "balance_change_minor_by_currency"):
            totals = getattr(c, field_name)
            for currency, amount in (d.get(field_name) or {}).items():
                totals[currency] = totals.get(currency, 0) + int(amount)
        c.last_at = e.recorded_at
        by_plan[plan_id] = c
    return list(by_plan.values())


@dataclass
class Facts:
    incident: dict[str, Any]
    timeline: list[TimelineEntry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    alerts: list[AlertSummary] = field(default_factory=list)
    alert_count: int = 0
    from_reconciler: bool = False
    accounts: int | None = None
    money: list[Money] = field(default_factory=list)
    impact: list[CheckImpact] = field(default_factory=list)
    # The cross-check (DESIGN §4): of the accounts with a duplicate posting, how many also had
    # a balance_mismatch alert (the stored balance did not take the copies); the others' stored
    # balance took every copy, so no balance alert fired, yet the customer was charged twice.
    duplicate_accounts: int = 0
    duplicates_failing_balance: int = 0
    first_bad_event: str | None = None
    first_bad_at: str | None = None  # ledger time: the earliest bad_from of reconciler alerts
    first_bad_check: str | None = None  # the reconciler check of that earliest bad_from
    first_acknowledged_at: str | None = None
    first_alert: str | None = None
    detected_at: str = ""
    ttd_s: float | None = None
    tta_s: float | None = None
    ttr_s: float | None = None
    duration_s: float | None = None
    runbooks: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    # Alert names and summaries (the first 500), for matching pre-mortem risks.
    alert_text: str = ""
    corrections: list[Correction] = field(default_factory=list)
    # the reason given when resolving overrode the closure gate (None: it was not overridden)
    resolve_override: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def balance_mismatch_accounts(session: Session, accounts: set[str]) -> set[str]:
    """Those of ``accounts`` with a ``balance_mismatch`` alert (any status, on this incident or
    not), by its contract fingerprint ``balance_mismatch/<account_id>``."""
    prints = sorted(f"{BALANCE}/{account}" for account in accounts)
    found: set[str] = set()
    for chunk in chunks(prints):
        found.update(
            fingerprint.removeprefix(f"{BALANCE}/")
            for fingerprint in session.exec(
                select(AlertRow.fingerprint).where(
                    AlertRow.source == "reconciler", col(AlertRow.fingerprint).in_(chunk)
                )
            )
        )
    return found


def incident_alerts(session: Session, state: incidents.IncidentState) -> list[AlertRow]:
    """Alerts joined to the incident, plus any linked by fingerprint (in chunks, so a
    50,000-alert incident stays under SQLite's bound-variable limit)."""
    rows = {
        r.fingerprint: r
        for r in session.exec(select(AlertRow).where(AlertRow.incident_id == state.id)).all()
    }
    missing = [fp for fp in dict.fromkeys(state.alerts) if fp not in rows]
    for chunk in chunks(missing):
        for row in session.exec(select(AlertRow).where(col(AlertRow.fingerprint).in_(chunk))):
            rows[row.fingerprint] = row
    return sorted(rows.values(), key=lambda r: (r.first_seen, r.fingerprint))


def _json(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _first(maps: list[dict[str, Any]], keys: tuple[str, ...]) -> str | None:
    for mapping in maps:
        for key in keys:
            value = mapping.get(key)
            if value not in (None, ""):
                return str(value).strip()
    return None


def delta_minor_of(labels: dict[str, Any], annotations: dict[str, Any]) -> int | None:
    """The signed money delta of one reconciler alert in minor units, or None."""
    maps = [annotations, labels]
    raw = _first(maps, MINOR_KEYS)
    if raw is not None:
        try:
            return int(Decimal(raw.replace("−", "-").replace(",", "")))
        except (InvalidOperation, ValueError):
            return None
    raw = _first(maps, DECIMAL_KEYS)
    if raw is None:
        return None
    cleaned = raw.replace("−", "-").replace(",", "")
    match = re.match(r"^\s*([+-]?\d+(?:\.\d+)?)", cleaned)
    if not match:
        return None
    number = match.group(1)
    try:
        # "12.34" is major units; a bare integer is already minor units (DESIGN §4).
        return int(Decimal(number) * 100) if "." in number else int(number)
    except (InvalidOperation, ValueError):
        return None


def seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    try:
        return (parse_iso(end) - parse_iso(start)).total_seconds()
    except ValueError:
        return None


def describe_event(event: Event) -> str:
    if event.type == "incident.alerts_linked":
        count = len(event.data.get("fingerprints", []) or [])
        return f"{count} alert{'s' if count != 1 else ''} linked"
    return describe(event.type, event.data)


def collect(session: Session, incident_id: str) -> Facts:
    """Facts for one incident, read in the caller's session (one consistent snapshot)."""
    canonical = incidents.parse_id(incident_id)
    events = stream_events(session, incidents.STREAM_PREFIX + canonical)
    state = incidents.derive(events)
    if state is None:
        raise NotFoundError(f"no incident {canonical}")
    story = [e for e in events if not e.type.startswith(DOCUMENT_EVENT_PREFIX)]
    facts = Facts(incident=state.to_dict(), runbooks=list(state.runbooks))
    facts.timeline = [
        TimelineEntry(e.recorded_at, "incident", describe_event(e), e.actor, e.reason or "")
        for e in story
    ]
    facts.notes = [str(e.data.get("text", "")) for e in story if e.type == incidents.NOTE_ADDED]
    facts.corrections = corrections_of(story)
    forced = [e for e in story if e.type == incidents.RESOLVED and e.data.get("forced")]
    if forced and state.status == "resolved":
        facts.resolve_override = f"{forced[-1].data.get('overrode')} ({forced[-1].reason})"

    rows = incident_alerts(session, state)
    facts.alert_count = len(rows)
    facts.alert_text = " ".join(f"{r.name} {r.summary}" for r in rows[:500])
    by_name: dict[tuple[str, str], list[AlertRow]] = defaultdict(list)
    accounts: set[str] = set()
    money: dict[tuple[str, str], int] = defaultdict(int)
    check_accounts: dict[tuple[str, str], set[str]] = defaultdict(set)
    bad_from: list[tuple[str, str]] = []  # (bad_from, check)
    services: set[str] = set()
    for row in rows:
        by_name[(row.source, row.name)].append(row)
        labels, annotations = _json(row.labels), _json(row.annotations)
        for key in ("service", "services", "job"):
            for name in str(labels.get(key, "") or "").split(","):
                if name.strip():
                    services.add(name.strip())
        if row.source != "reconciler":
            continue
        facts.from_reconciler = True
        account = _first([labels, annotations], ACCOUNT_KEYS)
        if account:
            accounts.add(account)
        delta = delta_minor_of(labels, annotations)
        currency = _first([labels, annotations], CURRENCY_KEYS)
        check = str(labels.get("check") or row.name)
        if account:
            check_accounts[(check, (currency or "").upper())].add(account)
        if delta is not None and currency:
            money[(check, currency.upper())] += delta
        start = annotations.get("bad_from")
        if isinstance(start, str) and seconds_between(start, start) is not None:
            bad_from.append((start, check))
    for (source, name), group in by_name.items():
        ends = [r.ends_at for r in group if r.ends_at]
        firing = sum(1 for r in group if r.status == "firing")
        facts.alerts.append(
            AlertSummary(
                name=name,
                source=source,
                severity=min(
                    (r.severity for r in group), key=lambda s: incidents.SEVERITY_RANK.get(s, 9)
                ),
                count=len(group),
                firing=firing,
                first_starts_at=min(r.starts_at for r in group),
                first_seen=min(r.first_seen for r in group),
                last_ends_at=max(ends) if ends and not firing else None,
            )
        )
    facts.alerts.sort(key=lambda a: (a.first_seen, a.name))
    if facts.from_reconciler:
        facts.accounts = len(accounts)
        facts.money = [Money(cur, money[(chk, cur)], chk) for chk, cur in sorted(money)]
        facts.impact = [
            CheckImpact(chk, cur, len(check_accounts[(chk, cur)]), money.get((chk, cur)))
            for chk, cur in sorted(set(check_accounts) | set(money))
        ]
        earliest = min(bad_from, key=lambda pair: parse_iso(pair[0]), default=None)
        if earliest is not None:
            facts.first_bad_at, facts.first_bad_check = earliest
        duplicated = {a for (chk, _cur), accs in check_accounts.items() if chk == DUPLICATE
                      for a in accs}  # fmt: skip
        facts.duplicate_accounts = len(duplicated)
        facts.duplicates_failing_balance = len(
            duplicated & balance_mismatch_accounts(session, duplicated)
        )
    facts.services = sorted(services)

    for summary in facts.alerts:
        facts.timeline.append(
            TimelineEntry(
                summary.first_seen,
                "alert",
                f"alert fired: {summary.name} ({summary.count} alert"
                f"{'s' if summary.count != 1 else ''}, {summary.source})",
            )
        )
        if summary.last_ends_at:
            facts.timeline.append(
                TimelineEntry(summary.last_ends_at, "alert", f"alerts resolved: {summary.name}")
            )
    facts.timeline.sort(key=lambda t: t.at)

    facts.first_bad_event = min((a.first_starts_at for a in facts.alerts), default=None)
    facts.first_alert = min((a.first_seen for a in facts.alerts), default=None)
    facts.first_acknowledged_at = next(
        (e.recorded_at for e in story if e.type == incidents.ACKNOWLEDGED), None
    )
    detected = min(x for x in (facts.first_alert, state.opened_at) if x)
    facts.detected_at = detected
    facts.ttr_s = seconds_between(state.opened_at, state.resolved_at)
    if facts.from_reconciler:
        # Ledger time: the impact began when the first bad entry was recorded.
        bad_start = facts.first_bad_at or facts.first_bad_event
        impact_start = min(x for x in (bad_start, detected) if x)
        facts.ttd_s = seconds_between(bad_start, detected)
        facts.tta_s = seconds_between(facts.first_alert, facts.first_acknowledged_at)
        facts.duration_s = seconds_between(impact_start, state.resolved_at)
        return facts
    impact_start = min(x for x in (facts.first_bad_event, detected) if x)
    facts.ttd_s = seconds_between(facts.first_bad_event, detected)
    facts.tta_s = seconds_between(state.opened_at, state.acknowledged_at)
    facts.duration_s = seconds_between(impact_start, state.resolved_at)
    return facts


def anchor_of(facts: Facts) -> Anchor | None:
    """Where the incident's deploy context ends: its first bad ledger entry (the reconciler's
    earliest ``bad_from``), else its first alert (its earliest start), else None."""
    if facts.first_bad_at:
        return Anchor(to_iso(parse_iso(facts.first_bad_at)), FIRST_BAD_ENTRY, facts.first_bad_check)
    first = facts.first_bad_event or facts.first_alert
    if first:
        return Anchor(to_iso(parse_iso(first)), FIRST_ALERT)
    return None


def detection_anchor(db: Database, incident_id: str) -> Anchor | None:
    """``anchor_of`` one incident, read in one snapshot (``NotFoundError`` if there is none)."""
    with db.read() as session:
        return anchor_of(collect(session, incident_id))
