"""Where documents live on disk: the files under ``postmortems/`` and their workspace paths."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from incidentbook.settings import Settings


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
