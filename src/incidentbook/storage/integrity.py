"""Is the state database whole? A cheap look on every open (the file's header, its length
against the pages the header counts, a quick check of the event log's pages), and the one line
that names a damaged file and says how to restore it.

Only the standard library's ``sqlite3``: the app asks before its first paint, without
SQLAlchemy. The checks read; they never create or change the file.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from incidentbook.errors import WorkspaceError

SQLITE_MAGIC = b"SQLite format 3\x00"
HEADER_BYTES = 100
# The tables whose pages the open checks (the event log: every other table is derived from it).
CHECKED_TABLES = ("events",)
# sqlite3 error codes that mean the file is damaged, not busy: SQLITE_CORRUPT, SQLITE_NOTADB
DAMAGE_CODES = frozenset({11, 26})


class StateDamaged(WorkspaceError):
    """The state database is damaged, empty or missing: nothing was read or written."""


def restore_hint(path: Path) -> str:
    return (
        f"restore {path.name} from a backup of {path.parent.name}/, "
        "then run `incidentbook verify`"
    )


def damaged(path: Path, what: str) -> StateDamaged:
    return StateDamaged(f"state database {path} {what}; {restore_hint(path)}")


def missing(path: Path, reason: str) -> StateDamaged:
    """A missing database the workspace's documents refer to (``reason`` says which)."""
    return StateDamaged(
        f"state database {path} is missing, but {reason}; {restore_hint(path)}"
        f" (or run `incidentbook init {path.parent.parent}` to start an empty one)"
    )


def check_header(path: Path) -> None:
    """The file is a SQLite database as long as its header says: else ``StateDamaged``.
    A missing file passes (whether it may be created is the caller's to decide)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            header = handle.read(HEADER_BYTES)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise damaged(path, f"cannot be read ({exc.strerror})") from None
    if size == 0:
        raise damaged(path, "is empty (0 bytes)")
    if len(header) < HEADER_BYTES or not header.startswith(SQLITE_MAGIC):
        raise damaged(path, "is not a SQLite database (its header is damaged)")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        raise damaged(path, f"has a damaged header (page size {page_size})")
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        return  # the log holds pages not yet in the file; its length says nothing yet
    pages = int.from_bytes(header[28:32], "big")
    counted = header[24:28] == header[92:96]  # the header's page count is current
    if size % page_size or (counted and size < pages * page_size):
        raise damaged(
            path, f"is truncated ({size:,} bytes of {max(pages * page_size, size):,})"
        )


def quick_check(path: Path, tables: tuple[str, ...] = CHECKED_TABLES) -> None:
    """SQLite's ``quick_check`` of the given tables' pages (and their indexes): fast, as it
    reads only those; damage is ``StateDamaged``. A missing file or table passes."""
    if not path.is_file():
        return
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error:
        return  # the open itself will report it
    try:
        existing = {
            name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        for table in tables:
            if table not in existing:
                continue
            rows = conn.execute(f"PRAGMA quick_check('{table}')").fetchall()
            if rows != [("ok",)]:
                raise damaged(path, f"is damaged ({rows[0][0]})")
    except sqlite3.DatabaseError as exc:
        if not is_damage(exc):
            return  # busy, locked or not openable read-only: not damage; the open will say
        raise damaged(path, f"is damaged ({exc})") from None
    finally:
        with contextlib.suppress(sqlite3.Error):
            conn.close()


def is_damage(exc: BaseException | None) -> bool:
    """Whether a sqlite3 error says the file is damaged (not busy, locked or read-only)."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in DAMAGE_CODES
    text = str(exc)
    return "malformed" in text or "not a database" in text


def check_state_file(path: Path) -> None:
    """Everything an open checks: the header and length, then the event log's pages."""
    check_header(path)
    quick_check(path)
