"""Change events as values: parsing a PagerDuty change event, its dedup key, and which changes
came before an incident's first bad entry (pure: no SQL).

A change's id is its dedup key: the SHA-256 (first 32 hex digits) of the event's canonical
JSON (keys sorted) without ``routing_key``, so a replayed identical event is one change, and a
rotated routing key does not make an old event new. Two deploys with the same summary, source
and timestamp are the same change; a sender that omits ``timestamp`` and repeats an event
repeats the change (PagerDuty's client always stamps its ``submit``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from incidentbook.clock import parse_iso
from incidentbook.core.alerts.formats.common import Collector, PayloadError, kind_of
from incidentbook.core.events.model import Event

CHANGE_FORMAT = "pagerduty-change"  # ``alerts ingest --format``: JSON lines of change events
STREAM_PREFIX = "change:"
RECORDED = "change.recorded"
SUMMARY_MAX = 1024
LINKS_MAX = 50
DEFAULT_WINDOW_S = 2 * 3600
# Where an incident's deploy context is measured back from.
FIRST_BAD_ENTRY = "first_bad_entry"
FIRST_ALERT = "first_alert"


@dataclass(frozen=True)
class Link:
    href: str
    text: str = ""


@dataclass(frozen=True)
class ChangeEvent:
    """A validated change event, before it is stored. ``at`` is the sender's timestamp, or
    ``None`` (then the time it is received)."""

    change_id: str
    summary: str
    source: str
    at: str | None
    custom_details: dict[str, str] = field(default_factory=dict)
    links: tuple[Link, ...] = ()


@dataclass(frozen=True)
class Change:
    """A stored change."""

    id: str
    at: str
    summary: str
    source: str
    custom_details: dict[str, str]
    links: tuple[Link, ...]
    received_at: str
    actor: str

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["links"] = [asdict(link) for link in self.links]
        return out


@dataclass(frozen=True)
class Anchor:
    """The moment an incident's deploy context is measured back from: its first bad ledger
    entry (``check``: the reconciler check that found it), else its first alert."""

    at: str
    kind: str  # FIRST_BAD_ENTRY | FIRST_ALERT
    check: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PriorChange:
    change: Change
    seconds_before: float

    def to_dict(self) -> dict[str, Any]:
        return {**self.change.to_dict(), "seconds_before": self.seconds_before}


@dataclass(frozen=True)
class DeployContext:
    """The changes in the ``window_s`` seconds before ``anchor``, oldest first."""

    anchor: Anchor
    window_s: int
    changes: tuple[PriorChange, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "anchor": self.anchor.to_dict(),
            "window_s": self.window_s,
            "changes": [c.to_dict() for c in self.changes],
        }


def change_key(raw: dict[str, Any]) -> str:
    """The dedup key of a change event: its canonical JSON without ``routing_key``."""
    body = {k: v for k, v in raw.items() if k != "routing_key"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()[:32]


def _storable(c: Collector, where: str, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        c.fail(where, "is not valid Unicode text (a lone surrogate)")
        return None
    return value


def parse_change_event(raw: Any, *, require_routing_key: bool = True) -> ChangeEvent:
    """Validate a PagerDuty change event (``routing_key``, ``payload{summary, source,
    timestamp, custom_details}``, ``links``); ``PayloadError`` names every bad field.
    incidentbook requires ``payload.source`` (PagerDuty does not): a change without a source
    cannot say what changed."""
    if not isinstance(raw, dict):
        raise PayloadError([f"body: must be a JSON object, not {kind_of(raw)}"])
    c = Collector()
    c.text(raw, "routing_key", "routing_key", required=require_routing_key)
    payload = raw.get("payload")
    summary = source = at = None
    details: dict[str, str] = {}
    if not isinstance(payload, dict):
        c.fail("payload", "is required and must be an object")
    else:
        summary = _storable(c, "payload.summary", c.text(payload, "summary", "payload.summary"))
        if summary is not None and len(summary) > SUMMARY_MAX:
            c.fail("payload.summary", f"longer than {SUMMARY_MAX} characters")
        source = _storable(c, "payload.source", c.text(payload, "source", "payload.source"))
        at = c.time(
            c.text(payload, "timestamp", "payload.timestamp", required=False),
            "payload.timestamp",
        )
        details = c.mapping(payload, "custom_details", "payload.custom_details")
        for key, value in details.items():
            _storable(c, f"payload.custom_details.{key}", key + value)
    links = _links(c, raw.get("links"))
    if c.errors:
        raise PayloadError(c.errors)
    assert summary is not None and source is not None
    return ChangeEvent(change_key(raw), summary, source, at, details, links)


def _links(c: Collector, value: Any) -> tuple[Link, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        c.fail("links", f"must be an array, not {kind_of(value)}")
        return ()
    if len(value) > LINKS_MAX:
        c.fail("links", f"more than {LINKS_MAX} links")
        return ()
    out: list[Link] = []
    for i, item in enumerate(value):
        where = f"links[{i}]"
        if not isinstance(item, dict):
            c.fail(where, f"must be an object, not {kind_of(item)}")
            continue
        href = _storable(c, f"{where}.href", c.text(item, "href", f"{where}.href"))
        text = _storable(c, f"{where}.text", c.text(item, "text", f"{where}.text", required=False))
        if href is not None:
            out.append(Link(href, text or ""))
    return tuple(out)


def changes_before(
    changes: list[Change], anchor: Anchor, window_s: int
) -> DeployContext:
    """The changes at or before ``anchor`` and no more than ``window_s`` seconds before it."""
    end = parse_iso(anchor.at)
    start = end - timedelta(seconds=window_s)
    prior = []
    for change in sorted(changes, key=lambda ch: (parse_iso(ch.at), ch.id)):
        when = parse_iso(change.at)
        if start <= when <= end:
            prior.append(PriorChange(change, (end - when).total_seconds()))
    return DeployContext(anchor, window_s, tuple(prior))


def derive(events: list[Event]) -> Change | None:
    """A change from its ``change.recorded`` event (the stream's id is the change's)."""
    for event in events:
        if event.type == RECORDED:
            data = event.data
            return Change(
                id=event.stream.removeprefix(STREAM_PREFIX),
                at=str(data["at"]),
                summary=str(data["summary"]),
                source=str(data["source"]),
                custom_details=dict(data.get("custom_details") or {}),
                links=tuple(
                    Link(str(x.get("href", "")), str(x.get("text", "")))
                    for x in data.get("links") or []
                ),
                received_at=str(data["received_at"]),
                actor=str(data["actor"]),
            )
    return None
