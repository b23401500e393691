"""Alert values and the pure decisions about them (DESIGN §5); no SQL.

An alert is identified by its fingerprint (or PagerDuty dedup_key). Each ingest is an event on
the stream ``alert:<fingerprint>``; the ``alerts`` table is the projection of those events:

- firing, not known              -> ``alert.fired``    (new alert, one occurrence)
- firing, already firing         -> ``alert.repeated`` (occurrences + 1, last_seen moves; the
                                   event carries the alert's name and only the descriptive
                                   fields that changed, so a sender that repeats an unchanged
                                   alert every few minutes does not copy it into the log)
- firing, resolved, new start    -> ``alert.refired``  (a new episode of the same alert)
- resolved, firing               -> ``alert.resolved``
- anything else                  -> nothing recorded (a dedup hit)

Alertmanager alerts (``episodes_by_start=True``) are keyed by ``(fingerprint, startsAt)``: a
firing alert with a newer ``startsAt`` is a new episode even if the resolve was never seen, and
a copy of an older episode (a late retry) is ``stale`` and changes nothing. PagerDuty's
``alert.acknowledged`` is recorded on the alert's stream.

``decide`` is that rule, ``apply`` / ``derive`` the fold of an alert's events into its state.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from incidentbook.clock import parse_iso, to_iso
from incidentbook.core.events.model import Event
from incidentbook.errors import UsageError
from incidentbook.present import accounts_text, money_parts

ALERT_STATUSES = ("firing", "resolved")
ALERT_SEVERITIES = ("critical", "error", "warning", "info")
STREAM_PREFIX = "alert:"

FIRED = "alert.fired"
REPEATED = "alert.repeated"
REFIRED = "alert.refired"
RESOLVED = "alert.resolved"
JOINED = "alert.joined_incident"
ACKNOWLEDGED = "alert.acknowledged"

OUTCOMES = (
    "new",
    "repeated",
    "refired",
    "resolved",
    "unchanged",
    "stale",
    "replayed",
    "acknowledged",
    "ignored",
)
# Outcomes that found the alert already recorded as it is: what /metrics counts as dedup hits.
DEDUP_HITS = ("repeated", "unchanged", "stale", "replayed")


@dataclass(frozen=True)
class NativeAlert:
    """The native alert shape of DESIGN §5, validated."""

    source: str
    name: str
    fingerprint: str
    status: str
    severity: str
    summary: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    starts_at: str = ""
    ends_at: str | None = None

    @classmethod
    def from_dict(cls, raw: Any) -> NativeAlert:
        """Validate one native JSON object; errors name the field."""
        if not isinstance(raw, dict):
            raise UsageError("alert must be a JSON object")

        def text(name: str, *, required: bool = True) -> str:
            value = raw.get(name)
            if value is None or value == "":
                if required:
                    raise UsageError(f"field {name!r} is required")
                return ""
            if not isinstance(value, str):
                raise UsageError(f"field {name!r} must be a string")
            return value

        def mapping(name: str) -> dict[str, str]:
            value = raw.get(name) or {}
            if not isinstance(value, dict):
                raise UsageError(f"field {name!r} must be an object")
            return {str(k): str(v) for k, v in value.items()}

        status = text("status")
        if status not in ALERT_STATUSES:
            raise UsageError(f"field 'status' must be firing or resolved, not {status!r}")
        severity = text("severity", required=False) or "warning"
        if severity not in ALERT_SEVERITIES:
            raise UsageError(
                f"field 'severity' must be one of {', '.join(ALERT_SEVERITIES)}, not {severity!r}"
            )
        starts_at = normalize_time(text("starts_at"), "starts_at")
        ends_raw = text("ends_at", required=False)
        return cls(
            source=text("source"),
            name=text("name"),
            fingerprint=text("fingerprint"),
            status=status,
            severity=severity,
            summary=text("summary", required=False),
            labels=mapping("labels"),
            annotations=mapping("annotations"),
            starts_at=starts_at,
            ends_at=normalize_time(ends_raw, "ends_at") if ends_raw else None,
        )

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in _NATIVE_FIELDS}
        out["labels"] = dict(self.labels)
        out["annotations"] = dict(self.annotations)
        return out


_NATIVE_FIELDS = tuple(f.name for f in fields(NativeAlert))


def normalize_time(value: str, name: str) -> str:
    try:
        return to_iso(parse_iso(value))
    except ValueError:
        raise UsageError(f"field {name!r} is not an ISO-8601 time: {value!r}") from None


def group_key_for(alert: NativeAlert, group_by: list[str]) -> str:
    """Like Alertmanager's group_by; the default (alertname) groups by alert name."""
    parts = []
    for label in group_by:
        value = alert.name if label == "alertname" else alert.labels.get(label, "")
        parts.append(value if len(group_by) == 1 and label == "alertname" else f"{label}={value}")
    return ",".join(parts)


