"""Files that are never half-written: write a temp file beside the target, fsync it, rename it
over the target, then fsync the folder so the rename itself survives a power cut. And the one
job-at-a-time lock (an OS file lock, so ``kill -9`` releases it)."""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def exclusive_lock(path: Path, busy: str) -> Iterator[None]:
    """Hold an exclusive OS lock on ``path`` (created if missing) or fail at once with
    ``busy`` as the one-line error; the kernel releases it when the process dies."""
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(busy) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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
