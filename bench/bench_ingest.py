"""Alert ingest: the HTTP receiver under a concurrent client, and JSON-lines from a file.

1. ``incidentbook serve`` (a real subprocess, uvicorn on loopback) takes Alertmanager payloads of
   10 alerts each from a client with several threads: sustained payloads/s and alerts/s, and
   p50/p99 latency per request. Reference in the same run: the same client against a bare
   Starlette endpoint on uvicorn that answers 200 without touching a database.
2. ``alerts ingest`` of native JSON lines (the CLI's code path, in process) against the
   reference: a bare ``executemany`` insert of the same rows into SQLite, one transaction.

Options: ``--quick`` (smaller), ``--payloads N``, ``--lines N``, ``--threads N``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import save_result

TOKEN = "bench-token"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"server at {url} did not come up")


def _payload(batch: int, size: int = 10) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="BenchAlert{batch % 20}"}}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "incidentbook",
        "groupLabels": {"alertname": f"BenchAlert{batch % 20}"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:9093",
        "alerts": [
            {
                "status": "firing",
                "labels": {
                    "alertname": f"BenchAlert{batch % 20}",
                    "severity": "warning",
                    "account": f"acc-{batch}-{i}",
                },
                "annotations": {"summary": f"bench alert {batch}/{i}"},
                "startsAt": now,
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://127.0.0.1/bench",
                "fingerprint": f"{batch:08x}{i:08x}",
            }
            for i in range(size)
        ],
    }


def _drive(url: str, payloads: int, threads: int, headers: dict[str, str]) -> dict[str, float]:
    import httpx

    bodies = [json.dumps(_payload(b)).encode() for b in range(payloads)]
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    next_index = iter(range(payloads))

    def worker(_n: int) -> None:
        nonlocal errors
        local: list[float] = []
        bad = 0
        with httpx.Client(headers={**headers, "Content-Type": "application/json"}) as client:
            while True:
                with lock:
                    index = next(next_index, None)
                if index is None:
                    break
                t0 = time.perf_counter()
                response = client.post(url, content=bodies[index], timeout=60)
                local.append(time.perf_counter() - t0)
                bad += response.status_code != 200
        with lock:
            latencies.extend(local)
            errors += bad

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(worker, range(threads)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "payloads": payloads,
        "seconds": elapsed,
        "payloads_per_s": payloads / elapsed,
        "alerts_per_s": payloads * 10 / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "errors": errors,
    }


BARE_APP = """
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
import json, uvicorn, sys

async def hook(request: Request) -> JSONResponse:
    body = json.loads(await request.body())
    return JSONResponse({"status": "success", "received": len(body["alerts"])})

app = Starlette(routes=[Route("/hook", hook, methods=["POST"]), Route("/", hook)])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""


def bench_http(payloads: int, threads: int) -> dict[str, Any]:
    exe = Path(sys.executable).parent / "incidentbook"
    with tempfile.TemporaryDirectory(prefix="ib-bench-") as tmp:
        ws = Path(tmp) / "ws"
        subprocess.run([str(exe), "init", str(ws)], check=True, capture_output=True)
        env = {**os.environ, "INCIDENTBOOK_TOKEN": TOKEN}
        results: dict[str, Any] = {}
        for name, command, path, headers in (
            (
                "incidentbook serve",
                [str(exe), "--workspace", str(ws), "serve", "--listen", "127.0.0.1:{port}"],
                "/api/v1/alertmanager",
                {"Authorization": f"Bearer {TOKEN}"},
            ),
            ("bare starlette (reference)", [sys.executable, "-c", BARE_APP, "{port}"], "/hook", {}),
        ):
            port = _free_port()
            proc = subprocess.Popen(
                [c.replace("{port}", str(port)) for c in command],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                base = f"http://127.0.0.1:{port}"
                _wait_ready(base + ("/healthz" if "serve" in command else "/hook"), proc)
                _drive(base + path, min(50, payloads), threads, headers)  # warm up
                results[name] = _drive(base + path, payloads, threads, headers)
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)
        stored = sqlite3.connect(ws / ".incidentbook" / "state.sqlite")
        results["stored_alerts"] = stored.execute("SELECT count(*) FROM alerts").fetchone()[0]
        stored.close()
    return results


def _native_lines(count: int) -> list[str]:
    return [
        json.dumps(
            {
                "source": "bench",
                "name": f"bench_{i % 50}",
                "fingerprint": f"bench/{i:09d}",
                "status": "firing",
                "severity": "warning",
                "summary": f"bench alert {i}",
                "labels": {"account": f"acc-{i}"},
                "annotations": {},
                "starts_at": "2026-10-17T02:00:00Z",
                "ends_at": None,
            }
        )
        for i in range(count)
    ]


