"""The receiver under test: its token, auth header and routes, and ``LiveServer`` (a real
uvicorn server for an ASGI app, in a thread, on a free loopback port)."""

from __future__ import annotations

import socket
import threading
from typing import Any

from incidentbook.receiver.server import ListenAddress, TlsFiles, build_server

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
AM = "/api/v1/alertmanager"
PD = "/api/v2/enqueue"
PD_NATIVE = "/v2/enqueue"  # PagerDuty's own path, for host-only base URLs


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
