"""Run the receiver with uvicorn (``incidentbook serve``)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
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

    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


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


def build_server(app: Any, address: ListenAddress, *, log_level: str = "warning") -> uvicorn.Server:
    """A uvicorn server for ``app`` (not started): ``.run()`` blocks, ``.should_exit`` stops."""
    import uvicorn

    config = uvicorn.Config(
        app,
        host=address.host,
        port=address.port,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        server_header=False,
    )
    return uvicorn.Server(config)
