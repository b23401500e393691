"""The receiver on a real uvicorn server on loopback, driven by httpx: every error class."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from incidentbook.receiver.app import create_app
from incidentbook.services import Services
from tests.support.payloads import am_alert, am_payload, pd_event
from tests.support.receiver import AM, AUTH, PD, PD_NATIVE, TOKEN, LiveServer, write_counts


@pytest.fixture
def client(services: Services) -> Iterator[httpx.Client]:
    app = create_app(services, token=TOKEN, max_body_bytes=64 * 1024)
    with LiveServer(app) as live, httpx.Client(base_url=live.url, timeout=10) as test_client:
        yield test_client




def test_alertmanager_accepts_and_commits_before_answering(
    client: httpx.Client, services: Services
) -> None:
    response = client.post(
        AM,
        json=am_payload(am_alert("f1"), am_alert("f2")),
        headers={**AUTH, "X-Correlation-Id": "am-42"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["new"], body["correlation_id"]) == ("success", 2, "am-42")
    assert response.headers["X-Correlation-Id"] == "am-42"
    # Committed: another connection sees it the moment the answer is out.
    history = services.alerts.history("f1")
    assert [(e.type, e.actor, e.correlation_id) for e in history] == [
        ("alert.fired", "webhook:alertmanager", "am-42")
    ]


def test_correlation_id_generated_when_absent_or_unusable(client: httpx.Client) -> None:
    first = client.post(AM, json=am_payload(), headers=AUTH)
    second = client.post(AM, json=am_payload(), headers={**AUTH, "X-Correlation-Id": "bad id;{}"})
    ids = {first.headers["X-Correlation-Id"], second.headers["X-Correlation-Id"]}
    assert len(ids) == 2 and "bad id;{}" not in ids
    assert first.json()["correlation_id"] == first.headers["X-Correlation-Id"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
    ],
)
def test_unauthorized_is_401_and_writes_nothing(
    client: httpx.Client, services: Services, headers: dict[str, str]
) -> None:
    response = client.post(AM, json=am_payload(), headers=headers)
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    # PagerDuty's paths answer as PagerDuty documents: a bad routing key is a 400.
    response = client.post(PD, json=pd_event(), headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0].startswith("routing_key: ")
    assert write_counts(services) == (0, 0)


def test_pagerduty_routing_key_may_carry_the_token(client: httpx.Client) -> None:
    response = client.post(PD, json=pd_event(routing_key=TOKEN))
    assert response.status_code == 202
    assert client.post(PD, content=b"{not json").status_code == 400


def test_body_limit_is_413_and_writes_nothing(client: httpx.Client, services: Services) -> None:
    big = am_payload(*(am_alert(f"fp-{i}", annotations={"x": "y" * 500}) for i in range(200)))
    response = client.post(AM, json=big, headers=AUTH)
    assert response.status_code == 413
    assert "larger than 65536 bytes" in response.json()["message"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while streaming
        data = json.dumps(big).encode()
        for start in range(0, len(data), 4096):
            yield data[start : start + 4096]

    streamed = client.post(AM, content=chunks(), headers=AUTH)
    assert streamed.status_code == 413
    assert write_counts(services) == (0, 0)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{oops", "body"),
        (b"[]", "body"),
        (json.dumps({**am_payload(), "version": "3"}).encode(), "version"),
        (json.dumps(am_payload(am_alert(startsAt="soon"))).encode(), "alerts[0].startsAt"),
        (json.dumps(am_payload(am_alert(fingerprint=""))).encode(), "alerts[0].fingerprint"),
    ],
)
def test_malformed_alertmanager_is_400_naming_the_field(
    client: httpx.Client, services: Services, body: bytes, field: str
) -> None:
    response = client.post(AM, content=body, headers=AUTH)
    assert response.status_code == 400
    data = response.json()
    assert data["status"] == "error" and any(e.startswith(f"{field}:") for e in data["errors"])
    assert data["correlation_id"] == response.headers["X-Correlation-Id"]
    assert write_counts(services) == (0, 0)


def test_one_bad_alert_refuses_the_whole_payload(client: httpx.Client, services: Services) -> None:
    payload = am_payload(am_alert("good"), am_alert("bad", status="pending"))
    assert client.post(AM, json=payload, headers=AUTH).status_code == 400
    assert write_counts(services) == (0, 0)


def test_pagerduty_202_shape_and_generated_key(client: httpx.Client, services: Services) -> None:
    response = client.post(PD, json=pd_event(dedup_key="Ab-1"), headers=AUTH)
    assert response.status_code == 202
    assert response.json() == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "Ab-1",
    }
    raw = pd_event()
    del raw["dedup_key"]
    generated = client.post(PD, json=raw, headers=AUTH).json()["dedup_key"]
    assert generated and generated != "Ab-1"
    assert services.alerts.get(generated).source == "pagerduty"
    for action in ("acknowledge", "resolve"):
        answer = client.post(
            PD,
            json={"routing_key": "r", "event_action": action, "dedup_key": generated},
            headers=AUTH,
        )
        assert answer.status_code == 202 and answer.json()["dedup_key"] == generated
    assert services.alerts.get(generated).status == "resolved"
    history = services.alerts.history(generated)
    assert {e.actor for e in history} == {"webhook:pagerduty"}
    assert [e.type for e in history] == ["alert.fired", "alert.acknowledged", "alert.resolved"]


def test_pagerduty_400_lists_errors(client: httpx.Client, services: Services) -> None:
    bad = pd_event(dedup_key="k" * 300, event_action="trigger")
    bad["payload"].pop("summary")
    response = client.post(PD, json=bad, headers=AUTH)
    assert response.status_code == 400
    data = response.json()
    assert data["status"] == "invalid event" and data["message"] == "Event object is invalid"
    assert sorted(e.split(":")[0] for e in data["errors"]) == ["dedup_key", "payload.summary"]
    assert write_counts(services) == (0, 0)


def test_database_lock_is_a_retryable_503(
    client: httpx.Client, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    def locked(*_args: Any, **_kwargs: Any) -> Any:
        raise OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))

    monkeypatch.setattr(services.alerts, "ingest_alertmanager", locked)
    response = client.post(AM, json=am_payload(), headers=AUTH)
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    assert "database is locked" in response.json()["message"]


def test_unexpected_failure_is_500_json(
    client: httpx.Client, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(services.alerts, "ingest_pagerduty", broken)
    response = client.post(PD, json=pd_event(), headers=AUTH)
    assert response.status_code == 500
    assert response.json()["message"] == "internal error: RuntimeError"


def test_unknown_route_and_method_are_json(client: httpx.Client) -> None:
    missing = client.get("/nope")
    assert missing.status_code == 404 and missing.json()["status"] == "error"
    assert client.get(AM).status_code == 405


def test_healthz_and_metrics(client: httpx.Client) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    client.post(AM, json=am_payload(am_alert("m1")), headers=AUTH)
    client.post(AM, json=am_payload(am_alert("m1"), truncatedAlerts=4), headers=AUTH)
    client.post(AM, json=am_payload(), headers={})
    client.post(PD, json=pd_event(), headers=AUTH)
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    expected = [
        'incidentbook_http_requests_total{method="POST",route="/api/v1/alertmanager",'
        'status="200"} 2.0',
        'incidentbook_http_requests_total{method="POST",route="/api/v1/alertmanager",'
        'status="401"} 1.0',
        'incidentbook_http_requests_total{method="POST",route="/api/v2/enqueue",status="202"} 1.0',
        'incidentbook_alerts_ingested_total{outcome="new",source="alertmanager"} 1.0',
        'incidentbook_alerts_ingested_total{outcome="repeated",source="alertmanager"} 1.0',
        'incidentbook_alert_dedup_hits_total{source="alertmanager"} 1.0',
        "incidentbook_alertmanager_truncated_alerts_total 4.0",
        'incidentbook_ingest_latency_seconds_count{route="/api/v1/alertmanager"} 3.0',
    ]
    for line in expected:
        assert line in text, line


def test_no_auth_mode(services: Services) -> None:
    with LiveServer(create_app(services, token=None)) as live:
        assert httpx.post(live.url + AM, json=am_payload()).status_code == 200


def test_pagerdutys_own_path_answers_as_ours_for_a_host_only_base_url(
    services: Services,
) -> None:
    """A sender configured with the host alone (as PagerDuty's clients are) posts to
    ``/v2/enqueue``: same handler, same auth, same answers as ``/api/v2/enqueue``."""
    app = create_app(services, token=TOKEN, max_body_bytes=64 * 1024)
    with LiveServer(app) as live, httpx.Client(base_url=live.url, timeout=10) as host_only:
        ours = host_only.post(PD, json=pd_event(dedup_key="ours-1"), headers=AUTH)
        theirs = host_only.post(PD_NATIVE, json=pd_event(dedup_key="ours-1"), headers=AUTH)
        assert (ours.status_code, theirs.status_code) == (202, 202)
        assert theirs.json() == ours.json() == {
            "status": "success",
            "message": "Event processed",
            "dedup_key": "ours-1",
        }
        # The routing key may carry the token there too; without either it is a 400.
        keyed = host_only.post(PD_NATIVE, json=pd_event(dedup_key="k2", routing_key=TOKEN))
        assert keyed.status_code == 202 and keyed.json()["dedup_key"] == "k2"
        assert host_only.post(PD_NATIVE, json=pd_event()).status_code == 400
        bad = pd_event()
        bad["payload"].pop("summary")
        refused = host_only.post(PD_NATIVE, json=bad, headers=AUTH)
        assert refused.status_code == 400
        assert refused.json()["message"] == "Event object is invalid"
        resolved = host_only.post(
            PD_NATIVE,
            json={"routing_key": "r", "event_action": "resolve", "dedup_key": "ours-1"},
            headers=AUTH,
        )
        assert resolved.status_code == 202
    assert services.alerts.get("ours-1").status == "resolved"
