"""The chain heads postmortems recorded (``head_hash:`` in their front matter): ``verify``
proves each is still a prefix of the event log's hash chain.

The files live outside the state database, so a rollback of ``state.sqlite`` to an older copy
is caught: a postmortem written after the copy recorded a head the older chain lacks.
"""

from __future__ import annotations

from pathlib import Path

from sqlmodel import select

from incidentbook.core.documents.files import document_files, shown
from incidentbook.core.events.chain import head_proof, verify_chain
from incidentbook.core.events.projection import CheckResult
from incidentbook.errors import IncidentbookError
from incidentbook.frontmatter import split
from incidentbook.fs import read_text
from incidentbook.settings import Settings
from incidentbook.storage.db import Database
from incidentbook.storage.documents_models import DocumentRow

HEAD_KEY = "head_hash"


def recorded_heads(settings: Settings, db: Database) -> list[tuple[Path, str]]:
    """(file, head) for every document that records a head: the files under
    ``postmortems/`` and those the documents table registers elsewhere."""
    with db.read() as session:
        registered = [Path(p) for p in session.exec(select(DocumentRow.path)).all()]
    paths = {p.resolve(): p for p in document_files(settings)}
    for path in registered:
        full = path if path.is_absolute() else settings.workspace / path
        if full.is_file():
            paths.setdefault(full.resolve(), full)
    heads: list[tuple[Path, str]] = []
    for path in sorted(paths.values()):
        try:
            doc = split(read_text(path), source=str(path))
        except (IncidentbookError, OSError, UnicodeDecodeError):
            continue  # unreadable documents are the documents checks' to report
        head = doc.meta.get(HEAD_KEY)
        if head:
            heads.append((path, str(head)))
    return heads


def check_recorded_heads(settings: Settings, db: Database) -> CheckResult:
    result = CheckResult("recorded_heads")
    heads = recorded_heads(settings, db)
    if not heads:
        return result
    report = verify_chain(db, frozenset(head for _path, head in heads))
    for path, head in heads:
        result.checked += 1
        proof = head_proof(report.broken, report.found, head, report.head_seq)
        if not proof.ok:
            result.problems.append(f"{shown(settings, path)}: {proof.reason}")
    return result
