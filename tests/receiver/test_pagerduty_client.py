"""PagerDuty's official client (``pagerduty.EventsApiV2Client``, a dev dependency) sending to the
real receiver over HTTPS, with a CA made at test time (trustme) and the host alone as its base
URL, as a user already sending to PagerDuty would configure it: trigger (links, images, client
and client_url kept), acknowledge, resolve, a change event; and every PagerDuty path answering
as PagerDuty documents (400, ``status``/``message``/``errors``) for a bad routing key, a missing
``event_action`` and an oversized body, writing nothing."""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pagerduty
import pytest
import trustme

from incidentbook.receiver.app import create_app
from incidentbook.services import Services
from tests.support.cli import Cli
from tests.support.payloads import pd_event
from tests.support.receiver import PD, PD_CHANGE, PD_NATIVE, TOKEN, LiveServer, ca_file, tls_files

LIMIT = 64 * 1024


@pytest.fixture
def https(services: Services, tmp_path: Path) -> Iterator[tuple[str, ssl.SSLContext]]:
    """The receiver over HTTPS: (its host-only base URL, a context trusting the test CA)."""
    ca = trustme.CA()
    files = tls_files(ca, tmp_path)
    trusting = ssl.create_default_context(cafile=str(ca_file(ca, tmp_path)))
    app = create_app(services, token=TOKEN, max_body_bytes=LIMIT)
    with LiveServer(app, tls=files) as live:
        assert live.url.startswith("https://")
        yield live.url, trusting


@contextmanager
def _client(
    https: tuple[str, ssl.SSLContext], key: str = TOKEN
) -> Iterator[pagerduty.EventsApiV2Client]:
    url, trusting = https
    # The host alone, as for events.pagerduty.com; the CA through httpx's ``verify``. Closed
    # after use, so the server is not kept waiting on its keep-alive connection.
    with pagerduty.EventsApiV2Client(key, base_url=url, verify=trusting) as client:
        yield client


def test_trigger_acknowledge_resolve_and_a_change_with_the_official_client(
    https: tuple[str, ssl.SSLContext], services: Services, cli: Cli
) -> None:
    with _client(https) as client:
        links = [{"href": "https://grafana.example/d/ledger", "text": "ledger dashboard"}]
        images = [{"src": "https://grafana.example/render/ledger.png", "alt": "ledger"}]
        key = client.trigger(
            "duplicate postings on acc-7",
            "ledger-db",
            dedup_key="ledger/dup-7",
            severity="error",
            custom_details={"accounts": 3},
            links=links,
            images=images,
        )
        assert key == "ledger/dup-7"
        generated = client.send_event(
            "trigger",
            payload={"summary": "fees doubled", "source": "billing", "severity": "critical"},
            client="Grafana",
            client_url="https://grafana.example/alerting",
        )
        assert len(generated) == 32  # the receiver's key, returned to the sender
        assert client.acknowledge("ledger/dup-7") == "ledger/dup-7"
        assert client.resolve("ledger/dup-7") == "ledger/dup-7"
        client.send_change_event(
            payload={
                "summary": "api v2 deployed",
                "source": "deploy-bot",
                "timestamp": "2026-10-17T01:55:00Z",
                "custom_details": {"build": "412"},
            },
            links=[{"href": "https://ci.example/builds/412", "text": "build 412"}],
        )

    alert = services.alerts.get("ledger/dup-7")
    assert alert.status == "resolved"
    types = [e.type for e in services.alerts.history("ledger/dup-7")]
    assert types[0] == "alert.fired" and types[-1] == "alert.resolved"
    shown = cli.json("alerts", "show", "ledger/dup-7")
    assert shown["sender"] == {
        "links": links, "images": images, "client": None, "client_url": None
    }
    assert shown["annotations"]["accounts"] == "3"
    other = cli.json("alerts", "show", generated)["sender"]
    assert (other["client"], other["client_url"]) == ("Grafana", "https://grafana.example/alerting")
    human = cli("alerts", "show", "ledger/dup-7").stdout
    assert "  link ledger dashboard: https://grafana.example/d/ledger\n" in human
    assert "  image ledger: https://grafana.example/render/ledger.png\n" in human
    assert "pagerduty.links" not in human
    shown_other = cli("alerts", "show", generated).stdout
    assert "client Grafana https://grafana.example/alerting" in shown_other

    (change,) = services.changes.list_changes()
    assert (change.summary, change.source, change.at) == (
        "api v2 deployed", "deploy-bot", "2026-10-17T01:55:00.000000Z"
    )
    assert [(x.href, x.text) for x in change.links] == [
        ("https://ci.example/builds/412", "build 412")
    ]


def test_the_client_sees_a_bad_routing_key_as_pagerdutys_400(
    https: tuple[str, ssl.SSLContext], services: Services
) -> None:
    with _client(https, key="not-the-token") as client, pytest.raises(
        pagerduty.HttpError
    ) as raised:
        client.trigger("x", "y", dedup_key="k")
    assert raised.value.response is not None and raised.value.response.status_code == 400
    assert services.alerts.list_alerts("all") == []


def _invalid(response: httpx.Response, error_start: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert (body["status"], body["message"]) == ("invalid event", "Event object is invalid")
    assert isinstance(body["errors"], list) and len(body["errors"]) == 1
    assert body["errors"][0].startswith(error_start), body


@pytest.mark.parametrize("path", [PD, PD_NATIVE, PD_CHANGE])
def test_every_pagerduty_path_answers_as_pagerduty_documents(
    https: tuple[str, ssl.SSLContext], services: Services, path: str
) -> None:
    url, trusting = https
    change = {"payload": {"summary": "deploy", "source": "ci"}}
    good = change if path == PD_CHANGE else pd_event(dedup_key=uuid.uuid4().hex)
    with httpx.Client(base_url=url, verify=trusting, timeout=10) as http:
        _invalid(http.post(path, json={**good, "routing_key": "wrong"}), "routing_key: ")
        _invalid(http.post(path, json={k: v for k, v in good.items() if k != "routing_key"}),
                 "routing_key: ")  # fmt: skip
        big = {**good, "routing_key": TOKEN, "pad": "x" * (LIMIT + 1)}
        _invalid(http.post(path, json=big), f"body: larger than {LIMIT} bytes")
        if path != PD_CHANGE:
            no_action = {k: v for k, v in good.items() if k != "event_action"}
            _invalid(http.post(path, json={**no_action, "routing_key": TOKEN}),
                     "event_action: is required")  # fmt: skip
        accepted = http.post(path, json={**good, "routing_key": TOKEN})
        assert accepted.status_code == 202
        assert accepted.json()["status"] == "success"
    assert len(services.alerts.list_alerts("all")) + len(services.changes.list_changes()) == 1
