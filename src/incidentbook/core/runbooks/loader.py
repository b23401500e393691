"""Finding and loading runbooks: the workspace's ``runbooks/**/*.md``, then the shipped ones.

A workspace file wins over a shipped one with the same id (the shipped one is "shadowed"); the
same id twice within one source keeps the first file and reports the other as a duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from incidentbook.core.runbooks.model import Runbook, parse_runbook
from incidentbook.fs import markdown_files
from incidentbook.resources import shipped_dir

if TYPE_CHECKING:
    from incidentbook.settings import Settings


def runbook_roots(settings: Settings) -> list[tuple[Path, str]]:
    """(directory, source) in precedence order: workspace first, then shipped."""
    roots: list[tuple[Path, str]] = [(settings.runbooks_dir, "workspace")]
    shipped = shipped_dir("runbooks")
    try:
        same = shipped.resolve() == settings.runbooks_dir.resolve()
    except OSError:
        same = False
    if not same:
        roots.append((shipped, "shipped"))
    return roots


def runbook_files(settings: Settings) -> list[tuple[Path, Path, str]]:
    """(file, root, source) for every runbook file, workspace first, sorted within a root.
    Workspace files whose symlinks lead out of the workspace are not among them
    (``outside_runbooks``)."""
    out: list[tuple[Path, Path, str]] = []
    for root, source in runbook_roots(settings):
        workspace = settings.workspace if source == "workspace" else None
        files, _outside = markdown_files(root, workspace)
        out.extend((p, root, source) for p in files)
    return out


def outside_runbooks(settings: Settings) -> list[Path]:
    """Runbook files in the workspace that are symlinks out of it: never read, reported."""
    return markdown_files(settings.runbooks_dir, settings.workspace)[1]


@dataclass
class RunbookSet:
    runbooks: list[Runbook]
    shadowed: list[Runbook]  # shipped runbooks replaced by a workspace one with the same id
    duplicates: list[tuple[Runbook, Runbook]]  # same id twice within one source
    outside: list[Path] = field(default_factory=list)  # symlinks out of the workspace: unread

    def get(self, ref: str) -> Runbook | None:
        """By id, relative path, file name or slug (case-insensitive)."""
        key = ref.strip()
        lowered = key.lower().removesuffix(".md")
        for rb in self.runbooks:
            if rb.id == key or rb.rel_path == key or str(rb.path) == key:
                return rb
        for rb in self.runbooks:
            if lowered in (
                rb.id.lower(),
                rb.rel_path.lower().removesuffix(".md"),
                rb.slug,
                rb.path.stem.lower(),
            ):
                return rb
        return None


def load_runbooks(settings: Settings) -> RunbookSet:
    by_id: dict[str, Runbook] = {}
    shadowed: list[Runbook] = []
    duplicates: list[tuple[Runbook, Runbook]] = []
    for path, root, source in runbook_files(settings):
        try:
            rb = parse_runbook(path, root, source)
        except OSError:
            continue
        existing = by_id.get(rb.id)
        if existing is None:
            by_id[rb.id] = rb
        elif existing.source == rb.source:
            duplicates.append((existing, rb))
        else:
            shadowed.append(rb)
    runbooks = sorted(by_id.values(), key=lambda r: (r.id.lower(), r.rel_path))
    return RunbookSet(runbooks, shadowed, duplicates, outside_runbooks(settings))
