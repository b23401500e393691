"""Alertmanager's webhook payload (version 4) and its v2 API's alert listing, parsed into
native alerts keyed by (fingerprint, startsAt)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from incidentbook.clock import parse_iso, to_iso
from incidentbook.core.alerts.formats.common import (
    DEDUP_KEY_MAX,
    Collector,
    PayloadError,
    kind_of,
    map_severity,
)
from incidentbook.core.alerts.model import NativeAlert

# Alertmanager writes Go's zero time for "no end known yet".
GO_ZERO_TIME_PREFIX = "0001-01-01T00:00:00"


@dataclass(frozen=True)
class AlertmanagerPayload:
    """One Alertmanager webhook notification (version 4): a group's alerts, re-sent whole."""

    alerts: list[NativeAlert]
    group_key: str
    receiver: str
    status: str
    truncated_alerts: int = 0
    group_labels: dict[str, str] = field(default_factory=dict)


def parse_alertmanager(raw: Any) -> AlertmanagerPayload:
    """Validate an Alertmanager webhook payload; every alert keyed by (fingerprint, startsAt)."""
    if not isinstance(raw, dict):
        raise PayloadError([f"body: must be a JSON object, not {kind_of(raw)}"])
    c = Collector()
    version = raw.get("version")
    if version is None:
        c.fail("version", 'is required (Alertmanager webhook payloads carry "4")')
    elif version != "4":
        c.fail("version", f'must be "4", not {json.dumps(version)}')
    group_key = c.text(raw, "groupKey", "groupKey", required=False) or ""
    receiver = c.text(raw, "receiver", "receiver", required=False) or ""
    status = c.text(raw, "status", "status", required=False) or ""
    if status and status not in ("firing", "resolved"):
        c.fail("status", f"must be firing or resolved, not {status!r}")
    truncated = raw.get("truncatedAlerts", 0)
    if truncated is None:
        truncated = 0
    if isinstance(truncated, bool) or not isinstance(truncated, int) or truncated < 0:
        c.fail("truncatedAlerts", f"must be a non-negative integer, not {json.dumps(truncated)}")
        truncated = 0
    group_labels = c.mapping(raw, "groupLabels", "groupLabels")
    items = raw.get("alerts")
    alerts: list[NativeAlert] = []
    if items is None:
        c.fail("alerts", "is required")
    elif not isinstance(items, list):
        c.fail("alerts", f"must be an array, not {kind_of(items)}")
    else:
        # Copies of one alert (fingerprint and startsAt) in one notification are one
        # occurrence: the last copy wins, in the place of the first.
        by_key: dict[tuple[str, str], NativeAlert] = {}
        for index, item in enumerate(items):
            alert = _alertmanager_alert(c, item, f"alerts[{index}]")
            if alert is not None:
                by_key[(alert.fingerprint, alert.starts_at)] = alert
        alerts = list(by_key.values())
    if c.errors:
        raise PayloadError(c.errors)
    return AlertmanagerPayload(
        alerts=alerts,
        group_key=group_key,
        receiver=receiver,
        status=status,
        truncated_alerts=truncated,
        group_labels=group_labels,
    )


def parse_alertmanager_api_alerts(raw: list[Any], now: str) -> AlertmanagerPayload:
    """Alerts as Alertmanager's API lists them (``GET /api/v2/alerts``, a JSON array): a dump
    to re-deliver what a receiver missed. Each alert is firing unless its ``endsAt`` passed."""
    alerts: list[Any] = []
    for item in raw:
        if isinstance(item, dict):
            ends = item.get("endsAt")
            ended = isinstance(ends, str) and not ends.startswith(GO_ZERO_TIME_PREFIX)
            try:
                past = ended and to_iso(parse_iso(str(ends))) <= now
            except ValueError:
                past = False  # reported by the payload parser, naming the field
            item = {**item, "status": "resolved" if past else "firing"}
        alerts.append(item)
    return parse_alertmanager(
        {"version": "4", "groupKey": "alertmanager-api-dump", "status": "", "alerts": alerts}
    )


def _alertmanager_alert(c: Collector, item: Any, where: str) -> NativeAlert | None:
    if not isinstance(item, dict):
        c.fail(where, f"must be an object, not {kind_of(item)}")
        return None
    before = len(c.errors)
    status = c.text(item, "status", f"{where}.status")
    if status is not None and status not in ("firing", "resolved"):
        c.fail(f"{where}.status", f"must be firing or resolved, not {status!r}")
    fingerprint = c.text(item, "fingerprint", f"{where}.fingerprint")
    if fingerprint is not None and len(fingerprint) > DEDUP_KEY_MAX:
        c.fail(f"{where}.fingerprint", f"longer than {DEDUP_KEY_MAX} characters")
    if not isinstance(item.get("labels"), dict):
        c.fail(f"{where}.labels", "is required and must be an object")
    labels = c.mapping(item, "labels", f"{where}.labels")
    annotations = c.mapping(item, "annotations", f"{where}.annotations")
    starts_at = c.time(c.text(item, "startsAt", f"{where}.startsAt"), f"{where}.startsAt")
    ends_raw = c.text(item, "endsAt", f"{where}.endsAt", required=False)
    ends_at = None
    if ends_raw is not None and not ends_raw.startswith(GO_ZERO_TIME_PREFIX):
        ends_at = c.time(ends_raw, f"{where}.endsAt")
    if len(c.errors) > before:
        return None
    assert status is not None and fingerprint is not None and starts_at is not None
    return NativeAlert(
        source="alertmanager",
        name=labels.get("alertname") or "unnamed",
        fingerprint=fingerprint,
        status=status,
        severity=map_severity(labels.get("severity")),
        summary=annotations.get("summary") or annotations.get("description") or "",
        labels=labels,
        annotations=annotations,
        starts_at=starts_at,
        ends_at=ends_at,
    )
