"""``incidentbook serve``: the HTTP alert receiver (Alertmanager, PagerDuty Events v2)."""

from __future__ import annotations

from pathlib import Path

import click

from incidentbook.cli import CliState
from incidentbook.errors import UsageError
from incidentbook.obs import log_info
from incidentbook.receiver.server import DEFAULT_LISTEN


@click.command("serve", short_help="Receive alerts over HTTP (Alertmanager, PagerDuty Events v2).")
@click.option(
    "--listen",
    metavar="HOST:PORT",
    default=None,
    help=f"Address to listen on (default: [server] listen, else {DEFAULT_LISTEN}).",
)
@click.option(
    "--max-body",
    "max_body",
    type=click.IntRange(min=1024),
    default=None,
    metavar="BYTES",
    help="Largest request body accepted (default: [server] max_body_bytes or 1 MiB).",
)
@click.option(
    "--no-auth",
    is_flag=True,
    help="Accept requests without a bearer token (loopback addresses only).",
)
@click.option(
    "--tls-cert",
    "tls_cert",
    metavar="FILE",
    default=None,
    help="PEM certificate (chain): serve HTTPS (default: [server] tls_cert). Needs --tls-key.",
)
@click.option(
    "--tls-key",
    "tls_key",
    metavar="FILE",
    default=None,
    help="PEM private key of --tls-cert (default: [server] tls_key).",
)
@click.pass_context
def serve_cmd(
    ctx: click.Context,
    listen: str | None,
    max_body: int | None,
    no_auth: bool,
    tls_cert: str | None,
    tls_key: str | None,
) -> None:
    """Receive alerts over HTTP until interrupted.

    \b
    POST /api/v1/alertmanager   Alertmanager webhook (version 4)
    POST /api/v2/enqueue        PagerDuty Events API v2 (answers 202 with the dedup_key)
    POST /v2/enqueue            the same, at PagerDuty's own path (host-only base URLs)
    GET  /healthz, GET /metrics (Prometheus text format)

    The bearer token comes from INCIDENTBOOK_SERVER_TOKEN (or INCIDENTBOOK_TOKEN) or [server]
    token in incidentbook.toml.
    With --tls-cert and --tls-key (or [server] tls_cert, tls_key) it serves HTTPS.
    A request waits at most [server] lock_wait_seconds (2) for another writer, then answers
    503 with Retry-After: [server] retry_after_seconds (1).
    """
    from incidentbook.receiver.app import create_app
    from incidentbook.receiver.server import bind, build_server, load_tls, parse_listen
    from incidentbook.services import make_services

    state = ctx.find_object(CliState)
    assert state is not None
    settings = state.services.settings
    server = settings.values.server  # checked when the settings were loaded
    limit = max_body or server.max_body_bytes
    lock_wait = server.lock_wait_seconds
    retry_after = server.retry_after_seconds
    # The receiver's own services: a write waits at most lock_wait for another writer's lock,
    # then the sender is told 503 and Retry-After (the CLI's commands wait longer).
    services = make_services(settings, lock_wait_s=float(lock_wait))
    address = parse_listen(listen or server.listen)
    tls = load_tls(
        tls_cert or _configured_path(settings.workspace, server.tls_cert),
        tls_key or _configured_path(settings.workspace, server.tls_key),
    )
    token = settings.token
    if no_auth:
        if not address.is_loopback:
            raise UsageError("--no-auth is only allowed on a loopback address")
        token = None
    elif not token:
        raise UsageError(
            "no token: set INCIDENTBOOK_TOKEN or [server] token in incidentbook.toml "
            "(or pass --no-auth on a loopback address)"
        )
    services.db.engine  # noqa: B018 -- open and migrate the database before accepting requests
    app = create_app(
        services, token=token, max_body_bytes=int(limit), retry_after_s=int(retry_after)
    )
    listening = bind(address)  # a bad or busy address: one line, exit 2, before uvicorn
    if address.port == 0:
        address = type(address)(address.host, int(listening.getsockname()[1]))
    receiver = build_server(app, address, tls=tls)
    url = address.url(tls=tls is not None)
    log_info("receiver.start", state.correlation_id, listen=url, auth=token is not None)
    click.echo(f"incidentbook: receiving alerts on {url}", err=True)
    try:
        receiver.run(sockets=[listening])
    finally:
        listening.close()
        services.db.dispose()
    log_info("receiver.stop", state.correlation_id)


def _configured_path(workspace: Path, value: str) -> Path | None:
    """A path from incidentbook.toml, relative to the workspace; ``None`` when unset."""
    if not value:
        return None
    return workspace / Path(value).expanduser()
