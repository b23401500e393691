"""The receiver's ASGI app: Alertmanager and PagerDuty Events v2 in (alerts and change events),
one store, one dedup rule.

Every accepted request is committed to SQLite, in one transaction, before its 2xx answer; a
refused request (401, 413, 400) writes nothing. Each response carries ``X-Correlation-Id`` (the
caller's, or a new one), and so does every event and log line the request caused.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from incidentbook.clock import to_iso
from incidentbook.context import new_correlation_id
from incidentbook.core.alerts.formats.alertmanager import parse_alertmanager
from incidentbook.core.alerts.formats.common import PayloadError, decode_json, top_level_text
from incidentbook.core.alerts.formats.pagerduty import parse_pagerduty
from incidentbook.core.changes.model import parse_change_event
from incidentbook.errors import IncidentbookError
from incidentbook.obs import log_error, log_info, logger
from incidentbook.receiver.metrics import ReceiverMetrics
from incidentbook.services import Services

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_BODY_TIMEOUT_S = 10.0
CORRELATION_HEADER = "X-Correlation-Id"
ACTOR_ALERTMANAGER = "webhook:alertmanager"
ACTOR_PAGERDUTY = "webhook:pagerduty"
ROUTE_ALERTMANAGER = "/api/v1/alertmanager"
ROUTE_PAGERDUTY = "/api/v2/enqueue"
# PagerDuty's own path, for senders configured with the host alone (as PagerDuty's clients are).
ROUTE_PAGERDUTY_NATIVE = "/v2/enqueue"
ROUTE_PAGERDUTY_CHANGE = "/v2/change/enqueue"
PAGERDUTY_ROUTES = frozenset(
    {ROUTE_PAGERDUTY, ROUTE_PAGERDUTY_NATIVE, ROUTE_PAGERDUTY_CHANGE}
)
_CORRELATION_OK = re.compile(r"^[A-Za-z0-9._:/@+=-]{1,128}$")


class Refusal(Exception):
    """A request refused before anything was written."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
        super().__init__(body.get("message", ""))
        self.status = status
        self.body = body
        self.headers = headers or {}


@dataclass
class ReceiverState:
    services: Services
    token: str | None
    max_body_bytes: int
    metrics: ReceiverMetrics
    retry_after_s: int = 1
    body_timeout_s: float = 10.0


def correlation_id_of(request: Request) -> str:
    given = request.headers.get(CORRELATION_HEADER, "").strip()
    return given if _CORRELATION_OK.match(given) else new_correlation_id()