@dataclass(frozen=True)
class AlertState:
    fingerprint: str
    source: str
    name: str
    status: str
    severity: str
    summary: str
    labels: dict[str, str]
    annotations: dict[str, str]
    group_key: str
    starts_at: str
    ends_at: str | None
    first_seen: str
    last_seen: str
    occurrences: int = 1
    episodes: int = 1
    incident_id: str | None = None
    last_seq: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def indexed_view(state: AlertState | None) -> tuple[Any, ...] | None:
    """What of an alert its group's search document is built from (``search.documents``):
    when this changes, the group must be indexed again."""
    if state is None:
        return None
    return (
        state.name, state.status, state.severity, state.summary, state.labels,
        state.annotations, state.group_key, state.first_seen, state.incident_id,
    )  # fmt: skip


def apply(state: AlertState | None, event: Event) -> AlertState:
    """Fold one alert event into the alert's state (pure)."""
    data = event.data
    at = event.recorded_at
    if state is None:
        if event.type not in (FIRED, RESOLVED):
            raise ValueError(f"event {event.seq} ({event.type}) precedes {event.stream}'s first")
        alert = data["alert"]
        return AlertState(
            fingerprint=alert["fingerprint"],
            source=alert["source"],
            name=alert["name"],
            status=alert["status"],
            severity=alert["severity"],
            summary=alert["summary"],
            labels=alert["labels"],
            annotations=alert["annotations"],
            group_key=data["group_key"],
            starts_at=alert["starts_at"],
            ends_at=alert["ends_at"],
            first_seen=at,
            last_seen=at,
            last_seq=event.seq,
        )
    # one copy per event (it costs a whole __init__): an alert batch folds thousands
    changes: dict[str, Any] = {"last_seen": at, "last_seq": event.seq}
    if event.type == REPEATED:
        changes.update(occurrences=state.occurrences + 1, **_refresh(data))
    elif event.type == REFIRED:
        changes.update(
            status="firing",
            starts_at=data["alert"]["starts_at"],
            ends_at=None,
            occurrences=state.occurrences + 1,
            episodes=state.episodes + 1,
            **_refresh(data),
        )
    elif event.type == RESOLVED:
        changes.update(status="resolved", ends_at=data["alert"]["ends_at"])
    elif event.type == JOINED:
        changes["incident_id"] = data["incident_id"]
    # dataclasses.replace() walks the fields first; the instance dict already has them all
    return AlertState(**{**vars(state), **changes})


def derive(events: list[Event]) -> AlertState | None:
    state: AlertState | None = None
    for event in events:
        state = apply(state, event)
    return state


_REFRESHED = ("severity", "summary", "labels", "annotations")


def _refresh(data: dict[str, Any]) -> dict[str, Any]:
    """The mutable descriptive fields a re-sent alert may update (those its event carries)."""
    alert = data.get("alert", {})
    return {k: alert[k] for k in _REFRESHED if k in alert}


