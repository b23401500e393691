"""End to end with a real Prometheus Alertmanager posting to the real receiver.

Alertmanager (the Debian package) runs on loopback without clustering, with a webhook receiver
pointing at incidentbook's receiver served by uvicorn (once more over HTTPS, with a test CA in
``http_config.tls_config.ca_file``). The test posts alerts to Alertmanager's
v2 API and polls the database (bounded) until they arrive: once each, also after a forced 5xx
that Alertmanager must retry, after the group is re-sent whole, and after a resolve.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from incidentbook.core.health.verify import run_verify
from incidentbook.receiver.app import ROUTE_ALERTMANAGER, create_app
from incidentbook.services import Services
from tests.support.receiver import TOKEN, LiveServer, ca_file, tls_files

ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")

pytestmark = pytest.mark.alertmanager


@pytest.fixture(autouse=True)
def _alertmanager_installed() -> None:
    """A missing binary fails these tests (never skips them): `make test` installs it."""
    if ALERTMANAGER is None:
        pytest.fail(
            "Prometheus Alertmanager binary not installed "
            "(Debian: apt-get install prometheus-alertmanager; "
            "CI runs scripts/ensure-system-packages)",
            pytrace=False,
        )


class FailFirst:
    """ASGI wrapper: answer the first N webhook calls with 500 before the app sees them."""

    def __init__(self, app: Any, path: str, failures: int = 1) -> None:
        self.app = app
        self.path = path
        self.remaining = failures
        self.failed = 0
        self.passed = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == self.path:
            if self.remaining > 0:
                self.remaining -= 1
                self.failed += 1
                more = True
                while more:
                    message = await receive()
                    more = bool(message.get("more_body", False))
                await send(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [(b"content-type", b"application/json")],
                    }
                )
                await send({"type": "http.response.body", "body": b'{"status":"error"}'})
                return
            self.passed += 1
        await self.app(scope, receive, send)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(what: str, check: Callable[[], bool], timeout: float = 45.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Start Alertmanager for a webhook URL; yields a function that starts it, returns its URL."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(webhook_url: str, max_alerts: int = 0, ca_file: Path | None = None) -> str:
        assert ALERTMANAGER is not None
        http_config: dict[str, Any] = {"authorization": {"type": "Bearer", "credentials": TOKEN}}
        if ca_file is not None:  # an HTTPS receiver: trust the test CA, as a user would
            http_config["tls_config"] = {"ca_file": str(ca_file)}
        port = _free_port()
        config = tmp_path / "alertmanager.yml"
        config.write_text(
            json.dumps(  # YAML is a superset of JSON
                {
                    "route": {
                        "receiver": "incidentbook",
                        "group_by": ["alertname"],
                        "group_wait": "1s",
                        "group_interval": "1s",
                        "repeat_interval": "1h",
                    },
                    "receivers": [
                        {
                            "name": "incidentbook",
                            "webhook_configs": [
                                {
                                    "url": webhook_url,
                                    "send_resolved": True,
                                    "max_alerts": max_alerts,
                                    "http_config": http_config,
                                }
                            ],
                        }
                    ],
                }
            )
        )
        log = (tmp_path / "alertmanager.log").open("wb")
        proc = subprocess.Popen(
            [
                ALERTMANAGER,
                f"--config.file={config}",
                f"--storage.path={tmp_path / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
                "--log.level=debug",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            assert proc.poll() is None, (tmp_path / "alertmanager.log").read_text()
            try:
                return httpx.get(url + "/-/ready", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        _wait_for("Alertmanager to be ready", ready, timeout=30)
        return url

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _post_alerts(am_url: str, alerts: list[dict[str, Any]]) -> None:
    response = httpx.post(am_url + "/api/v2/alerts", json=alerts, timeout=10)
    assert response.status_code == 200, response.text


def _alert(account: str, starts: datetime, ends: datetime | None = None) -> dict[str, Any]:
    alert: dict[str, Any] = {
        "labels": {"alertname": "E2EBalanceMismatch", "severity": "critical", "account": account},
        "annotations": {"summary": f"balance of {account} disagrees with its history"},
        "startsAt": starts.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "generatorURL": "http://127.0.0.1/reconciler",
    }
    if ends is not None:
        alert["endsAt"] = ends.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return alert


def _fired_events(services: Services) -> dict[str, list[str]]:
    from incidentbook.core.events.store import events_by_prefix

    with services.db.read() as session:
        found: dict[str, list[str]] = {}
        for event in events_by_prefix(session, "alert:"):
            found.setdefault(event.stream.removeprefix("alert:"), []).append(event.type)
        return found


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_alertmanager_delivers_each_alert_once_through_retry_regroup_and_resolve(
    services: Services, alertmanager: Callable[..., str], tmp_path: Path, cli: Any, tls: bool
) -> None:
    """Once over plain HTTP, once over HTTPS (``serve --tls-cert/--tls-key``), Alertmanager
    trusting the test CA through ``http_config.tls_config.ca_file``."""
    hook = FailFirst(create_app(services, token=TOKEN), ROUTE_ALERTMANAGER, failures=1)
    ca = trustme.CA() if tls else None
    files = tls_files(ca, tmp_path) if ca is not None else None
    trusted = ca_file(ca, tmp_path) if ca is not None else None
    with LiveServer(hook, tls=files) as receiver:
        assert receiver.url.startswith("https://" if tls else "http://")
        am_url = alertmanager(receiver.url + ROUTE_ALERTMANAGER, ca_file=trusted)
        started = datetime.now(UTC) - timedelta(minutes=1)
        _post_alerts(am_url, [_alert(f"acc-{i}", started) for i in range(3)])

        def count(status: str = "all") -> int:
            return len(services.alerts.list_alerts(status))

        _wait_for("three alerts after the forced 500", lambda: count() == 3)
        assert hook.failed == 1, "the first notification was not failed"
        assert hook.passed >= 1, "Alertmanager never retried after the 500"
        am_log = (tmp_path / "alertmanager.log").read_text()
        assert 'msg="Notify attempt failed, will retry later"' in am_log
        assert 'msg="Notify success" attempts=2' in am_log
        by_account = {a.labels["account"]: a for a in services.alerts.list_alerts("all")}
        assert sorted(by_account) == ["acc-0", "acc-1", "acc-2"]
        assert {a.source for a in by_account.values()} == {"alertmanager"}
        assert all(types == ["alert.fired"] for types in _fired_events(services).values())

        # A fourth alert of the group: Alertmanager re-sends the whole group; still one each.
        _post_alerts(am_url, [_alert("acc-3", started)])
        _wait_for("the fourth alert", lambda: count() == 4)
        _wait_for(
            "the re-sent group to be counted",
            lambda: all(
                a.occurrences >= 2
                for a in services.alerts.list_alerts("all")
                if a.labels["account"] != "acc-3"
            ),
        )
        events = _fired_events(services)
        assert len(events) == 4
        assert all(types.count("alert.fired") == 1 for types in events.values())
        assert all(set(types) <= {"alert.fired", "alert.repeated"} for types in events.values())

        # Resolve one: Alertmanager sends it as resolved (send_resolved) with its endsAt.
        ended = datetime.now(UTC) - timedelta(seconds=1)
        _post_alerts(am_url, [_alert("acc-1", started, ended)])
        _wait_for("the resolve", lambda: count("resolved") == 1)
        resolved = services.alerts.list_alerts("resolved")[0]
        assert resolved.labels["account"] == "acc-1"
        assert resolved.ends_at is not None and resolved.ends_at.startswith(
            ended.strftime("%Y-%m-%dT%H:%M:%S")
        )
        assert count("firing") == 3 and count() == 4
        types = _fired_events(services)[resolved.fingerprint]
        assert types.count("alert.fired") == 1 and types.count("alert.resolved") == 1

        # Re-deliver from Alertmanager's own API (the receiver_down runbook's mitigation):
        # the dump of active alerts changes no alert's identity, only counts occurrences.
        dump = tmp_path / "dump.json"
        dump.write_text(httpx.get(am_url + "/api/v2/alerts", timeout=10).text)
        before = {a.fingerprint: a.occurrences for a in services.alerts.list_alerts("all")}
        redelivered = cli.json("alerts", "ingest", str(dump), "--format", "alertmanager")
        assert (redelivered["new"], redelivered["repeated"]) == (0, 3)
        after = {a.fingerprint: a.occurrences for a in services.alerts.list_alerts("all")}
        assert set(after) == set(before)
        assert after[resolved.fingerprint] == before[resolved.fingerprint]  # not in the dump
        assert all(after[f] == before[f] + 1 for f in after if f != resolved.fingerprint)
        assert cli.json("alerts", "ingest", str(dump), "--format", "alertmanager")["replayed"] == 3

    history = services.alerts.history(resolved.fingerprint)
    assert {e.actor for e in history} == {"webhook:alertmanager"}
    requests = services.alerts.requests(limit=1000)
    assert requests and all(r.source == "alertmanager" for r in requests)
    webhook = [r for r in requests if r.actor == "webhook:alertmanager"]
    assert all(r.group_key and "E2EBalanceMismatch" in r.group_key for r in webhook)
    assert [(r.actor, r.group_key) for r in requests if r not in webhook] == [
        ("cli:ingest", "alertmanager-api-dump")
    ]
    assert {a.group_key for a in services.alerts.list_alerts("all")} == {"E2EBalanceMismatch"}
    results = run_verify(services.settings, services.db)
    assert all(r.ok for r in results), [r.problems for r in results if not r.ok]


def test_alertmanager_truncation_is_recorded_and_visible(
    services: Services, alertmanager: Callable[..., str], cli: Any
) -> None:
    """With max_alerts: 2, Alertmanager sends 2 of 3 alerts and says truncatedAlerts: 1."""
    with LiveServer(create_app(services, token=TOKEN)) as receiver:
        am_url = alertmanager(receiver.url + ROUTE_ALERTMANAGER, max_alerts=2)
        started = datetime.now(UTC) - timedelta(minutes=1)
        _post_alerts(am_url, [_alert(f"acc-{i}", started) for i in range(3)])
        _wait_for(
            "a truncated notification",
            lambda: bool(services.alerts.requests(truncated_only=True)),
        )
    (request, *_) = services.alerts.requests(truncated_only=True)
    assert (request.alerts, request.truncated_alerts) == (2, 1)
    assert len(services.alerts.list_alerts("all")) == 2
    shown = cli("alerts", "list")
    assert "Alertmanager truncated 1 alerts" in shown.stdout
    listed = cli.json("alerts", "requests", "--truncated")
    assert listed[0]["truncated_alerts"] == 1 and listed[0]["actor"] == "webhook:alertmanager"
