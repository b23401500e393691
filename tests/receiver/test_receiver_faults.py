"""The receiver under hostile input, over HTTP on a real uvicorn server: every poison value is
a 400 naming its field (never a 500, which Alertmanager retries forever), nothing is written,
and no traceback reaches the log; an unauthenticated body is not parsed; a client gone
mid-body is an info-level refusal; a request waits a bounded time for the lock, then 503."""

from __future__ import annotations

import json
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from incidentbook.obs import configure_logging, reset_logging
from incidentbook.receiver.app import create_app
from incidentbook.services import Services, make_services
from incidentbook.settings import Settings
from tests.support.payloads import am_alert, am_payload, pd_event
from tests.support.receiver import (
    AM,
    AUTH,
    PD,
    PD_CHANGE,
    PD_NATIVE,
    TOKEN,
    LiveServer,
    write_counts,
)


@pytest.fixture
def log_file(services: Services) -> Iterator[Path]:
    path = configure_logging(services.settings.logs_dir)
    assert path is not None
    yield path
    reset_logging()


@pytest.fixture
def client(services: Services, log_file: Path) -> Iterator[httpx.Client]:
    app = create_app(services, token=TOKEN, max_body_bytes=256 * 1024)
    with LiveServer(app) as live, httpx.Client(base_url=live.url, timeout=30) as test_client:
        yield test_client