def changed_fields(state: AlertState, alert: NativeAlert) -> dict[str, Any]:
    """A repeat's event data: the alert's name (for the timeline) and the descriptive fields
    that differ from the stored alert (events before this carried them all; ``apply`` folds
    either)."""
    changed: dict[str, Any] = {"name": alert.name}
    for key in _REFRESHED:
        value = getattr(alert, key)
        if value != getattr(state, key):
            changed[key] = dict(value) if isinstance(value, dict) else value
    return changed


def decide(
    state: AlertState | None, alert: NativeAlert, episodes_by_start: bool
) -> tuple[str | None, str]:
    """The one dedup rule: (event type to record or None, outcome)."""
    if state is None:
        return (FIRED, "new") if alert.status == "firing" else (RESOLVED, "resolved")
    if episodes_by_start:
        # Alertmanager: an episode is (fingerprint, startsAt); ISO-8601 UTC text sorts by time.
        # Compared to the millisecond: the webhook carries Go's nanoseconds, the v2 API's
        # listing (a dump to re-deliver) only milliseconds, for the same episode.
        new_start, old_start = alert.starts_at[:23], state.starts_at[:23]
        if new_start < old_start:
            return None, "stale"
        if alert.status == "firing":
            if new_start > old_start:
                return REFIRED, "refired"
            return (REPEATED, "repeated") if state.status == "firing" else (None, "unchanged")
        return (RESOLVED, "resolved") if state.status == "firing" else (None, "unchanged")
    if alert.status == "firing" and state.status == "firing":
        return REPEATED, "repeated"
    if alert.status == "firing" and alert.starts_at != state.starts_at:
        return REFIRED, "refired"
    if alert.status == "resolved" and state.status == "firing":
        return RESOLVED, "resolved"
    return None, "unchanged"


def last_acknowledged_at(events: list[Event]) -> str | None:
    """When the sender last acknowledged the current episode, if it did."""
    acked: str | None = None
    for event in events:
        if event.type in (FIRED, REFIRED):
            acked = None
        elif event.type == ACKNOWLEDGED:
            acked = event.recorded_at
    return acked


def check_status(status: str) -> str:
    """A status to list alerts by: firing, resolved or all."""
    if status not in (*ALERT_STATUSES, "all"):
        raise UsageError(f"unknown status {status!r}; choose firing, resolved or all")
    return status


def closing_alert(state: AlertState, ends_at: str) -> NativeAlert:
    """The resolved copy of a stored alert (PagerDuty's resolve names only its key)."""
    return NativeAlert(
        source=state.source,
        name=state.name,
        fingerprint=state.fingerprint,
        status="resolved",
        severity=state.severity,
        summary=state.summary,
        labels=state.labels,
        annotations=state.annotations,
        starts_at=state.starts_at,
        ends_at=ends_at,
    )


def worst_severity(severities: list[str]) -> str:
    """The most severe of some alerts' severities (critical first)."""
    return min(severities, key=ALERT_SEVERITIES.index)


@dataclass
class IngestResult:
    counts: Counter[str] = field(default_factory=Counter)
    fingerprints: list[str] = field(default_factory=list)
    truncated_alerts: int = 0

    def to_dict(self) -> dict[str, Any]:
        keys = (*OUTCOMES, "joined")
        out: dict[str, Any] = {k: self.counts.get(k, 0) for k in keys}
        out["received"] = sum(self.counts[k] for k in OUTCOMES)
        if self.truncated_alerts:
            out["truncated_alerts"] = self.truncated_alerts
        return out

    @property
    def dedup_hits(self) -> int:
        return sum(self.counts[k] for k in DEDUP_HITS)

    def merge(self, other: IngestResult) -> None:
        self.counts.update(other.counts)
        self.fingerprints.extend(other.fingerprints)
        self.truncated_alerts += other.truncated_alerts


