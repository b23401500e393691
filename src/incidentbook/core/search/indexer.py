"""The one writer of the derived search index, and its crash-safe bookkeeping.

Sources of truth are the SQLite database and the Markdown files. Changes reach the index by:

* the outbox: every database change queues ``(kind, id)`` in ``index_outbox`` in the same
  transaction that commits it. ``drain_outbox`` reads queued rows, re-reads each source,
  writes the index, **commits the index, and only then deletes the rows it drained**. A crash
  before the index commit leaves the rows queued; a crash after it leaves them queued too and
  the next drain rewrites the same documents (idempotent). Every search, ``index status`` and
  the app drain first, so nothing committed stays unindexed after the next start.
* the file scan: ``sync_files`` compares size/mtime (then content hash) of every runbook and
  postmortem file with ``search_files`` and reindexes what changed outside the app, again index
  first, bookkeeping second.
* ``rebuild``: recreates the index from all sources in a fresh directory and swaps it in.

One writer at a time, across processes: an ``fcntl`` lock on ``.incidentbook/index.lock``
(``incidentbook.fs.exclusive_lock``: it records its holder, so a lock kept by the children of
a killed writer is taken over; the indexing children of a rebuild die with their parent).

The index is derived and disposable. Damage (a truncated or garbage table of contents or
segment, a missing segment, the folder emptied or replaced by a file, a write lock held by a
writer that is gone) is found where it bites: every reader and writer here and in ``engine``
runs under ``healing``, which diagnoses what failed, rebuilds the index from its sources
(``heal``: into a sibling folder, swapped in atomically) and tries once more. Each heal is
logged (``index_healed``, with ``damage`` and ``documents``) and handed to the
``reporting_heals`` listeners; the CLI renders it as one line, the app as a notification.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from sqlalchemy import delete, text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select

import incidentbook.core.search.backend as W
from incidentbook.clock import to_iso
from incidentbook.core.batches import chunks
from incidentbook.core.events.projection import CheckResult
from incidentbook.core.search.documents import (
    Doc,
    db_doc,
    db_docs,
    file_docs,
    watched_files,
)
from incidentbook.errors import IncidentbookError
from incidentbook.fs import atomic_write, exclusive_lock, process_alive
from incidentbook.obs import log_error, log_info
from incidentbook.storage.db import Database
from incidentbook.storage.search_models import SearchFileRow, SearchStateRow

if TYPE_CHECKING:
    from incidentbook.settings import Settings

LOCK_TIMEOUT_S = 30.0
DRAIN_BATCH = 500
Progress = Callable[[int, int], None]

# Test hook: called with a stage name ("index_written", "index_committed", every 50 documents
# of a rebuild "rebuild_progress") so a test can
# kill the writer at exactly that point. Never set in production.
stage_hook: Callable[[str], None] | None = None


class IndexBusy(IncidentbookError):
    """Another process holds the index writer lock for too long."""

    exit_code = 1


class IndexDamaged(IncidentbookError):
    """The index on disk cannot be read; ``damage`` says what is wrong, in a few words."""

    exit_code = 1

    def __init__(self, damage: str) -> None:
        super().__init__(f"search index damaged ({damage}); run: incidentbook index rebuild")
        self.damage = damage


@dataclass(frozen=True)
class Healed:
    """A damaged index found and rebuilt from its sources."""

    damage: str
    documents: int


HealListener = Callable[[Healed], None]
_LISTENERS: list[HealListener] = []


@contextlib.contextmanager
def reporting_heals(listener: HealListener) -> Iterator[None]:
    """Hand every heal inside the block (any thread) to ``listener``."""
    _LISTENERS.append(listener)
    try:
        yield
    finally:
        _LISTENERS.remove(listener)


def _stage(name: str) -> None:
    if stage_hook is not None:
        stage_hook(name)


def lock_path(settings: Settings) -> Path:
    return settings.state_dir / "index.lock"


BUSY = "the search index is busy (another incidentbook is writing it); try again in a moment"


def writer_lock(settings: Settings, timeout: float = LOCK_TIMEOUT_S) -> Any:
    """The one-writer lock (re-entrant within a thread)."""
    return exclusive_lock(lock_path(settings), BUSY, wait=timeout, error=IndexBusy)


def _toc_files(path: Path) -> list[str]:
    return [n for n in os.listdir(path) if n.startswith("_MAIN_") and n.endswith(".toc")]


def index_exists(path: Path) -> bool:
    """An index of the current schema exists (an older one counts as absent: rebuilt).
    Raises ``IndexDamaged`` for a folder that is a file, empty, or has no readable table of
    contents."""
    if not path.exists():
        return False
    if not path.is_dir():
        raise IndexDamaged("a file is where its folder belongs")
    try:
        tocs = _toc_files(path)
    except OSError as exc:
        raise IndexDamaged(f"the index folder cannot be listed: {exc.strerror}") from None
    if not tocs:
        empty = not any(n for n in os.listdir(path) if not n.endswith("WRITELOCK"))
        raise IndexDamaged(
            "the index folder is empty" if empty else "its table of contents is gone"
        )
    if _version(path) != W.SCHEMA_VERSION:
        return False
    key = (str(path), os.stat(path).st_ino)
    known = _SCHEMA_OK.get(key)
    if known is None:
        try:
            names = set(W.index.open_dir(str(path)).schema.names())
        except Exception as exc:
            raise IndexDamaged(f"its table of contents is unreadable ({_why(exc)})") from None
        known = _SCHEMA_OK[key] = names == set(W.schema().names())
    return known


def _version(path: Path) -> str | None:
    try:
        return (path / W.VERSION_FILE).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def _create(path: Path) -> Any:
    """A new, empty index of the current schema and version in ``path``."""
    ix = W.index.create_in(str(path), W.schema())
    atomic_write(path / W.VERSION_FILE, W.SCHEMA_VERSION + "\n")
    return ix


_SCHEMA_OK: dict[tuple[str, int], bool] = {}


def _why(exc: BaseException) -> str:
    """An exception in a word: its type (Whoosh's messages are not for people)."""
    return type(exc).__name__


def diagnose(path: Path, *, deep: bool = False) -> str | None:
    """What is wrong with the index at ``path``, or ``None`` (sound, or simply not built):
    the folder and its table of contents, every segment's files, every segment opened; with
    ``deep`` also every stored document and every term read (for ``verify``)."""
    try:
        if not index_exists(path):
            return None
    except IndexDamaged as exc:
        return exc.damage
    try:
        ix = W.index.open_dir(str(path))
        toc = ix._read_toc()
    except Exception as exc:
        return f"its table of contents is unreadable ({_why(exc)})"
    for segment in toc.segments:
        name = segment.segment_id()
        if segment.is_compound():
            if not ix.storage.file_exists(segment.make_filename(".seg")):
                return f"segment {name} missing"
        elif not segment.list_files(ix.storage):
            return f"segment {name} missing"
        try:
            reader = W.reading.SegmentReader(
                ix.storage, toc.schema, segment, generation=toc.generation
            )
        except Exception as exc:
            return f"segment {name} unreadable ({_why(exc)})"
        try:
            if deep:
                for _fields in reader.all_stored_fields():
                    pass
                for _term in reader.all_terms():
                    pass
        except Exception as exc:
            return f"segment {name} unreadable ({_why(exc)})"
        finally:
            with contextlib.suppress(Exception):
                reader.close()
    return None


def open_index(settings: Settings, *, create: bool = True) -> Any:
    """The index. A reader passes ``create=False``: it never makes one (only a rebuild, under
    the lock, does); a missing index is then ``IndexDamaged``, which ``healing`` rebuilds."""
    path = settings.index_dir
    if index_exists(path):
        try:
            return W.index.open_dir(str(path))
        except Exception as exc:
            raise IndexDamaged(f"its table of contents is unreadable ({_why(exc)})") from None
    if not create:
        if path.exists():
            raise IndexDamaged("it was built by another incidentbook version")
        raise IndexDamaged("the index folder is missing")
    path.mkdir(parents=True, exist_ok=True)
    return _create(path)


def _write(ix: Any, docs: list[Doc], deletes: list[str]) -> None:
    # The caller holds index.lock, so nobody else may write: a held Whoosh lock belongs to a
    # writer that is gone (a killed rebuild's child). Do not wait 30 s for it.
    try:
        writer = ix.writer(timeout=0.0)
    except W.index.LockError:
        raise IndexDamaged("its write lock is held by a writer that is gone") from None
    try:
        for uid in deletes:
            writer.delete_by_term("uid", uid)
        for doc in docs:
            writer.update_document(**doc.fields())
        _stage("index_written")
    except BaseException:
        writer.cancel()
        raise
    writer.commit()
    _stage("index_committed")


# -- healing -------------------------------------------------------------------------------


P = ParamSpec("P")
HEAL_ATTEMPTS = 3  # the index may be damaged again while it heals (deleted, say)
R = TypeVar("R")
_DEPTH = threading.local()


def _identity(path: Path) -> tuple[int, tuple[str, ...]] | None:
    """Which index is at ``path`` (its folder's inode and generation files)."""
    try:
        return os.stat(path).st_ino, tuple(sorted(_toc_files(path)))
    except OSError:
        return None


def heal(settings: Settings, db: Database | None, damage: str) -> Healed | None:
    """Rebuild a damaged index from its sources, unless another process swapped a sound one
    in while this one waited for the lock."""
    database = _db(settings, db)
    seen = _identity(settings.index_dir)
    with writer_lock(settings, timeout=120.0):
        now = _identity(settings.index_dir)
        if now is not None and now != seen and diagnose(settings.index_dir, deep=True) is None:
            return None  # healed meanwhile
        result = _rebuild_locked(settings, database, None)
    healed = Healed(damage, result.documents)
    log_error(
        "index_healed",
        f"search index damaged ({damage}); rebuilt from sources",
        None,
        damage=damage,
        documents=result.documents,
    )
    for listener in list(_LISTENERS):
        listener(healed)
    return healed


def healing(
    reset: Callable[[Settings], None] | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Run a reader or writer of the index (first argument: the settings; ``db=`` if given);
    when the index fails under it, find out why, rebuild it if it is damaged, and run once
    more. A failure the index does not explain (a damaged database, a bug) goes on up.
    ``reset`` drops what the caller caches of the old index (the engine's searchers)."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            settings: Settings = args[0]  # type: ignore[assignment]
            depth = getattr(_DEPTH, "n", 0)
            if depth:
                return fn(*args, **kwargs)  # the outermost reader heals
            _DEPTH.n = 1
            suspect = False
            try:
                for attempt in range(HEAL_ATTEMPTS + 1):
                    try:
                        return fn(*args, **kwargs)
                    except Exception as exc:
                        if attempt == HEAL_ATTEMPTS:
                            raise
                        damage = _damage_of(settings, exc)
                        why = _why(exc)
                    if reset is not None:
                        reset(settings)
                    if damage is None:
                        # Whoosh failed on an index that looks sound: it may have been
                        # swapped under the reader. Read again; failing again, it is damage.
                        if not suspect:
                            suspect = True
                            continue
                        damage = f"unreadable ({why})"
                    db = kwargs.get("db")
                    heal(settings, db if isinstance(db, Database) else None, damage)
                raise AssertionError("unreachable")  # the last attempt returns or raises
            finally:
                _DEPTH.n = 0

        return run

    return decorate


def _damage_of(settings: Settings, exc: Exception) -> str | None:
    """What damage ``exc`` shows; ``None`` for a failure of the index that the index on disk
    does not explain (yet); re-raises a failure that is not the index's."""
    if isinstance(exc, IndexDamaged):
        return exc.damage
    if isinstance(exc, (IncidentbookError, SQLAlchemyError)) or not _is_index_error(exc):
        raise exc
    return diagnose(settings.index_dir, deep=True)


def _is_index_error(exc: BaseException) -> bool:
    """Raised from inside Whoosh, or by a file of the index vanishing under a reader."""
    if isinstance(exc, FileNotFoundError):
        return True
    tb = exc.__traceback__
    while tb is not None:
        if "whoosh" in tb.tb_frame.f_code.co_filename:
            return True
        tb = tb.tb_next
    return False


def _db(settings: Settings, db: Database | None) -> Database:
    if db is not None:
        return db
    return Database(settings.db_path)


# -- outbox --------------------------------------------------------------------------------


@dataclass
class DrainResult:
    rows: int = 0
    indexed: int = 0
    deleted: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"rows": self.rows, "indexed": self.indexed, "deleted": self.deleted}


def pending_outbox(db: Database) -> int:
    with db.read() as session:
        return int(session.execute(text("SELECT count(*) FROM index_outbox")).scalar_one())


@healing()
def drain_outbox(
    settings: Settings, db: Database | None = None, *, batch: int = DRAIN_BATCH
) -> DrainResult:
    """Index every queued change; returns what was done. Safe to call any time, from anywhere."""
    database = _db(settings, db)
    result = DrainResult()
    with database.read() as session:
        if session.execute(text("SELECT 1 FROM index_outbox LIMIT 1")).first() is None:
            return result
    with writer_lock(settings):
        ix = _open_or_rebuild(settings, database)
        while True:
            with database.read() as session:
                rows = session.execute(
                    text("SELECT seq, doc_kind, doc_id FROM index_outbox ORDER BY seq LIMIT :n"),
                    {"n": batch},
                ).all()
                if not rows:
                    break
                wanted = list(dict.fromkeys((str(r[1]), str(r[2])) for r in rows))
                docs: list[Doc] = []
                deletes: list[str] = []
                for kind, doc_id in wanted:
                    doc = db_doc(session, kind, doc_id)
                    if doc is None:
                        deletes.append(f"{kind}:{doc_id}")
                    else:
                        docs.append(doc)
            _write(ix, docs, deletes)
            seqs = [int(r[0]) for r in rows]
            with database.write() as session:
                for chunk in chunks(seqs):
                    marks = ",".join(str(s) for s in chunk)
                    session.execute(text(f"DELETE FROM index_outbox WHERE seq IN ({marks})"))
            result.rows += len(rows)
            result.indexed += len(docs)
            result.deleted += len(deletes)
            if len(rows) < batch:
                break
    if result.rows:
        log_info("index_drained", None, **result.to_dict())
    return result


def _open_or_rebuild(settings: Settings, db: Database) -> Any:
    """The index, or (if it was never built or was removed) a full build. Caller holds the lock."""
    if index_exists(settings.index_dir):
        return W.index.open_dir(str(settings.index_dir))
    _rebuild_locked(settings, db, None)
    return W.index.open_dir(str(settings.index_dir))


# -- files ---------------------------------------------------------------------------------


@dataclass
class FileScan:
    changed: list[Path] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    stats: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def dirty(self) -> bool:
        return bool(self.changed or self.removed)


def _sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def scan_files(settings: Settings, db: Database) -> tuple[FileScan, dict[str, Any]]:
    """Files whose size or mtime differ from what the index last saw (hash-confirmed)."""
    with db.read() as session:
        known = {r.path: r for r in session.exec(select(SearchFileRow)).all()}
    scan = FileScan()
    for path in watched_files(settings):
        try:
            st = path.stat()
        except OSError:
            continue
        key = str(path)
        scan.stats[key] = (st.st_mtime_ns, st.st_size)
        row = known.get(key)
        if row is None or (row.mtime_ns, row.size) != (st.st_mtime_ns, st.st_size):
            if row is not None and row.size == st.st_size and row.sha256 == _sha256(path):
                continue  # touched, not changed
            scan.changed.append(path)
    scan.removed = [p for p in known if p not in scan.stats]
    return scan, known


@healing()
def sync_files(settings: Settings, db: Database | None = None) -> int:
    """Reindex runbooks and postmortems changed, added or removed outside the app."""
    database = _db(settings, db)
    scan, known = scan_files(settings, database)
    if not scan.dirty:
        return 0
    with writer_lock(settings):
        ix = _open_or_rebuild(settings, database)
        docs = {d.uid: d for d in file_docs(settings)}
        by_path: dict[str | None, str] = {d.path: d.uid for d in docs.values() if d.path}
        affected: set[str] = set()
        for path in scan.changed:
            uid = by_path.get(str(path))
            if uid:
                affected.add(uid)
            old = known.get(str(path))
            if old is not None and old.uid:
                affected.add(old.uid)
        for key in scan.removed:
            old = known.get(key)
            if old is not None and old.uid:
                affected.add(old.uid)
        # A file may be shadowed (a workspace runbook with a shipped one's id): reindex by uid.
        updates = [docs[u] for u in sorted(affected) if u in docs]
        deletes = [u for u in sorted(affected) if u not in docs]
        _write(ix, updates, deletes)
        _record_files(settings, database, scan, by_path)

    log_info(
        "index_files_synced",
        None,
        changed=len(scan.changed),
        removed=len(scan.removed),
        updated=len(updates),
        deleted=len(deletes),
    )
    return len(updates) + len(deletes)


def _record_files(
    settings: Settings, db: Database, scan: FileScan, by_path: dict[str | None, str]
) -> None:
    now = to_iso(settings.clock())
    with db.write() as session:
        for path in scan.changed:
            key = str(path)
            mtime, size = scan.stats[key]
            session.merge(
                SearchFileRow(
                    path=key,
                    uid=by_path.get(key),
                    mtime_ns=mtime,
                    size=size,
                    sha256=_sha256(path),
                    indexed_at=now,
                )
            )
        if scan.removed:
            session.execute(delete(SearchFileRow).where(col(SearchFileRow.path).in_(scan.removed)))


@healing()
def ensure_fresh(settings: Settings, db: Database | None = None) -> None:
    """Drain the outbox and pick up changed files: what every reader calls first."""
    database = _db(settings, db)
    if not index_exists(settings.index_dir):
        with writer_lock(settings, timeout=120.0):
            if not index_exists(settings.index_dir):  # another reader may have built it
                _rebuild_locked(settings, database, None)
                return
    drain_outbox(settings, database)
    sync_files(settings, database)


@healing()
def index_document(settings: Settings, doc: Doc) -> None:
    """Index one document now (e.g. a generated document); sources still win on rebuild."""
    with writer_lock(settings):
        _write(_open_or_rebuild(settings, _db(settings, None)), [doc], [])


@healing()
def remove_document(settings: Settings, kind: str, doc_id: str) -> None:
    with writer_lock(settings):
        _write(_open_or_rebuild(settings, _db(settings, None)), [], [f"{kind}:{doc_id}"])


# -- rebuild -------------------------------------------------------------------------------


@dataclass
class RebuildResult:
    documents: int
    seconds: float
    by_kind: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "documents": self.documents,
            "seconds": round(self.seconds, 3),
            "by_kind": self.by_kind,
        }


def all_source_docs(settings: Settings, db: Database) -> Iterator[Doc]:
    yield from db_docs(db)
    yield from file_docs(settings)


def source_count(settings: Settings, db: Database) -> int:
    with db.read() as session:
        incidents = int(session.execute(text("SELECT count(*) FROM incidents")).scalar_one())
        groups = int(
            session.execute(text("SELECT count(DISTINCT group_key) FROM alerts")).scalar_one()
        )
    return incidents + groups + len(watched_files(settings))


def rebuild(
    settings: Settings,
    db: Database | None = None,
    progress: Progress | None = None,
    *,
    docs: Iterator[Doc] | None = None,
    total: int | None = None,
    procs: int | None = None,
) -> RebuildResult:
    """Recreate the index from its sources into a new directory, then swap it in.

    ``procs=None`` picks two indexing processes for big corpora (over 2,000 documents) on a
    machine with two cores or more, else one."""
    database = _db(settings, db)
    with writer_lock(settings, timeout=120.0):
        return _rebuild_locked(settings, database, progress, docs=docs, total=total, procs=procs)


def _rebuild_locked(
    settings: Settings,
    db: Database,
    progress: Progress | None,
    *,
    docs: Iterator[Doc] | None = None,
    total: int | None = None,
    procs: int | None = 1,
) -> RebuildResult:
    started = time.perf_counter()
    with db.read() as session:
        watermark = session.execute(text("SELECT max(seq) FROM index_outbox")).scalar_one()
    scan, _known = scan_files(settings, db)
    # Every file counts as changed: the bookkeeping is rewritten for all of them afterwards.
    scan.changed = [Path(p) for p in scan.stats]
    scan.removed = [p for p in _known if p not in scan.stats]
    target = settings.index_dir
    fresh = target.with_name(target.name + f".new-{os.getpid()}")
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir(parents=True)
    ix = _create(fresh)
    expected = total if total is not None else (source_count(settings, db) if docs is None else 0)
    if procs is None:
        procs = 2 if expected > 2000 and (os.cpu_count() or 1) >= 2 else 1
    # Indexing children (procs > 1) die with this process: a kill -9 leaves none behind.
    with _children_die_with_us() if procs > 1 else contextlib.nullcontext():
        done, counts, by_path = _build(settings, db, ix, fresh, procs, docs, progress, expected)
    _swap_in(fresh, target)
    with db.write() as session:
        if watermark is not None:
            session.execute(text("DELETE FROM index_outbox WHERE seq <= :w"), {"w": watermark})
        session.execute(text("DELETE FROM search_files"))
    _record_files(settings, db, scan, by_path)
    _set_state(settings, db, "last_rebuild", str(done))
    if progress is not None:
        progress(done, max(expected, done))
    seconds = time.perf_counter() - started
    log_info("index_rebuilt", None, documents=done, seconds=round(seconds, 3), by_kind=counts)
    return RebuildResult(done, seconds, counts)


def _build(
    settings: Settings,
    db: Database,
    ix: Any,
    fresh: Path,
    procs: int,
    docs: Iterator[Doc] | None,
    progress: Progress | None,
    expected: int,
) -> tuple[int, dict[str, int], dict[str | None, str]]:
    """Every source document into the fresh index ``ix``: (documents, per kind, by path)."""
    if procs > 1:
        writer = ix.writer(procs=procs, limitmb=128, multisegment=True)
    else:
        writer = ix.writer(limitmb=256)
    counts: dict[str, int] = {}
    by_path: dict[str | None, str] = {}
    done = 0
    try:
        for doc in docs if docs is not None else all_source_docs(settings, db):
            writer.add_document(**doc.fields())
            counts[doc.kind] = counts.get(doc.kind, 0) + 1
            if doc.path:
                by_path[doc.path] = doc.uid
            done += 1
            if done % 50 == 0:
                _stage("rebuild_progress")
                if progress is not None:
                    progress(done, max(expected, done))
    except BaseException:
        writer.cancel()
        shutil.rmtree(fresh, ignore_errors=True)
        raise
    writer.commit(optimize=procs <= 1)
    return done, counts, by_path


def _swap_in(fresh: Path, target: Path) -> None:
    """Put the finished index in place: readers see the old one or the new, never half of
    one, nor (where the kernel can exchange two folders in one step) none at all."""
    old = target.with_name(target.name + f".old-{os.getpid()}")
    shutil.rmtree(old, ignore_errors=True)
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        target.unlink()  # damage: a file where the folder belongs
    if not (target.is_dir() and _exchange(fresh, target)):
        if target.exists():
            os.replace(target, old)
        os.replace(fresh, target)
    else:
        os.replace(fresh, old)  # after the exchange, ``fresh`` holds the old index
    shutil.rmtree(old, ignore_errors=True)
    # Leftovers of rebuilds killed halfway.
    for stale in target.parent.glob(target.name + ".new-*"):
        with contextlib.suppress(ValueError):
            pid = int(stale.name.rsplit("-", 1)[1])
            if not process_alive(pid):
                shutil.rmtree(stale, ignore_errors=True)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False where the
    system cannot, and the caller renames twice."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]
    renameat2.argtypes.append(ctypes.c_uint)
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return bool(result == 0)


_PR_SET_PDEATHSIG = 1
_REBUILDER: list[int] = []  # the pid whose forked children must die with it, while it forks


def _die_with_parent() -> None:
    """In a forked indexing child: be killed when the rebuild that forked it dies (so a
    ``kill -9`` of ``index rebuild`` leaves no child writing, nor holding a lock)."""
    if not _REBUILDER or not sys.platform.startswith("linux"):
        return
    parent = _REBUILDER[0]
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


os.register_at_fork(after_in_child=_die_with_parent)


@contextlib.contextmanager
def _children_die_with_us() -> Iterator[None]:
    _REBUILDER[:] = [os.getpid()]
    try:
        yield
    finally:
        _REBUILDER.clear()


def _set_state(settings: Settings, db: Database, key: str, value: str) -> None:
    with db.write() as session:
        session.merge(SearchStateRow(key=key, value=value, updated_at=to_iso(settings.clock())))


def _get_state(db: Database, key: str) -> tuple[str, str] | None:
    with db.read() as session:
        row = session.get(SearchStateRow, key)
        return (row.value, row.updated_at) if row else None


# -- status and drift ----------------------------------------------------------------------


@dataclass
class IndexStatus:
    path: str
    exists: bool
    documents: int
    by_kind: dict[str, int]
    pending_outbox: int
    changed_files: int
    missing: list[str]
    stale: list[str]
    extra: list[str]
    last_rebuild: str | None

    @property
    def drift(self) -> int:
        return len(self.missing) + len(self.stale) + len(self.extra)

    @property
    def ok(self) -> bool:
        return self.exists and self.drift == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "exists": self.exists,
            "documents": self.documents,
            "by_kind": self.by_kind,
            "pending_outbox": self.pending_outbox,
            "changed_files": self.changed_files,
            "drift": self.drift,
            "missing": self.missing,
            "stale": self.stale,
            "extra": self.extra,
            "last_rebuild": self.last_rebuild,
            "ok": self.ok,
        }


