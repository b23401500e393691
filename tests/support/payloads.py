"""Webhook bodies as senders post them: Alertmanager v4 alerts and payloads, PagerDuty
Events v2 events; keyword arguments override fields."""

from __future__ import annotations

from typing import Any


def am_alert(fp: str = "a1b2c3d4e5f60718", **over: Any) -> dict[str, Any]:
    alert: dict[str, Any] = {
        "status": "firing",
        "labels": {"alertname": "BalanceMismatch", "severity": "page", "account": "acc-1"},
        "annotations": {"summary": "stored balance differs", "runbook_url": "balance.md"},
        "startsAt": "2026-10-17T02:14:08.123456789Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph",
        "fingerprint": fp,
    }
    alert.update(over)
    return alert


def am_payload(*alerts: dict[str, Any], **over: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "version": "4",
        "groupKey": '{}:{alertname="BalanceMismatch"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "incidentbook",
        "groupLabels": {"alertname": "BalanceMismatch"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager",
        "alerts": list(alerts) or [am_alert()],
    }
    payload.update(over)
    return payload


def pd_event(**over: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "routing_key": "R0UT1NGKEY",
        "event_action": "trigger",
        "dedup_key": "Payments-Webhook/42",
        "payload": {
            "summary": "duplicate postings on acc-7",
            "source": "ledger-db",
            "severity": "error",
            "timestamp": "2026-10-17T02:15:00+02:00",
            "class": "duplicate_posting",
            "custom_details": {"accounts": 3, "delta": "-12.00 EUR"},
        },
    }
    event.update(over)
    return event
