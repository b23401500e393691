"""The state database: engine factory, sessions per unit of work, forward-only migrations.

SQLite runs in WAL mode with a busy timeout so the app, the CLI and the receiver can write the
same workspace at once. Write transactions start with BEGIN IMMEDIATE: two writers queue on the
busy timeout instead of failing halfway with "database is locked" on lock upgrade.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool
from sqlmodel import Session

from incidentbook.errors import EXIT_FINDINGS, IncidentbookError, WorkspaceError
from incidentbook.storage.integrity import check_header, damaged, is_damage, missing, quick_check

BUSY_TIMEOUT_MS = 30_000
LOCK_ATTEMPTS = 5  # whole transactions retried when the lock outlasted the busy timeout


class DatabaseBusy(IncidentbookError):
    """Another writer held the state database longer than this unit of work may wait."""

    exit_code = EXIT_FINDINGS


def _pragmas(busy_timeout_ms: int) -> Any:
    def on_connect(dbapi_connection: sqlite3.Connection, record: Any) -> None:
        _on_connect(dbapi_connection, record, busy_timeout_ms)

    return on_connect


def _on_connect(
    dbapi_connection: sqlite3.Connection, _record: Any, busy_timeout_ms: int = BUSY_TIMEOUT_MS
) -> None:
    # Let SQLAlchemy's "begin" hook, not the driver, decide when transactions start.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _on_begin(connection: Any) -> None:
    mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")


def make_engine(db_path: Path, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> Engine:
    """An engine for one state database. NullPool: each unit of work opens its own connection,
    so no connection ever crosses a thread (the app's workers, the receiver's thread pool).
    A write waits at most ``busy_timeout_ms`` for another writer's lock."""
    engine = create_engine(
        f"sqlite:///{db_path}",
        poolclass=NullPool,
        connect_args={"timeout": busy_timeout_ms / 1000},
    )
    event.listen(engine, "connect", _pragmas(busy_timeout_ms))
    event.listen(engine, "begin", _on_begin)
    return engine


class Database:
    """One workspace's state database. Cheap to build; the engine and schema come on first use.

    ``lock_wait_s`` bounds how long one unit of work waits for another writer (the receiver
    sets a short one and answers 503 when it runs out); with it set, a timed-out transaction
    is not retried (``lock_attempts`` is 1), so the wait stays within the bound."""

    def __init__(
        self,
        path: Path,
        *,
        lock_wait_s: float | None = None,
        refuse_create: Callable[[], str | None] | None = None,
    ) -> None:
        self.path = path
        # Asked when the file is missing: why a new, empty database must not be made in its
        # place (the workspace's documents refer to its events), or None to make one.
        self.refuse_create = refuse_create
        self.lock_wait_s = lock_wait_s if lock_wait_s is not None else BUSY_TIMEOUT_MS / 1000
        self.lock_attempts = LOCK_ATTEMPTS if lock_wait_s is None else 1
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    @contextmanager
    def holding(self, lock: threading.Lock) -> Iterator[None]:
        """Hold an in-process writer lock (a service's queue for the receiver's threads),
        waiting at most ``lock_wait_s`` for it: else ``DatabaseBusy``."""
        if not lock.acquire(timeout=self.lock_wait_s):
            raise DatabaseBusy(f"the state database stayed busy for {self.lock_wait_s:g}s")
        try:
            yield
        finally:
            lock.release()

    @property
    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                # The state directory is git-ignored: a fresh clone of a workspace lacks it.
                try:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise WorkspaceError(
                        f"cannot create state directory {self.path.parent}: {exc.strerror}"
                    ) from None
                self._check_before_open()
                engine = make_engine(self.path, round(self.lock_wait_s * 1000))
                # Deferred: migrations bring Alembic (~130 ms to import, python -X importtime)
                # and only the first open of an engine needs it, not every import of db.
                from incidentbook.storage.migrations import upgrade_to_head

                with self.damage_as_error():
                    upgrade_to_head(engine)
                quick_check(self.path)  # the event log's pages, once per open
                self._engine = engine
            return self._engine

    def _check_before_open(self) -> None:
        """A damaged file is one line (``StateDamaged``); a missing one is made anew only
        when nothing in the workspace refers to the events it held."""
        if self.path.exists():
            check_header(self.path)
            return
        reason = self.refuse_create() if self.refuse_create is not None else None
        if reason is not None:
            raise missing(self.path, reason)

    @contextmanager
    def damage_as_error(self) -> Iterator[None]:
        """SQLite's report of a damaged file (SQLAlchemy's, many lines) as one line."""
        try:
            yield
        except DBAPIError as exc:
            if is_damage(exc.orig):
                raise damaged(self.path, f"is damaged ({exc.orig})") from None
            raise

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only unit of work: one consistent snapshot, never blocks writers."""
        engine = self.engine
        with (
            self.damage_as_error(),
            Session(engine, expire_on_commit=False) as session,
            session.begin(),
        ):
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A read-write unit of work, committed on success and rolled back on any error."""
        engine = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        with (
            self.damage_as_error(),
            Session(engine, expire_on_commit=False) as session,
            session.begin(),
        ):
            yield session

    def keep_open(self) -> sqlite3.Connection:
        """An idle connection to hold (and close) around many short units of work: each unit
        closes its own connection (NullPool), and the close of the last connection to a WAL
        database checkpoints and deletes the WAL, about 3 ms a write."""
        self.engine  # noqa: B018 -- create and migrate first
        keeper = sqlite3.connect(self.path, check_same_thread=False)
        keeper.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        return keeper

    def dispose(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None