def _timed(work: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    value = work()
    return time.perf_counter() - t0, value


def bench_lines(count: int) -> dict[str, Any]:
    from incidentbook.services import make_services
    from incidentbook.settings import load_settings
    from incidentbook.workspace import init_workspace

    lines = _native_lines(count)
    with tempfile.TemporaryDirectory(prefix="ib-bench-") as tmp:
        path = Path(tmp) / "alerts.jsonl"
        path.write_text("\n".join(lines) + "\n")
        ws = init_workspace(Path(tmp) / "ws").workspace
        services = make_services(load_settings(ws, actor="user:bench"))
        services.db.engine  # noqa: B018 - migrate before timing
        ctx = services.context("bench", actor="cli:ingest")

        def open_lines() -> Any:
            with path.open(encoding="utf-8") as handle:
                yield from handle

        seconds, report = _timed(
            lambda: services.alerts.ingest_lines(ctx, open_lines, "native", batch_size=1000)
        )
        assert report.result.counts["new"] == count, report.to_dict()
        replay_seconds, replay = _timed(
            lambda: services.alerts.ingest_lines(ctx, open_lines, "native", batch_size=1000)
        )
        assert replay.result.counts["replayed"] == count
        services.db.dispose()

        # Reference: the same rows, parsed, inserted with one executemany in one transaction.
        ref_db = sqlite3.connect(Path(tmp) / "ref.sqlite", isolation_level=None)
        ref_db.execute("PRAGMA journal_mode = WAL")
        ref_db.execute("PRAGMA synchronous = NORMAL")
        ref_db.execute(
            "CREATE TABLE alerts (fingerprint TEXT PRIMARY KEY, source TEXT, name TEXT, "
            "status TEXT, severity TEXT, summary TEXT, labels TEXT, annotations TEXT, "
            "starts_at TEXT, ends_at TEXT)"
        )

        def reference() -> None:
            rows = []
            with path.open(encoding="utf-8") as handle:
                for line in handle:
                    a = json.loads(line)
                    rows.append(
                        (
                            a["fingerprint"],
                            a["source"],
                            a["name"],
                            a["status"],
                            a["severity"],
                            a["summary"],
                            json.dumps(a["labels"]),
                            json.dumps(a["annotations"]),
                            a["starts_at"],
                            a["ends_at"],
                        )
                    )
            ref_db.execute("BEGIN")
            ref_db.executemany("INSERT INTO alerts VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
            ref_db.execute("COMMIT")

        ref_seconds, _ = _timed(reference)
        ref_db.close()
    return {
        "lines": count,
        "ingest_seconds": seconds,
        "ingest_lines_per_s": count / seconds,
        "replay_seconds": replay_seconds,
        "replay_lines_per_s": count / replay_seconds,
        "executemany_seconds": ref_seconds,
        "executemany_rows_per_s": count / ref_seconds,
        "ratio_ingest_vs_executemany": seconds / ref_seconds,
    }


def main(argv: list[str]) -> None:
    quick = "--quick" in argv

    def option(name: str, default: int) -> int:
        for arg in argv:
            if arg.startswith(f"--{name}="):
                return int(arg.split("=", 1)[1])
        return default

    payloads = option("payloads", 300 if quick else 2000)
    threads = option("threads", 8)
    count = option("lines", 5_000 if quick else 50_000)
    results: dict[str, Any] = {}
    http = bench_http(payloads, threads)
    results["http"] = http
    ours, ref = http["incidentbook serve"], http["bare starlette (reference)"]
    print(
        f"HTTP Alertmanager payloads (10 alerts each), {threads} client threads, "
        f"{payloads} payloads:\n"
        f"  incidentbook serve: {ours['payloads_per_s']:.0f} payloads/s = "
        f"{ours['alerts_per_s']:.0f} alerts/s; p50 {ours['p50_ms']:.1f} ms, "
        f"p99 {ours['p99_ms']:.1f} ms; errors {ours['errors']}\n"
        f"  bare starlette, no database (reference): {ref['payloads_per_s']:.0f} payloads/s; "
        f"p50 {ref['p50_ms']:.1f} ms, p99 {ref['p99_ms']:.1f} ms\n"
        f"  ratio throughput reference/ours: {ref['payloads_per_s'] / ours['payloads_per_s']:.1f}x;"
        f" stored alerts {http['stored_alerts']}"
    )
    lines = bench_lines(count)
    results["lines"] = lines
    print(
        f"JSON lines, {count} native alerts:\n"
        f"  alerts ingest: {lines['ingest_lines_per_s']:.0f} lines/s "
        f"({lines['ingest_seconds']:.2f} s); replay (all receipts) "
        f"{lines['replay_lines_per_s']:.0f} lines/s\n"
        f"  bare executemany of the same rows (reference): "
        f"{lines['executemany_rows_per_s']:.0f} rows/s ({lines['executemany_seconds']:.3f} s)\n"
        f"  ratio ingest/executemany time: {lines['ratio_ingest_vs_executemany']:.1f}x"
    )
    save_result("ingest", results)


if __name__ == "__main__":
    main(sys.argv[1:])