def indexed_digests(settings: Settings) -> dict[str, str]:
    if not index_exists(settings.index_dir):
        return {}
    ix = open_index(settings, create=False)
    with ix.searcher() as searcher:
        return {str(f["uid"]): str(f.get("digest", "")) for f in searcher.all_stored_fields()}


@healing()
def index_status(settings: Settings, db: Database | None = None) -> IndexStatus:
    """Compare the index with its sources. Changes still queued (outbox rows, files edited
    since the last scan) are reported as pending, not as drift: the next reader drains them.
    A damaged index is healed first (``healing``)."""
    return _status_of(settings, db)


def _status_of(settings: Settings, db: Database | None) -> IndexStatus:
    database = _db(settings, db)
    exists = index_exists(settings.index_dir)
    indexed = indexed_digests(settings)
    with database.read() as session:
        queued = {
            f"{r[0]}:{r[1]}"
            for r in session.execute(text("SELECT doc_kind, doc_id FROM index_outbox"))
        }
    scan, known = scan_files(settings, database)
    pending_paths = {str(p) for p in scan.changed} | set(scan.removed)
    sources = {d.uid: d for d in all_source_docs(settings, database)}
    pending_uids = set(queued)
    for doc in sources.values():
        if doc.path in pending_paths:
            pending_uids.add(doc.uid)
    for key in scan.removed:
        row = known.get(key)
        if row is not None and row.uid:
            pending_uids.add(row.uid)
    missing = sorted(u for u in sources if u not in indexed and u not in pending_uids)
    stale = sorted(
        u
        for u, d in sources.items()
        if u in indexed and indexed[u] != d.digest and u not in pending_uids
    )
    extra = sorted(u for u in indexed if u not in sources and u not in pending_uids)
    by_kind: dict[str, int] = {}
    for uid in indexed:
        kind = uid.split(":", 1)[0]
        by_kind[kind] = by_kind.get(kind, 0) + 1
    state = _get_state(database, "last_rebuild")
    return IndexStatus(
        path=str(settings.index_dir),
        exists=exists,
        documents=len(indexed),
        by_kind=dict(sorted(by_kind.items())),
        pending_outbox=len(queued),
        changed_files=len(scan.changed) + len(scan.removed),
        missing=missing,
        stale=stale,
        extra=extra,
        last_rebuild=state[1] if state else None,
    )


