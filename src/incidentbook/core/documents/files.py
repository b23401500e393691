"""Writing documents safely: a temp file in the same directory, then an atomic rename."""

from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from pathlib import Path

from incidentbook.errors import UsageError


def slugify(text: str, max_len: int = 60) -> str:
    """'Webhook retries double-posted payments!' -> 'webhook-retries-double-posted-payments'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(slug) > max_len:
        slug = slug[:max_len].rsplit("-", 1)[0] or slug[:max_len]
    return slug or "untitled"


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
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        from incidentbook.errors import NotFoundError

        raise NotFoundError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a directory, not a document") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
