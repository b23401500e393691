"""Alertmanager v4 / PagerDuty Events v2 / native parsing: shapes and field-naming errors."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from incidentbook.core.alerts.formats.alertmanager import parse_alertmanager
from incidentbook.core.alerts.formats.common import PayloadError, decode_json, map_severity
from incidentbook.core.alerts.formats.native import parse_native
from incidentbook.core.alerts.formats.pagerduty import parse_pagerduty
from tests.support.payloads import am_alert, am_payload, pd_event


def test_alertmanager_payload_maps_to_native_alerts() -> None:
    parsed = parse_alertmanager(
        am_payload(am_alert(), am_alert("ff", status="resolved", endsAt="2026-10-17T03:00:00Z"))
    )
    first, second = parsed.alerts
    assert (first.source, first.name, first.fingerprint, first.status) == (
        "alertmanager",
        "BalanceMismatch",
        "a1b2c3d4e5f60718",
        "firing",
    )
    assert first.severity == "critical"  # "page" maps to critical
    assert first.summary == "stored balance differs"
    assert first.starts_at == "2026-10-17T02:14:08.123456Z"  # nanoseconds trimmed, UTC
    assert first.ends_at is None  # Go's zero time means "unknown"
    assert second.ends_at == "2026-10-17T03:00:00.000000Z"
    assert parsed.group_key.startswith("{}:")
    assert parsed.truncated_alerts == 0


def test_truncated_alerts_is_kept() -> None:
    assert parse_alertmanager(am_payload(truncatedAlerts=7)).truncated_alerts == 7


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda p: p.pop("version"), "version"),
        (lambda p: p.update(version="3"), "version"),
        (lambda p: p.update(version=4), "version"),
        (lambda p: p.pop("alerts"), "alerts"),
        (lambda p: p.update(alerts={}), "alerts"),
        (lambda p: p.update(truncatedAlerts=-1), "truncatedAlerts"),
        (lambda p: p.update(truncatedAlerts="3"), "truncatedAlerts"),
        (lambda p: p.update(status="burning"), "status"),
        (lambda p: p["alerts"].append("nope"), "alerts[1]"),
        (lambda p: p["alerts"][0].pop("fingerprint"), "alerts[0].fingerprint"),
        (lambda p: p["alerts"][0].update(fingerprint=7), "alerts[0].fingerprint"),
        (lambda p: p["alerts"][0].update(status="pending"), "alerts[0].status"),
        (lambda p: p["alerts"][0].pop("labels"), "alerts[0].labels"),
        (lambda p: p["alerts"][0].update(labels=[]), "alerts[0].labels"),
        (lambda p: p["alerts"][0].update(annotations="x"), "alerts[0].annotations"),
        (lambda p: p["alerts"][0].pop("startsAt"), "alerts[0].startsAt"),
        (lambda p: p["alerts"][0].update(startsAt="yesterday"), "alerts[0].startsAt"),
        (lambda p: p["alerts"][0].update(endsAt="soon"), "alerts[0].endsAt"),
    ],
)
def test_alertmanager_errors_name_the_field(mutate: Any, field: str) -> None:
    payload = am_payload()
    mutate(payload)
    with pytest.raises(PayloadError) as info:
        parse_alertmanager(payload)
    assert any(e.startswith(f"{field}:") for e in info.value.errors), info.value.errors


def test_every_problem_is_listed_at_once() -> None:
    bad = am_payload(am_alert(status="x"), am_alert(startsAt="never"), version="9")
    with pytest.raises(PayloadError) as info:
        parse_alertmanager(bad)
    fields = [e.split(":")[0] for e in info.value.errors]
    assert fields == ["version", "alerts[0].status", "alerts[1].startsAt"]


def test_not_an_object_and_not_json() -> None:
    with pytest.raises(PayloadError, match="body: must be a JSON object"):
        parse_alertmanager([])
    with pytest.raises(PayloadError, match="body: not valid JSON"):
        decode_json(b"{oops")
    with pytest.raises(PayloadError, match="not UTF-8"):
        decode_json(b"\xff\xfe{")


def test_pagerduty_trigger() -> None:
    event = parse_pagerduty(pd_event())
    assert (event.action, event.dedup_key, event.generated_key) == (
        "trigger",
        "Payments-Webhook/42",
        False,
    )
    assert event.alert is not None
    alert = event.alert
    assert (alert.source, alert.name, alert.fingerprint, alert.severity) == (
        "pagerduty",
        "duplicate_posting",
        "Payments-Webhook/42",
        "error",
    )
    assert alert.starts_at == "2026-10-17T00:15:00.000000Z"
    assert alert.annotations == {"accounts": "3", "delta": "-12.00 EUR"}
    assert alert.labels["source"] == "ledger-db"


def test_pagerduty_trigger_without_key_gets_one() -> None:
    raw = pd_event()
    del raw["dedup_key"]
    event = parse_pagerduty(raw, make_dedup_key=lambda: "generated-1")
    assert event.generated_key and event.dedup_key == "generated-1"
    assert event.alert is not None and event.alert.fingerprint == "generated-1"


def test_pagerduty_dedup_key_is_case_sensitive_and_bounded() -> None:
    assert parse_pagerduty(pd_event(dedup_key="ABC")).dedup_key == "ABC"
    assert parse_pagerduty(pd_event(dedup_key="abc")).dedup_key == "abc"
    assert parse_pagerduty(pd_event(dedup_key="k" * 255)).dedup_key == "k" * 255
    with pytest.raises(PayloadError, match="dedup_key: longer than 255"):
        parse_pagerduty(pd_event(dedup_key="k" * 256))


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda e: e.pop("routing_key"), "routing_key"),
        (lambda e: e.pop("event_action"), "event_action"),
        (lambda e: e.update(event_action="escalate"), "event_action"),
        (lambda e: e.pop("payload"), "payload"),
        (lambda e: e["payload"].pop("summary"), "payload.summary"),
        (lambda e: e["payload"].update(summary="s" * 1025), "payload.summary"),
        (lambda e: e["payload"].pop("source"), "payload.source"),
        (lambda e: e["payload"].update(severity="fatal"), "payload.severity"),
        (lambda e: e["payload"].update(timestamp="noon"), "payload.timestamp"),
        (lambda e: e["payload"].update(custom_details=[1]), "payload.custom_details"),
        (lambda e: e.update(event_action="resolve", dedup_key=None), "dedup_key"),
        (lambda e: e.update(event_action="acknowledge", dedup_key=""), "dedup_key"),
        (lambda e: e.update(dedup_key=5), "dedup_key"),
    ],
)
def test_pagerduty_errors_name_the_field(mutate: Any, field: str) -> None:
    event = copy.deepcopy(pd_event())
    mutate(event)
    with pytest.raises(PayloadError) as info:
        parse_pagerduty(event)
    assert any(e.startswith(f"{field}:") for e in info.value.errors), info.value.errors


def test_pagerduty_resolve_needs_no_payload() -> None:
    event = parse_pagerduty({"routing_key": "r", "event_action": "resolve", "dedup_key": "k"})
    assert (event.action, event.dedup_key, event.alert) == ("resolve", "k", None)


def test_native_errors_are_payload_errors() -> None:
    with pytest.raises(PayloadError, match="'status'"):
        parse_native(
            {
                "source": "s",
                "name": "n",
                "fingerprint": "f",
                "status": "on",
                "starts_at": "2026-10-17T00:00:00Z",
            }
        )


def test_severity_words() -> None:
    assert [map_severity(w) for w in ("CRITICAL", "warn", "major", "low", None, "odd")] == [
        "critical",
        "warning",
        "error",
        "info",
        "warning",
        "warning",
    ]


def test_alertmanager_api_dump_lines() -> None:
    from incidentbook.core.alerts.formats.alertmanager import parse_alertmanager_api_alerts

    now = "2026-10-17T03:00:00.000000Z"
    active = {k: v for k, v in am_alert("a1").items() if k != "status"}
    active["endsAt"] = "2026-10-17T03:05:00.000Z"
    active["status"] = {"state": "active", "silencedBy": [], "inhibitedBy": []}
    ended = {**active, "fingerprint": "a2", "endsAt": "2026-10-17T02:59:00.000Z"}
    parsed = parse_alertmanager_api_alerts([active, ended], now)
    assert [(a.fingerprint, a.status) for a in parsed.alerts] == [
        ("a1", "firing"),
        ("a2", "resolved"),
    ]
    with pytest.raises(PayloadError, match=r"alerts\[0\].startsAt"):
        parse_alertmanager_api_alerts([{**active, "startsAt": "then"}], now)