def check_index(settings: Settings, db: Database) -> CheckResult:
    """``incidentbook verify``: the search index is sound and holds exactly what its sources
    say. Verify only reports: a damaged index is a problem here (the next search heals it)."""
    result = CheckResult("search_index")
    hint = " (fix: incidentbook index rebuild)"
    damage = diagnose(settings.index_dir, deep=True)
    if damage is not None:
        result.problems.append(f"search index damaged ({damage}){hint}")
        return result
    if not index_exists(settings.index_dir):
        # No index yet is not drift: the first search builds it.
        return result
    try:
        status = _status_of(settings, db)
    except IndexDamaged as exc:
        result.problems.append(f"search index damaged ({exc.damage}){hint}")
        return result
    except (IncidentbookError, SQLAlchemyError):
        raise
    except Exception as exc:
        if not _is_index_error(exc):
            raise
        result.problems.append(f"search index damaged (unreadable ({_why(exc)})){hint}")
        return result
    result.checked = status.documents + len(status.missing)
    result.problems.extend(f"{uid}: not in the search index{hint}" for uid in status.missing)
    result.problems.extend(f"{uid}: indexed copy is out of date{hint}" for uid in status.stale)
    result.problems.extend(f"{uid}: indexed but its source is gone{hint}" for uid in status.extra)
    return result
