"""Alert payload formats (DESIGN §5): Alertmanager webhook v4, PagerDuty Events v2, native lines.

Each parser is pure: it turns decoded JSON into validated values or raises ``PayloadError``
with one message per problem, each naming the offending field (``alerts[2].startsAt: …``), so
the receiver can answer 400 with the list and the CLI can print it next to a line number.
Nothing here touches the database.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from incidentbook.clock import parse_iso, to_iso
from incidentbook.core.alerts import ALERT_SEVERITIES, NativeAlert
from incidentbook.errors import UsageError

FORMATS = ("native", "alertmanager", "pagerduty")

# Alertmanager writes Go's zero time for "no end known yet".
GO_ZERO_TIME_PREFIX = "0001-01-01T00:00:00"
PAGERDUTY_ACTIONS = ("trigger", "acknowledge", "resolve")
DEDUP_KEY_MAX = 255
SUMMARY_MAX = 1024

# Prometheus rules use many severity words; map them onto the four incidentbook knows.
SEVERITY_WORDS: dict[str, str] = {
    "critical": "critical",
    "crit": "critical",
    "page": "critical",
    "emergency": "critical",
    "fatal": "critical",
    "high": "critical",
    "p1": "critical",
    "error": "error",
    "err": "error",
    "major": "error",
    "p2": "error",
    "warning": "warning",
    "warn": "warning",
    "minor": "warning",
    "medium": "warning",
    "p3": "warning",
    "info": "info",
    "informational": "info",
    "low": "info",
    "none": "info",
    "notice": "info",
    "p4": "info",
    "p5": "info",
}


class PayloadError(UsageError):
    """An invalid payload: every problem found, each naming its field."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors or ["invalid payload"]
        super().__init__("; ".join(self.errors))


def decode_json(body: bytes | str, where: str = "body") -> Any:
    """Decode a request body or a file line; a syntax error names the body and position."""
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        raise PayloadError([f"{where}: not UTF-8 text"]) from None
    except json.JSONDecodeError as exc:
        raise PayloadError([f"{where}: not valid JSON ({exc.msg} at position {exc.pos})"]) from None


def map_severity(value: str | None) -> str:
    if not value:
        return "warning"
    return SEVERITY_WORDS.get(value.strip().lower(), "warning")


