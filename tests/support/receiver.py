"""The receiver under test: its token, auth header and routes, ``LiveServer`` (a real uvicorn
server for an ASGI app, in a thread, on a free loopback port) and TLS files from a test CA."""

from __future__ import annotations

import socket
import sqlite3
import threading
from pathlib import Path
from typing import Any

import trustme

from incidentbook.receiver.server import ListenAddress, TlsFiles, build_server
from incidentbook.services import Services

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
AM = "/api/v1/alertmanager"
PD = "/api/v2/enqueue"
PD_NATIVE = "/v2/enqueue"  # PagerDuty's own path, for host-only base URLs
PD_CHANGE = "/v2/change/enqueue"  # PagerDuty's change events


def tls_files(ca: trustme.CA, directory: Path, name: str = "server") -> TlsFiles:
    """A certificate (chain) and key for 127.0.0.1 and localhost, issued by the test CA."""
    issued = ca.issue_cert("127.0.0.1", "localhost")
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    for extra in issued.cert_chain_pems[1:]:
        extra.write_to_path(str(cert), append=True)
    issued.private_key_pem.write_to_path(str(key))
    return TlsFiles(cert, key)


def ca_file(ca: trustme.CA, directory: Path) -> Path:
    """The test CA's certificate as a PEM file (what a sender's ``ca_file`` names)."""
    path = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


class LiveServer:
    """A real uvicorn server for an ASGI app, in a thread, on a free loopback port; with
    ``tls`` it serves HTTPS (``url`` is then ``https://``)."""

    def __init__(self, app: Any, *, tls: TlsFiles | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        address = ListenAddress("127.0.0.1", self.port)
        self.url = address.url(tls=tls is not None)
        self.server: Any = build_server(app, address, tls=tls)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> LiveServer:
        self.thread.start()
        for _ in range(500):  # bounded: at most ~5 s
            if self.server.started:
                return self
            self.thread.join(0.01)
        raise RuntimeError("uvicorn did not start")

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


def write_counts(services: Services) -> tuple[int, int]:
    """(events, ingest requests) in the state database: proof that a refusal wrote nothing."""
    services.db.engine  # noqa: B018 - make sure the schema exists
    conn = sqlite3.connect(services.db.path)
    try:
        events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        requests = conn.execute("SELECT count(*) FROM alert_ingest_requests").fetchone()[0]
        return int(events), int(requests)
    finally:
        conn.close()
