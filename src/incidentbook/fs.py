"""Files that are never half-written: write a temp file beside the target, fsync it, rename it
over the target, then fsync the folder so the rename itself survives a power cut. And the one
job-at-a-time lock (an OS file lock, so ``kill -9`` releases it; it records its holder, so a
lock that a dead holder's children kept is taken over)."""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from incidentbook.errors import NotFoundError, UsageError


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def replace_durably(source: Path, target: Path) -> None:
    """Rename a finished file over ``target`` (atomic) and make the rename durable."""
    os.replace(source, target)
    fsync_dir(target.parent)


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` all at once: readers see the old file or the new, never half.

    Errors (a missing or unwritable folder) become one-line ``UsageError``s naming the path.
    """
    directory = path.parent
    if not directory.is_dir():
        raise UsageError(f"cannot write {path}: folder {directory} does not exist")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except PermissionError:
        raise UsageError(f"cannot write {path}: folder {directory} is not writable") from None
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            # Keep the existing file's permission bits.
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        else:
            os.chmod(tmp, 0o644)
        replace_durably(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_text(path: Path) -> str:
    """A UTF-8 text file; a missing, unreadable or binary file is a one-line error."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFoundError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a directory, not a document") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


# Lock files this process holds, by path: a forked child closes its copies at once (it must
# not keep a job's lock after its parent is gone), and a thread may take a lock it holds again.
_HELD: dict[str, int] = {}
_HELD_BY: dict[str, int] = {}
_HELD_GUARD = threading.Lock()


def _forget_locks_in_child() -> None:
    global _HELD_GUARD
    _HELD_GUARD = threading.Lock()  # another thread may have held it at the fork
    for fd in _HELD.values():
        with suppress(OSError):
            os.close(fd)  # never flock(LOCK_UN): that would release the parent's lock too
    _HELD.clear()
    _HELD_BY.clear()


_FORK_HOOK: list[bool] = []  # registered on the first lock, not at import (no side effects)


def _watch_forks() -> None:
    with _HELD_GUARD:
        if not _FORK_HOOK:
            _FORK_HOOK.append(True)
            os.register_at_fork(after_in_child=_forget_locks_in_child)


def process_start(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, from ``/proc``), so a pid the
    system reused is not taken for the process that wrote a lock; ``None`` where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def process_alive(pid: int, start: str | None = None) -> bool:
    """Whether ``pid`` runs (and, given ``start``, is the very process that started then)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if start is None:
        return True
    now = process_start(pid)
    if now is None:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        state = ""
    return now == start and state != "Z"


def lock_holder(path: Path) -> tuple[int, str | None] | None:
    """(pid, start) recorded in a lock file by its holder, if any."""
    try:
        words = path.read_text(encoding="ascii", errors="replace").split()
    except OSError:
        return None
    if not words or not words[0].isdigit():
        return None
    return int(words[0]), (words[1] if len(words) > 1 else None)


@contextmanager
def _guard(directory: Path) -> Iterator[None]:
    """A short exclusive lock on the lock file's folder: serialises recording a holder and
    taking a dead holder's lock over, so two processes never both hold one lock."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _clear_non_file(path: Path) -> None:
    """A lock path is disposable: a directory or a symlink in its place is removed (a lock
    never writes through a link into some other file)."""
    if path.is_symlink():
        path.unlink(missing_ok=True)
    elif path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
        with suppress(FileNotFoundError, NotADirectoryError):
            path.rmdir()


def _try_lock(path: Path) -> int | None:
    """A locked fd holding this process's record, or None while a live
    process holds the lock. A holder that is dead (its lock kept by children it forked, which
    outlive a ``kill -9``) loses the lock: its file is unlinked and a fresh one locked."""
    directory = path.parent
    while True:
        with _guard(directory):
            _clear_non_file(path)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
        except (IsADirectoryError, OSError) as exc:
            if isinstance(exc, IsADirectoryError) or exc.errno == errno.ELOOP:
                continue  # a directory or a link put there meanwhile: clear it again
            raise UsageError(f"cannot lock {path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            with _guard(directory):
                holder = lock_holder(path)
                same = _same_file(fd, path)
                stale = same and holder is not None and not process_alive(*holder)
                if stale:
                    path.unlink(missing_ok=True)
            os.close(fd)
            if stale:
                continue
            return None
        with _guard(directory):
            if not _same_file(fd, path):  # taken over or removed between open and flock
                os.close(fd)
                continue
            record = f"{os.getpid()} {process_start(os.getpid()) or '-'}\n".encode()
            os.ftruncate(fd, 0)
            os.pwrite(fd, record, 0)
        return fd


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except OSError:
        return False


@contextmanager
def exclusive_lock(
    path: Path,
    busy: str,
    *,
    wait: float = 0.0,
    error: Callable[[str], Exception] = UsageError,
) -> Iterator[None]:
    """Hold an exclusive OS lock on ``path`` (created if missing), waiting up to ``wait``
    seconds, or fail with ``error(busy)``, one line. The kernel releases the lock when the
    process dies; the file records the holder (pid and start time), so a lock still held
    after its holder died (by a child that inherited it) is taken over. A thread that holds
    the lock may take it again (the inner ``with`` is a no-op)."""
    key = str(path)
    me = threading.get_ident()
    with _HELD_GUARD:
        reentrant = _HELD_BY.get(key) == me
    if reentrant:
        yield
        return
    _watch_forks()
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait
    while True:
        fd = _try_lock(path)
        if fd is not None:
            break
        if time.monotonic() >= deadline:
            raise error(busy)
        time.sleep(0.02)
    with _HELD_GUARD:
        _HELD[key] = fd
        _HELD_BY[key] = me
    try:
        yield
    finally:
        with _HELD_GUARD:
            _HELD.pop(key, None)
            _HELD_BY.pop(key, None)
        with suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def inside(path: Path, root: Path) -> bool:
    """Whether ``path``, every symlink resolved, stays inside ``root`` (also resolved)."""
    try:
        path.resolve().relative_to(root.resolve())
    except (ValueError, OSError, RuntimeError):  # RuntimeError: a symlink loop (3.11)
        return False
    return True


def markdown_files(folder: Path, workspace: Path | None) -> tuple[list[Path], list[Path]]:
    """``folder/**/*.md`` (hidden files aside), sorted, as (readable, outside): files whose
    symlinks lead out of ``workspace`` are never read, only listed so they can be reported.
    ``workspace=None`` reads everything (the shipped files)."""
    if not folder.is_dir():
        return [], []
    readable: list[Path] = []
    outside: list[Path] = []
    for path in sorted(folder.rglob("*.md")):
        if path.name.startswith("."):
            continue
        if workspace is not None and not inside(path, workspace):
            outside.append(path)
        elif path.is_file():
            readable.append(path)
    return readable, outside
