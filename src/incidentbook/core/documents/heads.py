"""The chain heads postmortems recorded (``head_hash:`` in their front matter): ``verify``
proves each is still a prefix of the event log's hash chain.

The files live outside the state database, so a rollback of ``state.sqlite`` to an older copy
is caught: a postmortem written after the copy recorded a head the older chain lacks.
"""

from __future__ import annotations

from pathlib import Path

from sqlmodel import select

from incidentbook.core.documents.files import (
    document_files,
    files_recording_heads,
    recorded_head,
    shown,
)
from incidentbook.core.documents.model import DOC_PREFIX
from incidentbook.core.events.chain import head_proof, verify_chain
from incidentbook.core.events.projection import CheckResult
from incidentbook.core.events.store import stream_events
from incidentbook.core.incidents import model as incidents
from incidentbook.errors import IncidentbookError
from incidentbook.frontmatter import split
from incidentbook.fs import read_text
from incidentbook.settings import Settings
from incidentbook.storage.db import Database
from incidentbook.storage.documents_models import DocumentRow


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
        head = recorded_head(path)
        if head:
            heads.append((path, head))
    return heads


def check_document_references(settings: Settings, db: Database) -> CheckResult:
    """Every document this state wrote (one that records a head) still refers to events the
    database has: its own document events, and its incident's. An older copy of the state
    database put back (a rollback), or a new one made where documents were, fails here even
    when the recorded head is still in the chain."""
    result = CheckResult("document_references")
    for path in files_recording_heads(settings):
        try:
            meta = split(read_text(path), source=str(path)).meta
        except (IncidentbookError, OSError, UnicodeDecodeError):
            continue  # the documents checks report an unreadable file
        result.checked += 1
        where = shown(settings, path)
        with db.read() as session:
            for field, prefix, what in (
                ("id", DOC_PREFIX, "document"),
                ("incident", incidents.STREAM_PREFIX, "incident"),
            ):
                named = meta.get(field)
                if named and not stream_events(session, f"{prefix}{named}"):
                    result.problems.append(
                        f"{where}: {what} {named} has no events in the state database"
                        " (an older copy put back, or a new one; restore the newest backup)"
                    )
    return result


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
