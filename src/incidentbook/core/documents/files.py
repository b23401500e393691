"""Where documents live on disk: the files under ``postmortems/``, their workspace paths, and
which of them cannot be read (``unreadable``: bad or refused front matter, not UTF-8), and
which record a head of the state's chain (read without the database)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from incidentbook.errors import IncidentbookError
from incidentbook.frontmatter import split, split_lenient
from incidentbook.fs import markdown_files, read_text

if TYPE_CHECKING:
    from incidentbook.settings import Settings

HEAD_KEY = "head_hash"  # the front matter's record of the chain's head when it was written


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


@dataclass(frozen=True)
class FileProblem:
    """A Markdown file a whole-workspace command could not read in full: ``path`` as shown
    (workspace-relative), ``problem`` why (without the path)."""

    path: str
    problem: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "problem": self.problem}


def unreadable(settings: Settings, paths: Iterable[Path]) -> list[FileProblem]:
    """The files among ``paths`` whose text or front matter cannot be read (a YAML bomb,
    nesting past the limit, invalid YAML, not UTF-8), each with why."""
    problems: list[FileProblem] = []
    for path in paths:
        try:
            _doc, error = split_lenient(read_text(path))
        except IncidentbookError as exc:
            problems.append(FileProblem(shown(settings, path), without_path(str(exc), path)))
            continue
        if error is not None:
            problems.append(FileProblem(shown(settings, path), error))
    return problems


def without_path(message: str, path: Path) -> str:
    """An error's text without the file's path at its front (the caller shows the path)."""
    return message.removeprefix(f"{path}:").strip().replace(str(path), "the file")


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
