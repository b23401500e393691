"""Observability: structured JSON-lines logs under ``.incidentbook/logs/``.

Each line is one JSON object with ``ts``, ``level``, ``event`` and, for changes, the actor and
correlation id, so ``jq 'select(.correlation_id=="…")'`` follows one request across the CLI,
the app and the receiver. Logging is configured explicitly by entry points, never on import.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from logging.handlers import WatchedFileHandler
from pathlib import Path
from typing import Any

from incidentbook.clock import to_iso, utc_now

LOGGER_NAME = "incidentbook"
LOG_FILE = "incidentbook.jsonl"
_RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonLinesFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": to_iso(utc_now()),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
            "pid": os.getpid(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                payload[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str, sort_keys=False)


class SafeFileHandler(WatchedFileHandler):
    """The log file's handler: logging never breaks a command. When the file cannot be opened
    or written (a read-only or full disk, a directory in its place), it says so once on stderr
    and goes on without the file."""

    def __init__(self, filename: Path) -> None:
        super().__init__(filename, encoding="utf-8", delay=True)
        self.broken = False

    def emit(self, record: logging.LogRecord) -> None:
        if self.broken:
            return
        try:
            super().emit(record)  # opening the file (delay=True) is outside logging's try
        except OSError as exc:
            self._give_up(exc)

    def handleError(self, record: logging.LogRecord) -> None:
        exc = sys.exc_info()[1]  # a write that failed inside logging's try: a full disk
        if isinstance(exc, OSError):
            self._give_up(exc)
        else:
            super().handleError(record)

    def _give_up(self, exc: OSError) -> None:
        self.broken = True
        reason = exc.strerror or type(exc).__name__
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write(
                f"incidentbook: warning: cannot write the log {self.baseFilename}: {reason}; "
                "going on without it\n"
            )
            sys.stderr.flush()


def logger() -> logging.Logger:
    log = logging.getLogger(LOGGER_NAME)
    if not log.handlers:
        # Until an entry point configures a file, records go nowhere: never to the
        # operator's terminal through logging's last-resort handler.
        log.addHandler(logging.NullHandler())
        log.propagate = False
    return log


def configure_logging(logs_dir: Path, *, level: int = logging.INFO) -> Path | None:
    """Send incidentbook's log records to ``logs_dir/incidentbook.jsonl`` (idempotent)."""
    log = logger()
    path = logs_dir / LOG_FILE
    for handler in log.handlers:
        if isinstance(handler, SafeFileHandler) and Path(handler.baseFilename) == path:
            return path
    try:
        logs_dir.mkdir(parents=True, exist_ok=True)
        handler = SafeFileHandler(path)
    except OSError:
        return None  # logging must never stop the operator from working
    handler.setFormatter(JsonLinesFormatter())
    log.addHandler(handler)
    log.setLevel(level)
    log.propagate = False
    return path


def reset_logging() -> None:
    """Detach file handlers (tests, and the app switching workspace)."""
    log = logger()
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()


def log_info(name: str, correlation_id: str | None = None, **fields: Any) -> None:
    logger().info(name, extra={"correlation_id": correlation_id, **fields})


def log_error(name: str, message: str, correlation_id: str | None = None, **fields: Any) -> None:
    logger().error(name, extra={"error": message, "correlation_id": correlation_id, **fields})
