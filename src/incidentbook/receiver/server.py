"""Run the receiver with uvicorn (``incidentbook serve``): the listening socket, bound before
uvicorn starts (a bad address is one line), and the time limits that keep a stalled client
from holding a connection: headers within ``HEADER_TIMEOUT_S`` (uvicorn has no such limit of
its own: ``HeaderTimeoutH11`` adds it), idle keep-alive, and a bounded graceful shutdown."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from incidentbook.errors import UsageError

if TYPE_CHECKING:
    import uvicorn

DEFAULT_LISTEN = "127.0.0.1:9797"
HEADER_TIMEOUT_S = 10.0  # a request's line and headers, from connect (or the last response)
KEEP_ALIVE_S = 5  # an idle keep-alive connection
GRACEFUL_SHUTDOWN_S = 5  # after SIGINT/SIGTERM, in-flight requests get this long, then close


@dataclass(frozen=True)
class ListenAddress:
    host: str
    port: int

    @property
    def is_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def url(self, *, tls: bool = False) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if tls else 'http'}://{host}:{self.port}"


@dataclass(frozen=True)
class TlsFiles:
    """A PEM certificate (chain) and its private key, checked to load and to match."""

    cert: Path
    key: Path


def load_tls(cert: str | Path | None, key: str | Path | None) -> TlsFiles | None:
    """The TLS files for ``serve``, validated before the server starts; ``None`` for plain
    HTTP. Only one of the two, a missing or unreadable file, or a key that does not match the
    certificate is a ``UsageError`` (one line)."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        given, missing = ("--tls-cert", "--tls-key") if key is None else ("--tls-key", "--tls-cert")
        raise UsageError(f"{given} needs {missing} too (or [server] tls_cert and tls_key)")
    files = TlsFiles(Path(cert), Path(key))
    for label, path in (("certificate", files.cert), ("key", files.key)):
        try:
            path.read_bytes()
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise UsageError(f"TLS {label} {str(path)!r} cannot be read: {reason}") from None
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(files.cert, files.key)
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise UsageError(
                f"TLS key {str(files.key)!r} does not fit certificate {str(files.cert)!r}"
            ) from None
        raise UsageError(
            f"TLS certificate {str(files.cert)!r} and key {str(files.key)!r} are not a PEM "
            f"certificate and its key ({exc.reason or exc})"
        ) from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UsageError(f"TLS files cannot be loaded: {reason}") from None
    return files


def parse_listen(text: str) -> ListenAddress:
    """``HOST:PORT`` or ``[IPv6]:PORT``; port 0 picks a free one."""
    value = text.strip()
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        port_text = rest.removeprefix(":") if sep else ""
    else:
        host, _, port_text = value.rpartition(":")
    if not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise UsageError(f"--listen wants HOST:PORT (e.g. {DEFAULT_LISTEN}), not {text!r}")
    return ListenAddress(host, int(port_text))


def bind(address: ListenAddress) -> socket.socket:
    """A listening TCP socket on ``address``; an address that does not resolve, is not this
    host's, or is in use is a ``UsageError`` (one line), before any server starts."""
    where = address.url().removeprefix("http://")
    try:
        infos = socket.getaddrinfo(
            address.host, address.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, socket.gaierror) else str(exc)
        raise UsageError(f"cannot listen on {where}: {reason}") from None
    family, kind, proto, _, sockaddr = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(sockaddr)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {where}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def build_server(
    app: Any,
    address: ListenAddress,
    *,
    tls: TlsFiles | None = None,
    log_level: str = "warning",
    header_timeout_s: float = HEADER_TIMEOUT_S,
    graceful_shutdown_s: int = GRACEFUL_SHUTDOWN_S,
) -> uvicorn.Server:
    """A uvicorn server for ``app`` (not started): ``.run(sockets=[bind(address)])`` blocks,
    ``.should_exit`` stops. With ``tls`` it speaks HTTPS only (uvicorn's own TLS). A client
    that has not sent a request's headers within ``header_timeout_s`` is disconnected; on
    shutdown, requests still running after ``graceful_shutdown_s`` are cut off."""
    import uvicorn

    config = uvicorn.Config(
        app,
        host=address.host,
        port=address.port,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        server_header=False,
        ssl_certfile=str(tls.cert) if tls else None,
        ssl_keyfile=str(tls.key) if tls else None,
        http=header_timeout_protocol(header_timeout_s),
        timeout_keep_alive=KEEP_ALIVE_S,
        timeout_graceful_shutdown=graceful_shutdown_s,
    )
    return uvicorn.Server(config)


def header_timeout_protocol(seconds: float) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol with a deadline for a request's line and headers (a slowloris
    holds a connection open with a header that never ends; uvicorn itself waits forever)."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderTimeoutH11(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()  # the next request's headers get the same deadline

        def handle_events(self) -> None:
            super().handle_events()
            if self.cycle is not None and not self.cycle.response_complete:
                self._disarm()  # a request's headers are in: the app reads its body

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            self._header_timer = self.loop.call_later(seconds, self._headers_too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            in_request = self.cycle is not None and not self.cycle.response_complete
            if not in_request and not self.transport.is_closing():
                self.transport.close()

    return HeaderTimeoutH11
