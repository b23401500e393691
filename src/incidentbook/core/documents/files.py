"""Where documents live on disk: the files under ``postmortems/``, their workspace paths, and
which of them record a head of the state's chain (read without the database)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from incidentbook.errors import IncidentbookError
from incidentbook.frontmatter import split
from incidentbook.fs import read_text

if TYPE_CHECKING:
    from incidentbook.settings import Settings

HEAD_KEY = "head_hash"  # the front matter's record of the chain's head when it was written


def document_files(settings: Settings) -> list[Path]:
    """Every Markdown file under ``postmortems/`` (hidden files aside), sorted."""
    folder = settings.postmortems_dir
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*.md") if p.is_file() and not p.name.startswith("."))


def relative_path(settings: Settings, path: Path) -> str:
    """The path a document is recorded under: relative to the workspace, else absolute."""
    try:
        return path.resolve().relative_to(settings.workspace.resolve()).as_posix()
    except ValueError:
        return str(path.resolve())


def shown(settings: Settings, path: Path) -> str:
    """A path for messages: relative to the workspace, else as given."""
    try:
        return path.resolve().relative_to(settings.workspace.resolve()).as_posix()
    except ValueError:
        return str(path)


def registered_file(settings: Settings, registered: str) -> Path:
    """The file a document's recorded path names (relative paths are in the workspace)."""
    path = Path(registered)
    return path if path.is_absolute() else settings.workspace / path


def recorded_head(path: Path) -> str | None:
    """The head a document's front matter records, if any (unreadable documents are the
    documents checks' to report)."""
    try:
        doc = split(read_text(path), source=str(path))
    except (IncidentbookError, OSError, UnicodeDecodeError):
        return None
    head = doc.meta.get(HEAD_KEY)
    return str(head) if head else None


def files_recording_heads(settings: Settings) -> list[Path]:
    """The documents under ``postmortems/`` that record a head of the state's chain: a
    workspace holding one refers to events, so a missing state database is an error, not a
    new workspace (the files alone, without the database)."""
    return [path for path in document_files(settings) if recorded_head(path)]
