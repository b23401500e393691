"""Concurrent senders, a CLI writing the same workspace, and the real ``incidentbook serve``."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from incidentbook.core.health.verify import run_verify
from incidentbook.receiver.app import create_app
from incidentbook.services import Services
from tests.support.cli import venv_bin
from tests.support.payloads import am_alert, am_payload, pd_event
from tests.support.receiver import AM, AUTH, PD, TOKEN, LiveServer

THREADS = 8
POSTS_PER_THREAD = 12


def test_concurrent_posts_lose_and_duplicate_nothing(services: Services, tmp_path: Path) -> None:
    """8 client threads post at once (own alerts + one shared alert + PagerDuty), while the
    CLI ingests a file into the same workspace: every alert once, every repeat counted."""
    app = create_app(services, token=TOKEN)
    lines = tmp_path / "cli.jsonl"
    lines.write_text(
        "".join(
            json.dumps(
                {
                    "source": "cli",
                    "name": "cli_alert",
                    "fingerprint": f"cli-{i}",
                    "status": "firing",
                    "starts_at": "2026-10-17T02:00:00Z",
                }
            )
            + "\n"
            for i in range(200)
        )
    )
    statuses: list[int] = []
    lock = threading.Lock()

    def sender(worker: int) -> None:
        with httpx.Client(base_url=live.url, headers=AUTH, timeout=60) as client:
            for n in range(POSTS_PER_THREAD):
                own = am_alert(f"w{worker}-{n}")
                shared = am_alert("shared")
                r1 = client.post(AM, json=am_payload(own, shared))
                r2 = client.post(PD, json=pd_event(dedup_key=f"pd-{worker}"))
                with lock:
                    statuses.extend((r1.status_code, r2.status_code))

    with LiveServer(app) as live:
        cli = subprocess.Popen(
            [
                venv_bin("incidentbook"),
                "--workspace",
                str(services.settings.workspace),
                "alerts",
                "ingest",
                str(lines),
                "--batch",
                "20",
                "--json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(sender, range(THREADS)))
        out, err = cli.communicate(timeout=120)
    assert cli.returncode == 0, err
    assert json.loads(out)["new"] == 200
    assert statuses.count(200) == THREADS * POSTS_PER_THREAD
    assert statuses.count(202) == THREADS * POSTS_PER_THREAD
    everything = {a.fingerprint: a for a in services.alerts.list_alerts("all")}
    own = {f"w{w}-{n}" for w in range(THREADS) for n in range(POSTS_PER_THREAD)}
    pd = {f"pd-{w}" for w in range(THREADS)}
    cli_fps = {f"cli-{i}" for i in range(200)}
    assert set(everything) == own | pd | cli_fps | {"shared"}
    assert everything["shared"].occurrences == THREADS * POSTS_PER_THREAD
    assert all(everything[f].occurrences == 1 for f in own | cli_fps)
    assert all(everything[f].occurrences == POSTS_PER_THREAD for f in pd)
    assert len(services.alerts.requests(limit=10_000)) == 2 * THREADS * POSTS_PER_THREAD
    results = run_verify(services.settings, services.db)
    assert all(r.ok for r in results), [r.problems for r in results if not r.ok]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_incidentbook_serve_command(workspace: Path, subprocess_env: dict[str, str]) -> None:
    """The real command: refuses to start without a token, serves with one, stops on SIGTERM."""
    port = _free_port()
    command = [
        venv_bin("incidentbook"),
        "--workspace",
        str(workspace),
        "serve",
        "--listen",
        f"127.0.0.1:{port}",
    ]
    refused = subprocess.run(
        command, env=subprocess_env, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 2 and "no token" in refused.stderr
    bad = subprocess.run(
        [*command[:-1], "nonsense"], env=subprocess_env, capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and "HOST:PORT" in bad.stderr
    env = {**subprocess_env, "INCIDENTBOOK_TOKEN": TOKEN}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve did not come up"
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.05)
        assert httpx.post(url + AM, json=am_payload()).status_code == 401
        ok = httpx.post(url + AM, json=am_payload(am_alert("via-serve")), headers=AUTH)
        assert ok.status_code == 200 and ok.json()["new"] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    # uvicorn shuts down gracefully, then re-raises the signal so the exit status tells it.
    assert proc.returncode in (0, -signal.SIGTERM)
    shown = subprocess.run(
        [
            venv_bin("incidentbook"),
            "--workspace",
            str(workspace),
            "alerts",
            "show",
            "via-serve",
            "--json",
        ],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(shown.stdout)["history"][0]["actor"] == "webhook:alertmanager"
    assert os.path.exists(workspace / ".incidentbook" / "logs" / "incidentbook.jsonl")


def test_a_request_waits_for_another_writer_then_commits(services: Services) -> None:
    """Another process-like writer (a raw connection) holds the write lock: the receiver
    waits on the busy timeout instead of failing, and answers only after its commit."""
    services.db.engine  # noqa: B018 - schema first
    blocker = sqlite3.connect(
        services.db.path, isolation_level=None, timeout=30, check_same_thread=False
    )
    with LiveServer(create_app(services, token=TOKEN)) as live:
        blocker.execute("BEGIN IMMEDIATE")
        released = threading.Event()

        def release() -> None:
            time.sleep(0.5)
            blocker.execute("COMMIT")
            released.set()

        threading.Thread(target=release, daemon=True).start()
        response = httpx.post(
            live.url + AM, json=am_payload(am_alert("waited")), headers=AUTH, timeout=30
        )
        assert released.is_set(), "answered before the other writer let go"
        assert response.status_code == 200 and response.json()["new"] == 1
    blocker.close()
    assert services.alerts.get("waited").occurrences == 1
