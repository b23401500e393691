"""The ledger contract of DESIGN §4: connect by SQLAlchemy URL, check the two tables, read.

incidentbook writes to a ledger only in ``fix apply`` (``open_ledger(url, writable=True)``);
every other command opens SQLite files read-only (``mode=ro``), and every read of a run
happens in one read transaction (REPEATABLE READ, READ ONLY on PostgreSQL), so a ledger
being written while it is read gives one consistent snapshot.

Hot queries go through the DBAPI cursor directly (rows as tuples, no ORM): the reconciler
streams millions of them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from incidentbook.clock import parse_iso, to_iso
from incidentbook.errors import UsageError

ACCOUNT_COLUMNS = ("account_id", "currency", "balance_minor", "updated_at", "opened_at")
ENTRY_COLUMNS = (
    "entry_id",
    "account_id",
    "amount_minor",
    "currency",
    "kind",
    "occurred_at",
    "recorded_at",
    "external_ref",
    "idempotency_key",
    "actor",
    "reason",
    "correlation_id",
    "reverses_entry_id",
)
CONTRACT = {"ledger_accounts": ACCOUNT_COLUMNS, "ledger_entries": ENTRY_COLUMNS}
INTEGER_COLUMNS = {
    ("ledger_accounts", "balance_minor"),
    ("ledger_entries", "amount_minor"),
    ("ledger_entries", "entry_id"),
}
INTEGER_TYPES = ("INT", "BIGINT", "INTEGER", "SMALLINT", "BIGSERIAL", "SERIAL")

# The indexes the reconciler and the audit lookups are fast with (`reconcile --show-indexes`).
# A user's ledger gets them from its owner; incidentbook never writes to a ledger it did not
# make. Each serves one query shape:
RECOMMENDED_INDEXES = [
    "CREATE UNIQUE INDEX ux_ledger_entries_idempotency ON ledger_entries(idempotency_key)",
    # per-account sums by currency (balance_mismatch, currency_mismatch) in one streamed
    # scan; ref and kind make it cover the duplicate check of an incremental run's accounts
    "CREATE INDEX ix_ledger_entries_recon ON ledger_entries"
    "(account_id, currency, amount_minor, external_ref, kind)",
    # account history newest first (audit)
    "CREATE INDEX ix_ledger_entries_account ON ledger_entries(account_id)",
    # repeated upstream ids (duplicate_posting); a webhook handler wants it too
    "CREATE INDEX ix_ledger_entries_external_ref ON ledger_entries(external_ref)"
    " WHERE external_ref IS NOT NULL",
    # reversals and their targets (invalid_reversal; duplicate_posting's cancelled copies)
    "CREATE INDEX ix_ledger_entries_reverses ON ledger_entries(reverses_entry_id, amount_minor)"
    " WHERE reverses_entry_id IS NOT NULL",
    # recording order (clock_skew) without reading whole rows
    "CREATE INDEX ix_ledger_entries_recorded ON ledger_entries(entry_id, recorded_at)",
    "CREATE INDEX ix_ledger_entries_correlation ON ledger_entries(correlation_id)",
    "CREATE INDEX ix_ledger_accounts_updated ON ledger_accounts(updated_at)",
]


class LedgerError(UsageError):
    """The ledger cannot be read as the contract says: unreachable, missing table or column,
    a value of the wrong type. Always one line naming the problem."""


def redact(url: str) -> str:
    """The URL without its password, fit for messages, logs and the state database."""
    # deferred: scan workers import this module without SQLAlchemy
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def iso(value: Any, where: str = "") -> str | None:
    """A ledger timestamp (SQLite text or PostgreSQL timestamptz) as incidentbook's UTC text;
    one that is not ISO-8601 is a ``LedgerError`` naming ``where`` (the row it came from)."""
    if value is None:
        return None
    return to_iso(moment(value, where))


def moment(value: Any, where: str = "") -> datetime:
    """A ledger timestamp as an aware UTC datetime (``LedgerError`` if it is not one)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        return parse_iso(str(value))
    except ValueError:
        place = f" in {where}" if where else ""
        raise LedgerError(f"ledger timestamp {value!r}{place} is not ISO-8601") from None