def create_app(
    services: Services,
    *,
    token: str | None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    retry_after_s: int = 1,
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S,
) -> Starlette:
    """The receiver for one workspace. ``token=None`` disables auth (``serve --no-auth``).
    A write waits for the database lock as long as ``services.db.lock_wait_s`` (build the
    services with ``lock_wait_s`` for a short bound), then answers 503 with Retry-After
    ``retry_after_s``. A body not received whole within ``body_timeout_s`` is a 408."""
    metrics_ = ReceiverMetrics(health=lambda: services.health.report())
    state = ReceiverState(
        services, token, max_body_bytes, metrics_, retry_after_s, body_timeout_s
    )

    async def alertmanager(request: Request) -> Response:
        return await _handle(state, request, ROUTE_ALERTMANAGER, _alertmanager)

    async def pagerduty(request: Request) -> Response:
        return await _handle(state, request, ROUTE_PAGERDUTY, _pagerduty)

    async def pagerduty_native(request: Request) -> Response:
        return await _handle(state, request, ROUTE_PAGERDUTY_NATIVE, _pagerduty)

    async def pagerduty_change(request: Request) -> Response:
        return await _handle(state, request, ROUTE_PAGERDUTY_CHANGE, _pagerduty_change)

    async def healthz(request: Request) -> Response:
        def probe() -> dict[str, Any]:
            from sqlalchemy import text

            with services.db.read() as session:
                session.execute(text("SELECT 1"))
            return {"status": "ok"}

        try:
            body = await run_in_threadpool(probe)
            status = 200
        except Exception as exc:  # unauthenticated: say little, log the rest
            log_error("receiver.healthz_failed", str(exc), None)
            body, status = {"status": "error", "message": "database unavailable"}, 503
        state.metrics.observe_request("/healthz", request.method, status)
        return JSONResponse(body, status_code=status)

    async def metrics(request: Request) -> Response:
        state.metrics.observe_request("/metrics", request.method, 200)
        # the health gauges read the state database and the ledger: off the event loop
        payload, content_type = await run_in_threadpool(state.metrics.render)
        return Response(payload, media_type=content_type)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        cid = correlation_id_of(request)
        state.metrics.observe_request("unmatched", request.method, exc.status_code)
        return JSONResponse(
            {"status": "error", "message": exc.detail, "correlation_id": cid},
            status_code=exc.status_code,
            headers={CORRELATION_HEADER: cid, **(exc.headers or {})},
        )

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # Hold one idle connection for the server's life: with the per-transaction connections
        # of Database (NullPool), each close would otherwise be the last one and checkpoint and
        # delete the WAL (~3 ms per request).
        keeper = await run_in_threadpool(_open_keeper, services)
        try:
            yield
        finally:
            if keeper is not None:
                keeper.close()

    app = Starlette(
        lifespan=lifespan,
        routes=[
            Route(ROUTE_ALERTMANAGER, alertmanager, methods=["POST"]),
            Route(ROUTE_PAGERDUTY, pagerduty, methods=["POST"]),
            Route(ROUTE_PAGERDUTY_NATIVE, pagerduty_native, methods=["POST"]),
            Route(ROUTE_PAGERDUTY_CHANGE, pagerduty_change, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        exception_handlers={HTTPException: http_error},
    )
    app.state.receiver = state
    return app


def _open_keeper(services: Services) -> sqlite3.Connection | None:
    try:
        return services.db.keep_open()
    except (sqlite3.Error, IncidentbookError) as exc:
        log_error("receiver.keeper_failed", str(exc), None)
        return None


Handler = Callable[[ReceiverState, Request, str, bytes], Awaitable[tuple[int, dict[str, Any]]]]


async def _handle(state: ReceiverState, request: Request, route: str, handler: Handler) -> Response:
    started = time.perf_counter()
    cid = correlation_id_of(request)
    headers = {CORRELATION_HEADER: cid}
    try:
        bearer_ok = _bearer_ok(state, request)
        if not bearer_ok and route not in PAGERDUTY_ROUTES:
            raise _unauthorized(cid)
        body = await _read_body(request, state.max_body_bytes, cid, state.body_timeout_s)
        if not bearer_ok and not _routing_key_ok(state, body):
            raise _unauthorized(cid)
        status, payload = await handler(state, request, cid, body)
    except ClientDisconnect:
        # The sender went away mid-body: nothing was read whole, nothing written; no one is
        # left to answer. A refusal (info), not an internal error.
        log_info(
            "receiver.client_disconnected",
            cid,
            route=route,
            client=request.client.host if request.client else None,
        )
        status, payload = 400, {"status": "error", "message": "client disconnected"}
    except Refusal as refused:
        refusal = _as_pagerduty(refused) if route in PAGERDUTY_ROUTES else refused
        status, payload = refusal.status, refusal.body
        headers.update(refusal.headers)
        if status >= 500:
            log_error("receiver.unavailable", str(refusal), cid, route=route, status=status)
        else:
            log_info(
                "receiver.refused",
                cid,
                route=route,
                status=status,
                detail=str(refusal),
                client=request.client.host if request.client else None,
            )
    except Exception as exc:
        logger().exception("receiver.internal_error", extra={"correlation_id": cid, "route": route})
        status = 500
        payload = {
            "status": "error",
            "message": f"internal error: {type(exc).__name__}",
            "correlation_id": cid,
        }
    state.metrics.observe_request(route, request.method, status)
    state.metrics.latency.labels(route=route).observe(time.perf_counter() - started)
    return JSONResponse(payload, status_code=status, headers=headers)


PAGERDUTY_INVALID = {"status": "invalid event", "message": "Event object is invalid"}


def _as_pagerduty(refusal: Refusal) -> Refusal:
    """A refusal on a PagerDuty path, answered as PagerDuty documents its Events API: every
    bad request is a 400 with ``status``, ``message`` and ``errors`` (a wrong routing key and
    an oversized body too; PagerDuty's clients do not retry a 4xx). 5xx are kept (retried)."""
    if refusal.status >= 500 or refusal.body.get("message") == PAGERDUTY_INVALID["message"]:
        return refusal
    if refusal.status == 401:
        errors = ["routing_key: not accepted here (give the receiver's token as routing_key)"]
    else:
        message = str(refusal.body.get("message", "invalid request"))
        errors = list(refusal.body.get("errors") or [message.replace("body ", "body: ", 1)])
    return Refusal(400, {**PAGERDUTY_INVALID, "errors": errors})


def _bearer_ok(state: ReceiverState, request: Request) -> bool:
    if state.token is None:
        return True
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(credentials.strip().encode(), state.token.encode())


def _routing_key_ok(state: ReceiverState, body: bytes) -> bool:
    """PagerDuty senders authenticate with the event's routing_key: accept the token there.
    Read before the body is validated, so an unauthenticated body is never parsed further."""
    if state.token is None:
        return True
    key = top_level_text(body, "routing_key")
    return key is not None and hmac.compare_digest(
        key.encode("utf-8", "surrogatepass"), state.token.encode()
    )


def _unauthorized(cid: str) -> Refusal:
    return Refusal(
        401,
        {"status": "error", "message": "missing or wrong bearer token", "correlation_id": cid},
        {"WWW-Authenticate": 'Bearer realm="incidentbook"'},
    )


async def _read_body(request: Request, limit: int, cid: str, timeout_s: float) -> bytes:
    def too_large() -> Refusal:
        return Refusal(
            413,
            {
                "status": "error",
                "message": f"body larger than {limit} bytes",
                "correlation_id": cid,
            },
        )

    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise Refusal(
                400,
                {
                    "status": "error",
                    "message": "invalid request",
                    "errors": ["Content-Length: not a number"],
                    "correlation_id": cid,
                },
            )
        if int(declared) > limit:
            raise too_large()
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout_s):  # a sender stalled mid-body is not waited for
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise too_large()
                chunks.append(chunk)
    except asyncio.CancelledError:
        # The server is shutting down and its grace period ran out while this sender was
        # still sending: answer "retry" rather than die with a traceback in uvicorn's log.
        raise Refusal(
            503,
            {"status": "error", "message": "shutting down, retry", "correlation_id": cid},
            {"Retry-After": "1", "Connection": "close"},
        ) from None
    except TimeoutError:
        raise Refusal(
            408,
            {
                "status": "error",
                "message": f"body not received within {timeout_s:g}s",
                "correlation_id": cid,
            },
            {"Connection": "close"},
        ) from None
    return b"".join(chunks)


def _unavailable(cid: str, message: str, retry_after_s: int) -> Refusal:
    """A 503 the sender retries (Alertmanager and PagerDuty clients both retry on 5xx)."""
    return Refusal(
        503,
        {"status": "error", "message": message, "correlation_id": cid},
        {"Retry-After": str(retry_after_s)},
    )


async def _commit(state: ReceiverState, work: Callable[[], Any], cid: str) -> Any:
    from sqlalchemy.exc import OperationalError

    try:
        return await run_in_threadpool(work)
    except OperationalError as exc:
        raise _unavailable(
            cid, f"database unavailable, retry: {exc.orig}", state.retry_after_s
        ) from None
    except PayloadError:
        raise
    except IncidentbookError as exc:
        raise _unavailable(cid, str(exc), state.retry_after_s) from None


async def _alertmanager(
    state: ReceiverState, request: Request, cid: str, body: bytes
) -> tuple[int, dict[str, Any]]:
    try:
        payload = parse_alertmanager(decode_json(body))
    except PayloadError as exc:
        raise Refusal(
            400,
            {
                "status": "error",
                "message": "invalid Alertmanager payload",
                "errors": exc.errors,
                "correlation_id": cid,
            },
        ) from None
    ctx = state.services.context(
        "Alertmanager notification", correlation_id=cid, actor=ACTOR_ALERTMANAGER
    )
    service = state.services.alerts
    result = await _commit(state, lambda: service.ingest_alertmanager(ctx, payload), cid)
    state.metrics.observe_ingest("alertmanager", result)
    return 200, {"status": "success", "correlation_id": cid, **result.to_dict()}


async def _pagerduty(
    state: ReceiverState, request: Request, cid: str, body: bytes
) -> tuple[int, dict[str, Any]]:
    ctx = state.services.context(None, correlation_id=cid, actor=ACTOR_PAGERDUTY)
    try:
        event = parse_pagerduty(decode_json(body), now=to_iso(ctx.clock()))
    except PayloadError as exc:
        raise Refusal(
            400,
            {**PAGERDUTY_INVALID, "errors": exc.errors},
        ) from None
    ctx = ctx.because(f"PagerDuty {event.action}")
    service = state.services.alerts
    result = await _commit(state, lambda: service.ingest_pagerduty(ctx, event), cid)
    state.metrics.observe_ingest("pagerduty", result)
    return 202, {"status": "success", "message": "Event processed", "dedup_key": event.dedup_key}


async def _pagerduty_change(
    state: ReceiverState, request: Request, cid: str, body: bytes
) -> tuple[int, dict[str, Any]]:
    """A PagerDuty change event: stored once (a replay is the same change), 202 as PagerDuty."""
    try:
        event = parse_change_event(decode_json(body))
    except PayloadError as exc:
        raise Refusal(
            400,
            {**PAGERDUTY_INVALID, "errors": exc.errors},
        ) from None
    ctx = state.services.context(
        f"PagerDuty change: {event.summary[:80]}", correlation_id=cid, actor=ACTOR_PAGERDUTY
    )
    service = state.services.changes
    await _commit(state, lambda: service.record(ctx, event), cid)
    return 202, {"status": "success", "message": "Change event processed"}
