"""Where documents live on disk: the files under ``postmortems/`` and their workspace paths."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from incidentbook.fs import markdown_files

if TYPE_CHECKING:
    from incidentbook.settings import Settings


def document_files(settings: Settings) -> list[Path]:
    """Every Markdown file under ``postmortems/`` (hidden files aside), sorted; symlinks that
    lead out of the workspace are never read (``outside_documents`` lists them)."""
    return markdown_files(settings.postmortems_dir, settings.workspace)[0]


def outside_documents(settings: Settings) -> list[Path]:
    """Files under ``postmortems/`` that are symlinks out of the workspace: unread, reported."""
    return markdown_files(settings.postmortems_dir, settings.workspace)[1]


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
