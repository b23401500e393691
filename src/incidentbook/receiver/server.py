"""Run the receiver with uvicorn (``incidentbook serve``)."""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from incidentbook.errors import UsageError

if TYPE_CHECKING:
    import uvicorn

DEFAULT_LISTEN = "127.0.0.1:9797"


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


def build_server(
    app: Any, address: ListenAddress, *, tls: TlsFiles | None = None, log_level: str = "warning"
) -> uvicorn.Server:
    """A uvicorn server for ``app`` (not started): ``.run()`` blocks, ``.should_exit`` stops.
    With ``tls`` it speaks HTTPS only (uvicorn's own TLS)."""
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
    )
    return uvicorn.Server(config)