INT64_MAX = 2**63 - 1


def is_overflow(exc: BaseException) -> bool:
    """Whether a ledger query failed because a sum left 64-bit integers: SQLite's "integer
    overflow", PostgreSQL's numeric_value_out_of_range (SQLSTATE 22003)."""
    code = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    return code == "22003" or "integer overflow" in str(exc)


def overflow_error(snap: Snapshot, where: str, params: Sequence[Any]) -> LedgerError:
    """The one-line error for sums that overflowed, naming the accounts (of ledger_entries
    rows matching ``where``) whose entries sum beyond 64 bits, found with a sum that cannot
    overflow (SQLite's TOTAL, PostgreSQL's numeric SUM)."""
    total = "TOTAL(amount_minor)" if snap.sqlite else "SUM(amount_minor)"
    try:
        rows = snap.all(
            f"SELECT account_id FROM ledger_entries WHERE {where} GROUP BY account_id"
            f" HAVING abs({total}) > {INT64_MAX} ORDER BY account_id LIMIT 6",
            params,
        )
    except Exception:  # e.g. PostgreSQL's transaction is aborted: say what we know
        rows = []
    names = ", ".join(str(r[0]) for r in rows[:5]) + (", …" if len(rows) > 5 else "")
    which = f"account {names}" if len(rows) == 1 else f"accounts {names}" if rows else "an account"
    return LedgerError(f"{which}: ledger_entries.amount_minor sums beyond 64-bit integers")


@dataclass
class Ledger:
    """A validated ledger: its engine and dialect (``scan_capabilities`` says what its
    indexes allow, inside a snapshot)."""

    url: str
    display_url: str
    dialect: str
    engine: Any

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextmanager
    def snapshot(self) -> Iterator[Snapshot]:
        """One read transaction: everything read through it sees the same ledger state."""
        # deferred: scan workers import this module without SQLAlchemy
        from sqlalchemy.exc import DBAPIError

        try:
            raw = self.engine.raw_connection()
        except DBAPIError as exc:
            raise LedgerError(
                f"cannot open ledger {self.display_url}: {_first_line(exc)}"
            ) from None
        try:
            dbapi = raw.driver_connection
            if self.is_sqlite:
                dbapi.isolation_level = None
                begin_sqlite_snapshot(dbapi)
            else:
                import psycopg  # deferred: only a PostgreSQL ledger needs the driver

                dbapi.rollback()
                dbapi.autocommit = False
                dbapi.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
                dbapi.read_only = True
                with dbapi.cursor() as cursor:
                    cursor.execute("SELECT 1")
            yield Snapshot(dbapi, sqlite=self.is_sqlite)
        finally:
            try:
                dbapi = raw.driver_connection
                if self.is_sqlite:
                    if dbapi.in_transaction:
                        dbapi.execute("COMMIT")
                else:
                    dbapi.rollback()
                    dbapi.read_only = False
            except Exception:  # the connection may already be gone; closing is enough
                pass
            raw.close()

    def dispose(self) -> None:
        self.engine.dispose()


