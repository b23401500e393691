"""Observability: structured JSON-lines logs under ``.incidentbook/logs/``.

Each line is one JSON object with ``ts``, ``level``, ``event`` and, for changes, the actor and
correlation id, so ``jq 'select(.correlation_id=="…")'`` follows one request across the CLI,
the app and the receiver. Logging is configured explicitly by entry points, never on import,
at the level of ``[log] level`` (or INCIDENTBOOK_LOG_LEVEL); the file rotates by size
(``[log] max_bytes``, ``backups``) through concurrent-log-handler, whose lock file makes the
writes and rotations of several processes at once safe.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from incidentbook.clock import to_iso, utc_now

if TYPE_CHECKING:  # the library itself is imported on the first record (see _rotating_handler)
    from concurrent_log_handler import ConcurrentRotatingFileHandler

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


DEFAULT_MAX_BYTES = 10 * 1024 * 1024  # [log] max_bytes
DEFAULT_BACKUPS = 5  # [log] backups: incidentbook.jsonl.1 ... .5


@dataclass(frozen=True)
class LogOptions:
    """``[log]``: the level ("debug" ... "critical") and the rotation."""

    level: str = "info"
    max_bytes: int = DEFAULT_MAX_BYTES
    backups: int = DEFAULT_BACKUPS


@functools.cache
def _rotating_handler() -> type[ConcurrentRotatingFileHandler]:
    """concurrent-log-handler's ConcurrentRotatingFileHandler (a lock file beside the log
    serialises every process's writes and rotations), reporting its failures to its owner."""
    # Deferred: the library and portalocker take ~50 ms to import (python -X importtime), and
    # only the first record written needs them, not every command that might log.
    from concurrent_log_handler import ConcurrentRotatingFileHandler

    class Rotating(ConcurrentRotatingFileHandler):
        reporter: SafeFileHandler  # (not ``owner``: the library's name for the file's owner)

        def handleError(self, record: logging.LogRecord) -> None:
            self.reporter.handleError(record)

    return Rotating


class SafeFileHandler(logging.Handler):
    """The log file's handler: it rotates by size (``max_bytes``, keeping ``backups`` old
    files), safely when the receiver, the CLI and the app write at once; and logging never
    breaks a command: when the file cannot be opened or written (a read-only or full disk, a
    directory in its place), it says so once on stderr and goes on without the file."""

    def __init__(
        self, filename: Path, options: LogOptions | Callable[[], LogOptions] = LogOptions()
    ) -> None:
        super().__init__()
        self.baseFilename = str(filename)
        # Options may come late (a callable, asked on the first record): reading them may
        # need the checked settings, which the app's first paint does not wait for.
        self._options = options
        self.max_bytes = DEFAULT_MAX_BYTES
        self.backups = DEFAULT_BACKUPS
        self.broken = False
        self._file: ConcurrentRotatingFileHandler | None = None
        self.reconfigure(options)

    def reconfigure(self, options: LogOptions | Callable[[], LogOptions]) -> None:
        """New options (for the rotation, those the file is next opened with)."""
        if isinstance(options, LogOptions):
            self._apply(options)
        else:
            self._options = options
            self.setLevel(logging.NOTSET)
            logger().setLevel(logging.DEBUG)  # until the options are known: filter() decides

    def _apply(self, options: LogOptions) -> None:
        self._options = options
        self.max_bytes, self.backups = options.max_bytes, options.backups
        level = logging.getLevelNamesMapping()[options.level.upper()]
        self.setLevel(level)
        logger().setLevel(level)  # records below it are not even made

    def filter(self, record: logging.LogRecord) -> bool:
        if not isinstance(self._options, LogOptions):
            self._apply(self._options())
        return record.levelno >= self.level and bool(super().filter(record))

    def _opened(self) -> ConcurrentRotatingFileHandler:
        if self._file is None:
            handler = _rotating_handler()(
                self.baseFilename,
                maxBytes=self.max_bytes,
                backupCount=self.backups,
                encoding="utf-8",
            )
            handler.reporter = self  # type: ignore[attr-defined]
            handler.setFormatter(self.formatter)
            self._file = handler
        return self._file

    def emit(self, record: logging.LogRecord) -> None:
        if self.broken:
            return
        try:
            handler = self._opened()
        except OSError as exc:
            self._give_up(exc)
            return
        handler.emit(record)  # its failures come back to handleError

    def handleError(self, record: logging.LogRecord) -> None:
        exc = sys.exc_info()[1]  # a file that cannot be opened, locked or written
        if isinstance(exc, OSError):
            self._give_up(exc)
        else:
            super().handleError(record)

    def close(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
        super().close()

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


def configure_logging(
    logs_dir: Path, options: LogOptions | Callable[[], LogOptions] = LogOptions()
) -> Path | None:
    """Send incidentbook's log records at the options' level (``[log] level`` or
    INCIDENTBOOK_LOG_LEVEL) and above to ``logs_dir/incidentbook.jsonl``, rotated at their
    ``max_bytes`` (idempotent). A callable is asked for the options on the first record."""
    log = logger()
    path = logs_dir / LOG_FILE
    for handler in log.handlers:
        if isinstance(handler, SafeFileHandler) and Path(handler.baseFilename) == path:
            handler.reconfigure(options)
            return path
    # When it cannot be made, the handler says so once on the first record; the command goes on.
    with contextlib.suppress(OSError):
        logs_dir.mkdir(parents=True, exist_ok=True)
    handler = SafeFileHandler(path, options)
    handler.setFormatter(JsonLinesFormatter())
    log.addHandler(handler)
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
