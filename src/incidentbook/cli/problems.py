"""Files a whole-workspace command could not read: one stderr line each (``PATH: why``), then,
where the command reports failures, exit 1."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from incidentbook.errors import CheckFailed
from incidentbook.text import plural

if TYPE_CHECKING:
    from incidentbook.core.documents.files import FileProblem
    from incidentbook.settings import Settings


def report_unreadable(problems: list[FileProblem], then: str) -> None:
    """``PATH: why (then)`` on stderr for each file (stdout stays the command's result)."""
    for problem in problems:
        click.echo(f"{problem.path}: {problem.problem} ({then})", err=True)


def fail_unreadable(command: str, problems: list[FileProblem], done: str) -> None:
    """Exit 1 when any file could not be read, saying how many and what was still done."""
    if problems:
        raise CheckFailed(f"{command}: {plural(len(problems), 'file')} could not be read; {done}")


def indexed_unreadable(settings: Settings) -> list[FileProblem]:
    """The runbooks and documents the search index reads without their front matter."""
    # Deferred like every command body's core import: ``--help`` loads none of the core.
    from incidentbook.core.documents.files import document_files, unreadable
    from incidentbook.core.runbooks.loader import runbook_files

    paths = [path for path, _root, _source in runbook_files(settings)]
    return unreadable(settings, paths + document_files(settings))