class Snapshot:
    """Queries inside one read transaction. SQL is written with ``?`` placeholders.

    Built on a bare DBAPI connection so that a scan worker process (``workers``) can make one
    from ``sqlite3`` without importing SQLAlchemy."""

    def __init__(self, dbapi: Any, *, sqlite: bool) -> None:
        self.dbapi = dbapi
        self.sqlite = sqlite

    def restart(self) -> None:
        """End the read transaction and begin a new one at the newest committed state
        (SQLite; used while scan workers agree on one snapshot)."""
        assert self.sqlite
        if self.dbapi.in_transaction:
            self.dbapi.execute("COMMIT")
        begin_sqlite_snapshot(self.dbapi)

    def sql(self, text: str) -> str:
        return text if self.sqlite else text.replace("?", "%s")

    def rows(self, text: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        """Stream rows (SQLite) or fetch them (PostgreSQL; callers keep results bounded)."""
        cursor = self.dbapi.cursor()
        try:
            cursor.execute(self.sql(text), tuple(params))
            while True:
                chunk = cursor.fetchmany(5000)
                if not chunk:
                    break
                yield from chunk
        finally:
            # A caller that stopped early (an error in its loop) may close this generator
            # after the connection: closing the cursor of a closed connection is moot.
            with contextlib.suppress(Exception):
                cursor.close()

    def all(self, text: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self.rows(text, params))

    def one(self, text: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        cursor = self.dbapi.cursor()
        try:
            cursor.execute(self.sql(text), tuple(params))
            row = cursor.fetchone()
            return tuple(row) if row is not None else None
        finally:
            cursor.close()

    def ts(self, moment_: datetime) -> Any:
        """A timestamp parameter comparable with the ledger's timestamp columns."""
        if self.sqlite:
            return moment_.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return moment_


def begin_sqlite_snapshot(dbapi: Any) -> None:
    """BEGIN a read transaction on a SQLite connection in autocommit mode and take its
    snapshot now (SQLite takes it at the first read, not at BEGIN)."""
    cursor = dbapi.cursor()
    try:
        cursor.execute("BEGIN")
        cursor.execute("SELECT COUNT(*) FROM sqlite_master").fetchall()
    finally:
        cursor.close()


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///`` ledger URL (None for other databases)."""
    # deferred: scan workers import this module without SQLAlchemy
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    return Path(parsed.database).resolve()


def scan_capabilities(snap: Snapshot) -> dict[str, bool]:
    """What the ledger's schema lets the scans do cheaply; decided once per run (and sent to
    scan workers). ``entry_rowid``: SQLite ``entry_id`` is the rowid (the planner looks it
    up by INTEGER PRIMARY KEY), so the predecessor of an entry is one cheap step away.
    ``ref_index``: an index leads with ``external_ref``, so repeated upstream ids can be
    grouped in ranges of refs.
    ``reverses_index``: one leads with ``reverses_entry_id``, so the database can find a
    target's earlier reversal itself."""
    caps = {"entry_rowid": False, "ref_index": False, "reverses_index": False}
    if snap.sqlite:
        table = snap.one("SELECT type, sql FROM sqlite_master WHERE name = 'ledger_entries'")
        if (
            table is not None
            and table[0] == "table"
            and "WITHOUT ROWID" not in str(table[1]).upper()
        ):
            # Ask the planner, not the declaration: "INTEGER PRIMARY KEY DESC" looks like an
            # alias of the rowid in table_info and is not one.
            plan = snap.all(
                "EXPLAIN QUERY PLAN SELECT recorded_at FROM ledger_entries NOT INDEXED"
                " WHERE entry_id = 1"
            )
            caps["entry_rowid"] = any("INTEGER PRIMARY KEY" in str(r[-1]) for r in plan)
        for (name,) in snap.all("SELECT name FROM pragma_index_list('ledger_entries')"):
            first = snap.one("SELECT name FROM pragma_index_info(?) WHERE seqno = 0", (name,))
            if first is not None and first[0] == "external_ref":
                caps["ref_index"] = True
            if first is not None and first[0] == "reverses_entry_id":
                caps["reverses_index"] = True
    else:
        for column, cap in (("external_ref", "ref_index"), ("reverses_entry_id", "reverses_index")):
            row = snap.one(
                "SELECT COUNT(*) FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid"
                " JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = i.indkey[0]"
                " WHERE t.relname = 'ledger_entries' AND a.attname = ?",
                (column,),
            )
            caps[cap] = bool(row and row[0])
    return caps


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return text[0] if text else type(orig).__name__


def open_ledger(url: str, *, writable: bool = False) -> Ledger:
    """Connect and check the contract; every failure is one line naming the problem.
    ``writable`` (``fix apply`` only): the ledger must also allow writing its two tables."""
    # deferred: scan workers import this module without SQLAlchemy
    from sqlalchemy import create_engine, inspect
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
    from sqlalchemy.pool import NullPool

    display = redact(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise LedgerError(f"not a database URL: {url!r}") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        if not database or database == ":memory:":
            raise LedgerError(f"ledger {display}: a SQLite ledger must be a file")
        path = Path(database)
        if not path.is_file():
            raise LedgerError(
                f"ledger database not found: {path} (set [ledger] url in incidentbook.toml,"
                " pass --ledger URL, or run: incidentbook demo)"
            )
        # write-protected (no write bit for anyone) counts even for root, as rm treats it
        protected = not path.stat().st_mode & 0o222
        if writable and (
            protected or not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK))
        ):
            raise LedgerError(
                f"ledger {display} is read-only: writing a fix needs a ledger file (and its"
                " folder) this user can write"
            )
        mode = "rw" if writable else "ro"
        engine_url = f"sqlite:///file:{path.resolve()}?mode={mode}&uri=true"
        engine = create_engine(engine_url, poolclass=NullPool)
    elif backend == "postgresql":
        if parsed.get_driver_name() not in ("psycopg", "psycopg2") or (
            parsed.get_driver_name() == "psycopg2"
        ):
            parsed = parsed.set(drivername="postgresql+psycopg")
        try:
            engine = create_engine(parsed, poolclass=NullPool)
        except NoSuchModuleError:
            raise LedgerError(
                "PostgreSQL ledgers need psycopg: pip install 'psycopg[binary]'"
            ) from None
    else:
        raise LedgerError(
            f"ledger {display}: unsupported database {backend!r} (sqlite, postgresql)"
        )
    try:
        inspector = inspect(engine)
        names = set(inspector.get_table_names()) | set(inspector.get_view_names())
        for table, required in CONTRACT.items():
            if table not in names:
                raise LedgerError(
                    f"ledger {display} does not expose the contract: table {table} is missing"
                )
            columns = {c["name"].lower(): c for c in inspector.get_columns(table)}
            for column in required:
                if column not in columns:
                    raise LedgerError(f"ledger {display}: {table} has no column {column}")
            if backend == "postgresql":
                for tbl, column in INTEGER_COLUMNS:
                    if tbl != table:
                        continue
                    type_name = str(columns[column]["type"]).upper()
                    if not type_name.startswith(INTEGER_TYPES):
                        raise LedgerError(
                            f"ledger {display}: {table}.{column} is {type_name}, "
                            "not an integer type (money is integer minor units)"
                        )
        if writable and backend == "postgresql":
            _check_postgres_writable(engine, display)
    except DBAPIError as exc:
        engine.dispose()
        raise LedgerError(f"cannot read ledger {display}: {_first_line(exc)}") from None
    except LedgerError:
        engine.dispose()
        raise
    return Ledger(url, display, backend, engine)


def _check_postgres_writable(engine: Any, display: str) -> None:
    """A PostgreSQL ledger a fix can write: not a read-only session (a standby, or
    ``default_transaction_read_only``) and INSERT on the entries, UPDATE on the accounts."""
    from sqlalchemy import text

    with engine.connect() as conn:
        read_only = conn.execute(text("SHOW transaction_read_only")).scalar()
        can_write = conn.execute(
            text(
                "SELECT has_table_privilege('ledger_entries', 'INSERT')"
                " AND has_table_privilege('ledger_accounts', 'UPDATE')"
            )
        ).scalar()
    if str(read_only).lower() == "on" or not can_write:
        raise LedgerError(
            f"ledger {display} is read-only for this user: writing a fix needs INSERT on"
            " ledger_entries and UPDATE on ledger_accounts"
        )
