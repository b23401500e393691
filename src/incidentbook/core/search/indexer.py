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

One writer at a time, across processes: an ``fcntl`` lock on ``.incidentbook/index.lock``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, text
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
from incidentbook.obs import log_info
from incidentbook.storage.db import Database
from incidentbook.storage.search_models import SearchFileRow, SearchStateRow

if TYPE_CHECKING:
    from incidentbook.settings import Settings

LOCK_TIMEOUT_S = 30.0
DRAIN_BATCH = 500
Progress = Callable[[int, int], None]

# Test hook: called with a stage name ("index_written", "index_committed") so a test can
# kill the writer at exactly that point. Never set in production.
stage_hook: Callable[[str], None] | None = None


class IndexBusy(IncidentbookError):
    """Another process holds the index writer lock for too long."""

    exit_code = 1


def _stage(name: str) -> None:
    if stage_hook is not None:
        stage_hook(name)


def lock_path(settings: Settings) -> Path:
    return settings.state_dir / "index.lock"


@contextlib.contextmanager
def writer_lock(settings: Settings, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    handle = open(lock_path(settings), "a+")  # noqa: SIM115 - held for the with-block
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise IndexBusy(
                        "the search index is busy (another incidentbook is writing it); "
                        "try again in a moment"
                    ) from None
                time.sleep(0.02)
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        handle.close()


def index_exists(path: Path) -> bool:
    """An index of the current schema exists (an older one counts as absent: rebuilt)."""
    if not (path.is_dir() and W.index.exists_in(str(path))):
        return False
    key = (str(path), os.stat(path).st_ino)
    known = _SCHEMA_OK.get(key)
    if known is None:
        try:
            names = set(W.index.open_dir(str(path)).schema.names())
        except Exception:
            return False
        known = _SCHEMA_OK[key] = names == set(W.schema().names())
    return known


_SCHEMA_OK: dict[tuple[str, int], bool] = {}


def open_index(settings: Settings, *, create: bool = True) -> Any:
    path = settings.index_dir
    if index_exists(path):
        return W.index.open_dir(str(path))
    if not create:
        raise IncidentbookError("no search index yet; run: incidentbook index rebuild")
    path.mkdir(parents=True, exist_ok=True)
    return W.index.create_in(str(path), W.schema())


def _write(ix: Any, docs: list[Doc], deletes: list[str]) -> None:
    writer = ix.writer(timeout=LOCK_TIMEOUT_S)
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


def index_document(settings: Settings, doc: Doc) -> None:
    """Index one document now (e.g. a generated document); sources still win on rebuild."""
    with writer_lock(settings):
        _write(open_index(settings), [doc], [])


def remove_document(settings: Settings, kind: str, doc_id: str) -> None:
    with writer_lock(settings):
        _write(open_index(settings), [], [f"{kind}:{doc_id}"])


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
    ix = W.index.create_in(str(fresh), W.schema())
    expected = total if total is not None else (source_count(settings, db) if docs is None else 0)
    if procs is None:
        procs = 2 if expected > 2000 and (os.cpu_count() or 1) >= 2 else 1
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
            if progress is not None and (done % 50 == 0):
                progress(done, max(expected, done))
    except BaseException:
        writer.cancel()
        shutil.rmtree(fresh, ignore_errors=True)
        raise
    writer.commit(optimize=procs <= 1)
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


def _swap_in(fresh: Path, target: Path) -> None:
    old = target.with_name(target.name + f".old-{os.getpid()}")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(fresh, target)
    shutil.rmtree(old, ignore_errors=True)
    # Leftovers of rebuilds killed halfway.
    for stale in target.parent.glob(target.name + ".new-*"):
        with contextlib.suppress(ValueError):
            pid = int(stale.name.rsplit("-", 1)[1])
            if not _alive(pid):
                shutil.rmtree(stale, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
    ix = W.index.open_dir(str(settings.index_dir))
    with ix.searcher() as searcher:
        return {str(f["uid"]): str(f.get("digest", "")) for f in searcher.all_stored_fields()}


def index_status(settings: Settings, db: Database | None = None) -> IndexStatus:
    """Compare the index with its sources. Changes still queued (outbox rows, files edited
    since the last scan) are reported as pending, not as drift: the next reader drains them."""
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
    """``incidentbook verify``: the search index holds exactly what its sources say."""
    result = CheckResult("search_index")
    if not index_exists(settings.index_dir):
        # No index yet is not drift: the first search builds it.
        return result
    status = index_status(settings, db)
    result.checked = status.documents + len(status.missing)
    hint = " (fix: incidentbook index rebuild)"
    result.problems.extend(f"{uid}: not in the search index{hint}" for uid in status.missing)
    result.problems.extend(f"{uid}: indexed copy is out of date{hint}" for uid in status.stale)
    result.problems.extend(f"{uid}: indexed but its source is gone{hint}" for uid in status.extra)
    return result