def _log(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _assert_clean_log(path: Path) -> None:
    records = _log(path)
    assert not [r for r in records if "exception" in r or r["level"] == "error"], records




def _raw(text: str) -> bytes:
    """A body as a hostile sender writes it (json.dumps would refuse some of these)."""
    return text.encode("utf-8")


HUGE = "9" * 5000
DEEP = "[" * 100_000 + "]" * 100_000
NESTED_40 = "[" * 40 + "]" * 40

# Alertmanager bodies, each with the field its 400 must name.
AM_POISON: list[tuple[str, str, str]] = [
    (
        "lone surrogate in a label",
        json.dumps(am_payload(am_alert("f1"))).replace('"acc-1"', '"\\ud800"'),
        "alerts[0].labels.account",
    ),
    (
        "startsAt year 1 with an offset",
        json.dumps(am_payload(am_alert("f1", startsAt="0001-01-01T00:00:00+01:00"))),
        "alerts[0].startsAt",
    ),
    (
        "startsAt year 9999 with an offset",
        json.dumps(am_payload(am_alert("f1", startsAt="9999-12-31T23:59:59-05:00"))),
        "alerts[0].startsAt",
    ),
    (
        "an integer of 5,000 digits",
        json.dumps(am_payload(am_alert("f1"))).replace('"acc-1"', HUGE),
        "alerts[0].labels.account",
    ),
    (
        "truncatedAlerts of 10^30",
        json.dumps(am_payload(am_alert("f1"))).replace(
            '"truncatedAlerts": 0', '"truncatedAlerts": ' + str(10**30)
        ),
        "truncatedAlerts",
    ),
    ("deep nesting", '{"version": "4", "alerts": ' + DEEP + "}", "body"),
    (
        "nesting past the limit",
        json.dumps(am_payload(am_alert("f1"))).replace('"acc-1"', NESTED_40),
        "alerts[0].labels.account",
    ),
    ("NaN", json.dumps(am_payload(am_alert("f1"))).replace('"acc-1"', "NaN"), "body"),
]


@pytest.mark.parametrize(("case", "body", "field"), AM_POISON, ids=[c[0] for c in AM_POISON])
def test_alertmanager_poison_is_a_400_naming_the_field(
    client: httpx.Client, services: Services, log_file: Path, case: str, body: str, field: str
) -> None:
    response = client.post(
        AM, content=_raw(body), headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 400, (case, response.text)
    errors = response.json()["errors"]
    assert any(e.startswith((f"{field}:", f"{field}[")) for e in errors), errors
    assert write_counts(services) == (0, 0)
    _assert_clean_log(log_file)


PD_POISON: list[tuple[str, str, str]] = [
    (
        "timestamp year 1 with an offset",
        json.dumps(pd_event(routing_key=TOKEN)).replace(
            "2026-10-17T02:15:00+02:00", "0001-01-01T00:00:00+01:00"
        ),
        "payload.timestamp",
    ),
    (
        "timestamp year 9999 with an offset",
        json.dumps(pd_event(routing_key=TOKEN)).replace(
            "2026-10-17T02:15:00+02:00", "9999-12-31T23:59:59-05:00"
        ),
        "payload.timestamp",
    ),
    (
        "lone surrogate in the summary",
        json.dumps(pd_event(routing_key=TOKEN)).replace("acc-7", "\\udfff"),
        "payload.summary",
    ),
    (
        "an integer of 5,000 digits in custom_details",
        json.dumps(pd_event(routing_key=TOKEN)).replace('"accounts": 3', '"accounts": ' + HUGE),
        "payload.custom_details.accounts",
    ),
    (
        "deep nesting in custom_details",
        json.dumps(pd_event(routing_key=TOKEN)).replace('"accounts": 3', '"accounts": ' + DEEP),
        "routing_key",  # nothing can be read from it, the routing key neither
    ),
]


@pytest.mark.parametrize(("case", "body", "field"), PD_POISON, ids=[c[0] for c in PD_POISON])
@pytest.mark.parametrize("route", [PD, PD_NATIVE])
def test_pagerduty_poison_is_a_400_naming_the_field(
    client: httpx.Client,
    services: Services,
    log_file: Path,
    route: str,
    case: str,
    body: str,
    field: str,
) -> None:
    # Authenticated by the routing key inside the body, as PagerDuty senders do.
    response = client.post(route, content=_raw(body), headers={"Content-Type": "application/json"})
    assert response.status_code == 400, (case, response.text)
    errors = response.json()["errors"]
    assert any(e.startswith((f"{field}:", f"{field}[")) for e in errors), errors
    assert write_counts(services) == (0, 0)
    _assert_clean_log(log_file)


@pytest.mark.parametrize("route", [PD, PD_NATIVE, PD_CHANGE])
@pytest.mark.parametrize(
    "body",
    [HUGE, DEEP, '{"routing_key": "\\ud800"}', '{"x": NaN}'],
    ids=["huge-int", "deep", "surrogate-key", "nan"],
)
def test_pagerduty_paths_authenticate_before_parsing(
    client: httpx.Client, services: Services, log_file: Path, route: str, body: str
) -> None:
    """No token, a poison body: refused as unauthenticated, never a 500 nor a field error."""
    response = client.post(route, content=_raw(body), headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["errors"] == [
        "routing_key: not accepted here (give the receiver's token as routing_key)"
    ]
    assert write_counts(services) == (0, 0)
    _assert_clean_log(log_file)


def test_copies_of_one_fingerprint_in_one_payload_are_one_occurrence(
    client: httpx.Client, services: Services
) -> None:
    body = am_payload(am_alert("dup"), am_alert("dup"), am_alert("dup"), am_alert("other"))
    response = client.post(AM, json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    assert (response.json()["new"], response.json()["repeated"]) == (2, 0)
    conn = sqlite3.connect(services.db.path)
    try:
        fired = conn.execute(
            "SELECT count(*) FROM events WHERE type = 'alert.fired' AND stream LIKE '%dup%'"
        ).fetchone()[0]
        other = conn.execute(
            "SELECT count(*) FROM events WHERE stream LIKE '%dup%' AND type != 'alert.fired'"
        ).fetchone()[0]
    finally:
        conn.close()
    assert (fired, other) == (1, 0)


def test_a_client_gone_mid_body_is_an_info_refusal(
    client: httpx.Client, services: Services, log_file: Path
) -> None:
    port = int(str(client.base_url).rsplit(":", 1)[1].strip("/"))
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            (
                f"POST {AM} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
                "Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n{\"version\""
            ).encode()
        )
    # The server sees the close; a later request on a fresh connection is served after it.
    assert client.get("/healthz").status_code == 200
    for _ in range(200):  # bounded: the disconnect is logged by the server's task
        if any(r["event"] == "receiver.client_disconnected" for r in _log(log_file)):
            break
        client.get("/healthz")
    records = _log(log_file)
    assert [r["level"] for r in records if r["event"] == "receiver.client_disconnected"] == [
        "info"
    ]
    _assert_clean_log(log_file)
    assert write_counts(services) == (0, 0)


def test_a_held_write_lock_is_a_503_with_retry_after_after_a_bounded_wait(
    settings: Settings, log_file: Path
) -> None:
    receiver_services = make_services(settings, lock_wait_s=0.2)
    receiver_services.db.engine  # noqa: B018 -- create and migrate first
    app = create_app(receiver_services, token=TOKEN, retry_after_s=3)
    writer = sqlite3.connect(receiver_services.db.path, isolation_level=None)
    try:
        with LiveServer(app) as live, httpx.Client(base_url=live.url, timeout=30) as http:
            writer.execute("BEGIN IMMEDIATE")
            response = http.post(AM, json=am_payload(), headers=AUTH)
            assert response.status_code == 503, response.text
            assert response.headers["Retry-After"] == "3"
            assert "database" in response.json()["message"]
            writer.execute("ROLLBACK")
            # The lock gone, the sender's retry goes in.
            assert http.post(AM, json=am_payload(), headers=AUTH).status_code == 200
    finally:
        writer.close()
        receiver_services.db.dispose()
    records = _log(log_file)
    assert not [r for r in records if "exception" in r]
