"""PagerDuty Events API v2: trigger, acknowledge and resolve events, keyed by ``dedup_key``;
a trigger's links, images, client and client_url are kept as ``pagerduty.*`` annotations."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from incidentbook.clock import to_iso, utc_now
from incidentbook.core.alerts.formats.common import (
    DEDUP_KEY_MAX,
    Collector,
    PayloadError,
    kind_of,
)
from incidentbook.core.alerts.model import ALERT_SEVERITIES, SENDER_PREFIX, NativeAlert

PAGERDUTY_ACTIONS = ("trigger", "acknowledge", "resolve")
SUMMARY_MAX = 1024
SENDER_ITEMS_MAX = 50


@dataclass(frozen=True)
class PagerDutyEvent:
    """One PagerDuty Events v2 event. ``alert`` is set for a trigger (the firing alert)."""

    action: str
    dedup_key: str
    generated_key: bool
    alert: NativeAlert | None = None


def new_dedup_key() -> str:
    return uuid.uuid4().hex


def parse_pagerduty(
    raw: Any, *, make_dedup_key: Callable[[], str] = new_dedup_key, now: str | None = None
) -> PagerDutyEvent:
    """Validate a PagerDuty Events v2 event.

    ``dedup_key`` is case-sensitive and at most 255 characters; a trigger without one gets a
    generated key (returned to the sender). acknowledge and resolve must name a key.
    """
    if not isinstance(raw, dict):
        raise PayloadError([f"body: must be a JSON object, not {kind_of(raw)}"])
    c = Collector()
    c.text(raw, "routing_key", "routing_key")
    action = c.text(raw, "event_action", "event_action")
    if action is not None and action not in PAGERDUTY_ACTIONS:
        c.fail("event_action", f"must be one of {', '.join(PAGERDUTY_ACTIONS)}, not {action!r}")
        action = None
    dedup_key = c.text(raw, "dedup_key", "dedup_key", required=action in ("acknowledge", "resolve"))
    if dedup_key is not None and len(dedup_key) > DEDUP_KEY_MAX:
        c.fail("dedup_key", f"longer than {DEDUP_KEY_MAX} characters ({len(dedup_key)})")
    alert: NativeAlert | None = None
    generated = False
    if action == "trigger":
        payload = raw.get("payload")
        if not isinstance(payload, dict):
            c.fail("payload", "is required for a trigger and must be an object")
        else:
            alert = _pagerduty_alert(c, payload, dedup_key, now)
            sender = _sender_annotations(c, raw)
            if alert is not None and sender:
                alert = replace(alert, annotations={**alert.annotations, **sender})
        if dedup_key is None and not c.errors:
            dedup_key = make_dedup_key()
            generated = True
            if alert is not None:
                alert = replace(alert, fingerprint=dedup_key)
    if c.errors or action is None or dedup_key is None:
        raise PayloadError(c.errors or ["event: invalid"])
    return PagerDutyEvent(action=action, dedup_key=dedup_key, generated_key=generated, alert=alert)


def _sender_annotations(c: Collector, raw: dict[str, Any]) -> dict[str, str]:
    """A trigger's ``links`` ([{href, text}]), ``images`` ([{src, href, alt}]), ``client`` and
    ``client_url``, as the alert's ``pagerduty.*`` annotations (``SENDER_KEYS``)."""
    out: dict[str, str] = {}
    for key, required in (("links", "href"), ("images", "src")):
        value = raw.get(key)
        if value is None:
            continue
        if not isinstance(value, list) or len(value) > SENDER_ITEMS_MAX:
            c.fail(key, f"must be an array of at most {SENDER_ITEMS_MAX} objects")
            continue
        kept: list[dict[str, str]] = []
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                c.fail(f"{key}[{i}]", f"must be an object, not {kind_of(item)}")
                continue
            fields = {name: c.text(item, name, f"{key}[{i}].{name}", required=name == required)
                      for name in ("href", "text", "src", "alt")}  # fmt: skip
            kept.append({k: v for k, v in fields.items() if v is not None})
        if kept:
            out[SENDER_PREFIX + key] = json.dumps(kept, sort_keys=True)
    for key in ("client", "client_url"):
        text = c.text(raw, key, key, required=False)
        if text is not None:
            out[SENDER_PREFIX + key] = text
    return out


def _pagerduty_alert(
    c: Collector, payload: dict[str, Any], dedup_key: str | None, now: str | None
) -> NativeAlert | None:
    before = len(c.errors)
    summary = c.text(payload, "summary", "payload.summary")
    if summary is not None and len(summary) > SUMMARY_MAX:
        c.fail("payload.summary", f"longer than {SUMMARY_MAX} characters")
    source = c.text(payload, "source", "payload.source")
    severity = c.text(payload, "severity", "payload.severity")
    if severity is not None and severity not in ALERT_SEVERITIES:
        c.fail("payload.severity", f"must be one of {', '.join(ALERT_SEVERITIES)}")
    timestamp = c.time(
        c.text(payload, "timestamp", "payload.timestamp", required=False), "payload.timestamp"
    )
    labels = {"source": source or ""}
    for key in ("component", "group", "class"):
        value = c.text(payload, key, f"payload.{key}", required=False)
        if value is not None:
            labels[key] = value
    details = c.mapping(payload, "custom_details", "payload.custom_details")
    if len(c.errors) > before:
        return None
    assert summary is not None and severity is not None
    # The alert name groups alerts (alertname by default): the event class, else component,
    # else the summary itself.
    name = labels.get("class") or labels.get("component") or summary[:120]
    return NativeAlert(
        source="pagerduty",
        name=name,
        fingerprint=dedup_key or "",
        status="firing",
        severity=severity,
        summary=summary,
        labels=labels,
        annotations=details,
        starts_at=timestamp or now or to_iso(utc_now()),
        ends_at=None,
    )