class _Collector:
    """Collects field errors so one response lists every problem, not just the first."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def fail(self, where: str, message: str) -> None:
        self.errors.append(f"{where}: {message}")

    def text(
        self, obj: dict[str, Any], key: str, where: str, *, required: bool = True
    ) -> str | None:
        value = obj.get(key)
        if value is None or value == "":
            if required:
                self.fail(where, "is required")
            return None
        if not isinstance(value, str):
            self.fail(where, f"must be a string, not {_kind(value)}")
            return None
        return value

    def mapping(self, obj: dict[str, Any], key: str, where: str) -> dict[str, str]:
        value = obj.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(where, f"must be an object, not {_kind(value)}")
            return {}
        out: dict[str, str] = {}
        for k, v in value.items():
            if isinstance(v, str):
                out[str(k)] = v
            elif v is None or isinstance(v, bool | int | float):
                out[str(k)] = "" if v is None else json.dumps(v)
            else:
                out[str(k)] = json.dumps(v, sort_keys=True)
        return out

    def time(self, value: str | None, where: str) -> str | None:
        if value is None:
            return None
        try:
            return to_iso(parse_iso(value))
        except ValueError:
            self.fail(where, f"is not an RFC 3339 time: {value!r}")
            return None


def _kind(value: Any) -> str:
    return {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }.get(type(value), "null" if value is None else type(value).__name__)


# -- Alertmanager ------------------------------------------------------------------------------


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
        raise PayloadError([f"body: must be a JSON object, not {_kind(raw)}"])
    c = _Collector()
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
        c.fail("alerts", f"must be an array, not {_kind(items)}")
    else:
        for index, item in enumerate(items):
            alert = _alertmanager_alert(c, item, f"alerts[{index}]")
            if alert is not None:
                alerts.append(alert)
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


def _alertmanager_alert(c: _Collector, item: Any, where: str) -> NativeAlert | None:
    if not isinstance(item, dict):
        c.fail(where, f"must be an object, not {_kind(item)}")
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


# -- PagerDuty Events API v2 -------------------------------------------------------------------


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
        raise PayloadError([f"body: must be a JSON object, not {_kind(raw)}"])
    c = _Collector()
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
        if dedup_key is None and not c.errors:
            dedup_key = make_dedup_key()
            generated = True
            if alert is not None:
                alert = _with_fingerprint(alert, dedup_key)
    if c.errors or action is None or dedup_key is None:
        raise PayloadError(c.errors or ["event: invalid"])
    return PagerDutyEvent(action=action, dedup_key=dedup_key, generated_key=generated, alert=alert)


def _pagerduty_alert(
    c: _Collector, payload: dict[str, Any], dedup_key: str | None, now: str | None
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
        starts_at=timestamp or now or to_iso(_utc_now()),
        ends_at=None,
    )


def _with_fingerprint(alert: NativeAlert, fingerprint: str) -> NativeAlert:
    from dataclasses import replace

    return replace(alert, fingerprint=fingerprint)


def _utc_now() -> Any:
    from incidentbook.clock import utc_now

    return utc_now()


# -- native JSON lines -------------------------------------------------------------------------


def parse_native(raw: Any) -> NativeAlert:
    """One native alert (DESIGN §5); errors come from ``NativeAlert.from_dict``."""
    try:
        return NativeAlert.from_dict(raw)
    except PayloadError:
        raise
    except UsageError as exc:
        raise PayloadError([str(exc)]) from None


def line_receipt(fmt: str, line: str) -> str:
    """The receipt key of one input line: re-ingesting the same line is a no-op."""
    digest = hashlib.sha256(line.strip().encode("utf-8")).hexdigest()[:40]
    return f"line:{fmt}:{digest}"


# -- files and pipes ---------------------------------------------------------------------------


@dataclass
class LineError:
    line: int
    errors: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "errors": self.errors}

    def __str__(self) -> str:
        return f"line {self.line}: {'; '.join(self.errors)}"


@dataclass
class FileIngestReport:
    lines: int = 0
    skipped: list[LineError] = field(default_factory=list)
    result: Any = None  # an alerts.IngestResult

    def to_dict(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "skipped": [e.to_dict() for e in self.skipped],
            **(self.result.to_dict() if self.result is not None else {}),
        }


def _parse_line(fmt: str, text: str, now: str) -> Any:
    raw = decode_json(text, "json")
    if fmt == "native":
        return parse_native(raw)
    if fmt == "alertmanager":
        if isinstance(raw, list):
            return parse_alertmanager_api_alerts(raw, now)
        return parse_alertmanager(raw)
    # A trigger without dedup_key gets a key derived from the line, so a re-run finds it again.
    digest = hashlib.sha256(text.strip().encode("utf-8")).hexdigest()[:32]
    return parse_pagerduty(raw, make_dedup_key=lambda: digest, now=now)


def ingest_lines(
    service: Any,
    ctx: Any,
    open_lines: Callable[[], Any],
    fmt: str = "native",
    *,
    on_error: str = "skip",
    batch_size: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> FileIngestReport:
    """Ingest JSON lines (one alert, Alertmanager payload or PagerDuty event per line).

    ``open_lines`` returns an iterable of lines and may be called twice: with
    ``on_error="abort"`` every line is validated first and nothing is written if any fails
    (``PayloadError`` lists them with their line numbers). Native alerts commit in batches of
    ``batch_size``; every line carries a receipt (a hash of the line), so re-ingesting a file,
    or resuming one cut short, changes nothing. ``progress(lines)`` is called after each commit.
    """
    from incidentbook.core.alerts import IngestResult, with_lock_retry

    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; choose {', '.join(FORMATS)}")
    if on_error not in ("skip", "abort"):
        raise UsageError(f"--on-error is skip or abort, not {on_error!r}")
    now = to_iso(ctx.clock())
    report = FileIngestReport(result=IngestResult())

    def parsed() -> Any:
        for number, text in enumerate(open_lines(), start=1):
            if not text.strip():
                continue
            try:
                yield number, text, _parse_line(fmt, text, now), None
            except PayloadError as exc:
                yield number, text, None, LineError(number, exc.errors)

    if on_error == "abort":
        problems = [error for _n, _t, _v, error in parsed() if error is not None]
        if problems:
            raise PayloadError([str(p) for p in problems[:20]] + _more(len(problems) - 20))

    alerts: list[NativeAlert] = []
    keys: list[str | None] = []

    def flush() -> None:
        if alerts:
            batch, batch_keys = list(alerts), list(keys)
            report.result.merge(with_lock_retry(lambda: service.ingest(ctx, batch, batch_keys)))
            alerts.clear()
            keys.clear()
        if progress is not None:
            progress(report.lines)

    for number, text, value, error in parsed():
        report.lines = number
        if error is not None:
            report.skipped.append(error)
            continue
        receipt = line_receipt(fmt, text)
        if fmt == "native":
            alerts.append(value)
            keys.append(receipt)
            if len(alerts) >= batch_size:
                flush()
        elif fmt == "alertmanager":
            report.result.merge(service.ingest_alertmanager(ctx, value, receipt))
        else:
            report.result.merge(service.ingest_pagerduty(ctx, value, receipt))
        if fmt != "native" and progress is not None and number % 100 == 0:
            progress(number)
    flush()
    return report


def _more(count: int) -> list[str]:
    return [f"… and {count} more invalid lines"] if count > 0 else []