@dataclass(frozen=True)
class GroupImpact:
    """What a group's findings did (DESIGN §4, "A group's impact"): distinct accounts, the
    sum of its findings' deltas per currency (integer minor units), and the ledger time of the
    entries behind them (``first_bad_at``/``last_bad_at``, UTC text; None when no finding
    says, e.g. an account without entries)."""

    accounts: int
    delta_minor_by_currency: dict[str, int]
    first_bad_at: str | None
    last_bad_at: str | None


def group_incident_title(
    group_key: str, firing: int, check: str | None = None, impact: GroupImpact | None = None
) -> str:
    """The title of an incident opened from an alert group. A group with an impact (the
    reconciler's) reads '<check>: 45 accounts, Δ 32,088.57 EUR · 4,724,185 JPY' (no Δ part
    when no money moved; issue 12); any other '<group key>: 12 alerts firing'. Built here in
    the core, not in ui/ or cli/, because it is the incident's stored title (its events carry
    it); the words and the money come from ``incidentbook.present``."""
    if impact is None:
        return f"{group_key}: {firing} alert{'s' if firing != 1 else ''} firing"
    title = f"{check or group_key}: {accounts_text(impact.accounts)}"
    parts = money_parts(impact.delta_minor_by_currency)
    return f"{title}, Δ {' · '.join(parts)}" if parts else title


@dataclass(frozen=True)
class AlertGroup:
    """Firing alerts sharing a group key: one incident candidate. The impact fields are
    those of its ``GroupImpact`` (the reconciler's groups); None for a group without one
    (other sources' alerts: they keep their counts only)."""

    key: str
    firing: int
    severity: str
    since: str
    last_seen: str
    incident_id: str | None
    accounts: int | None = None
    delta_minor_by_currency: dict[str, int] | None = None
    first_bad_at: str | None = None
    last_bad_at: str | None = None

    def with_impact(self, impact: GroupImpact | None) -> AlertGroup:
        if impact is None:
            return self
        return replace(
            self,
            accounts=impact.accounts,
            delta_minor_by_currency=dict(impact.delta_minor_by_currency),
            first_bad_at=impact.first_bad_at,
            last_bad_at=impact.last_bad_at,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# What a PagerDuty trigger carries beside its payload, kept on the alert as annotations (no
# schema change): ``links`` and ``images`` as JSON arrays, ``client`` and ``client_url`` as
# text. The prefix keeps them apart from ``custom_details`` keys, which share annotations.
SENDER_PREFIX = "pagerduty."
SENDER_KEYS = ("links", "images", "client", "client_url")


@dataclass(frozen=True)
class SenderContext:
    """An alert's sender context: links (href, text), images (src, href, alt), client."""

    links: tuple[dict[str, str], ...] = ()
    images: tuple[dict[str, str], ...] = ()
    client: str | None = None
    client_url: str | None = None

    def __bool__(self) -> bool:
        return bool(self.links or self.images or self.client or self.client_url)

    def to_dict(self) -> dict[str, Any]:
        return {
            "links": [dict(x) for x in self.links],
            "images": [dict(x) for x in self.images],
            "client": self.client,
            "client_url": self.client_url,
        }


def sender_context(annotations: dict[str, str]) -> SenderContext:
    """The sender context kept in an alert's annotations (read defensively)."""

    def items(key: str) -> tuple[dict[str, str], ...]:
        try:
            value = json.loads(annotations.get(SENDER_PREFIX + key, "[]"))
        except ValueError:
            return ()
        if not isinstance(value, list):
            return ()
        return tuple(
            {str(k): str(v) for k, v in x.items() if v is not None}
            for x in value
            if isinstance(x, dict)
        )

    return SenderContext(
        links=items("links"),
        images=items("images"),
        client=annotations.get(SENDER_PREFIX + "client") or None,
        client_url=annotations.get(SENDER_PREFIX + "client_url") or None,
    )
