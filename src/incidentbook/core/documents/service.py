"""The documents registry's use cases: record what changed in a document file as events.

``sync_file`` reads one document from disk and records what changed since the last sync:
ticking a checkbox and saving closes the item with an attributed event; re-running it without
a change records nothing. Each event's projection row (``store``) is written in the same
transaction as the event.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlmodel import Session

from incidentbook.context import Context
from incidentbook.core.documents import actions as act
from incidentbook.core.documents import store
from incidentbook.core.documents.files import (
    FileProblem,
    document_files,
    registered_file,
    relative_path,
    shown,
    without_path,
)
from incidentbook.core.documents.model import (
    ACTION_DROPPED,
    ACTION_OPENED,
    ACTION_PREFIX,
    ACTION_UPDATED,
    ARCHIVED,
    DOC_ARCHIVED,
    DOC_PREFIX,
    DOC_REGISTERED,
    DOC_SAVED,
    KINDS,
    STATUS_EVENT,
    ActionState,
    DocumentState,
    SyncReport,
    apply_action,
    apply_document,
    match_items,
    snapshot_of,
)
from incidentbook.core.events.store import append
from incidentbook.errors import ConflictError, IncidentbookError, NotFoundError, UsageError
from incidentbook.frontmatter import split
from incidentbook.fs import atomic_write, read_text
from incidentbook.obs import log_error, log_info
from incidentbook.settings import Settings
from incidentbook.storage.db import Database


class DocumentService:
    """Syncs the files under ``postmortems/`` into the registry and reads it back."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db

    def sync_file_in(
        self, session: Session, ctx: Context, path: Path, text: str | None = None
    ) -> SyncReport | None:
        """Record what changed in one document since its last sync, in the caller's
        transaction.

        Files without ``kind: postmortem|premortem`` and an ``id`` are not documents: None."""
        text = read_text(path) if text is None else text
        doc = split(text, source=str(path))
        if doc.kind not in KINDS or not doc.id:
            return None
        shown_path = relative_path(self.settings, path)
        report = SyncReport(doc.id, shown_path)
        snapshot = snapshot_of(shown_path, text, doc)
        current = store.get_document(session, doc.id)
        if current is not None and current.path != snapshot["path"]:
            self._refuse_duplicate_id(path, doc.id, current.path)
        if current is None or current.snapshot() != snapshot:
            event = append(
                session,
                ctx,
                DOC_PREFIX + doc.id,
                DOC_REGISTERED if current is None else DOC_SAVED,
                snapshot,
            )
            store.save_document(session, apply_document(current, event))
            # Not queued in the search outbox: the index picks documents up by scanning
            # postmortems/ (queuing a file-only kind would make the drain delete it).
            report.document_changed = True

        items = act.parse_items(doc.body, doc.body_offset)
        rows = store.actions_of(session, doc.id)
        pairs = match_items(items, rows)
        matched_keys = {state.key for _item, state in pairs if state is not None}
        number = len(rows)
        for item, maybe_state in pairs:
            if maybe_state is None:
                number += 1
                key = f"{doc.id}:A{number}"
                while any(r.key == key for r in rows):
                    number += 1
                    key = f"{doc.id}:A{number}"
                fields = {
                    "doc_id": doc.id,
                    "text": item.text,
                    "type": item.type,
                    "owner": item.owner,
                    "due": item.due,
                    "line": item.line,
                }
                state: ActionState = _record(session, ctx, report, key, None, ACTION_OPENED, fields)
            else:
                state = maybe_state
                changes = {
                    name: value
                    for name, value in (
                        ("text", item.text),
                        ("type", item.type),
                        ("owner", item.owner),
                        ("due", item.due),
                    )
                    if getattr(state, name) != value
                }
                if changes:
                    state = _record(session, ctx, report, state.key, state, ACTION_UPDATED, changes)
            wanted = item.status
            if wanted != state.status:
                type_ = STATUS_EVENT[wanted]
                _record(session, ctx, report, state.key, state, type_, {"line": item.line})
        for old in rows:
            if old.key not in matched_keys and old.status != "dropped":
                _record(
                    session,
                    ctx,
                    report,
                    old.key,
                    old,
                    ACTION_DROPPED,
                    {"removed": True},
                    reason="removed from the document",
                )
        return report

    def sync_file(self, ctx: Context, path: Path) -> SyncReport | None:
        with self.db.write() as session:
            report = self.sync_file_in(session, ctx, path)
        if report is not None and report.changed:
            log_info(
                "document_synced",
                ctx.correlation_id,
                actor=ctx.actor,
                doc_id=report.doc_id,
                path=report.path,
                document_changed=report.document_changed,
                action_events=len(report.events),
            )
        return report

    def sync_all(self, ctx: Context) -> list[SyncReport]:
        """Sync every document under ``postmortems/``; a broken file is skipped, not fatal."""
        return self.sync_workspace(ctx)[0]

    def sync_workspace(self, ctx: Context) -> tuple[list[SyncReport], list[FileProblem]]:
        """Sync every document under ``postmortems/``: the reports of those read, and each
        file that could not be read (bad front matter, a duplicate id) with why; one bad file
        never stops the rest."""
        reports: list[SyncReport] = []
        problems: list[FileProblem] = []
        for path in document_files(self.settings):
            try:
                report = self.sync_file(ctx, path)
            except IncidentbookError as exc:
                log_error("document_sync_failed", str(exc), ctx.correlation_id, path=str(path))
                problems.append(
                    FileProblem(shown(self.settings, path), without_path(str(exc), path))
                )
                continue
            if report is not None:
                reports.append(report)
        return reports, problems

    def archive(self, ctx: Context, doc_id: str) -> DocumentState:
        """Mark a document whose file is gone as archived (an event; the row stays). A
        document whose file is still there is refused: move it back or delete it first."""
        with self.db.write() as session:
            current = store.get_document(session, doc_id)
            if current is None:
                raise NotFoundError(f"no document {doc_id}")
            if current.status == ARCHIVED:
                return current
            if (self.settings.workspace / current.path).exists():
                raise UsageError(
                    f"{doc_id}: {current.path} is still there; only a document whose file is"
                    " gone is archived"
                )
            event = append(session, ctx, DOC_PREFIX + doc_id, DOC_ARCHIVED, {"path": current.path})
            state = apply_document(current, event)
            store.save_document(session, state)
            return state

    def missing_files(self) -> list[DocumentState]:
        """Documents (not archived) whose file is no longer in the workspace."""
        return [
            d
            for d in store.list_documents(self.db)
            if d.status != ARCHIVED and not (self.settings.workspace / d.path).exists()
        ]

    def list_actions(
        self, *, status: str | None = None, overdue_on: dt.date | None = None
    ) -> list[ActionState]:
        """Tracked action items (open first, by due date); ``overdue_on``: only open items
        due before that day."""
        return store.list_actions(self.db, status=status, overdue_on=overdue_on)

    def list_documents(self, kind: str | None = None) -> list[DocumentState]:
        return store.list_documents(self.db, kind)

    def file_of(self, document: DocumentState) -> Path:
        """The file a registered document lives in."""
        return registered_file(self.settings, document.path)

    def set_action_done(self, ctx: Context, key: str, done: bool = True) -> SyncReport:
        """Tick (or untick) action item ``key``'s checkbox in its document and record it, as
        saving the ticked file would: the event is attributed to ``ctx``. The file is written
        in the same unit of work as the event; an item already in that state changes
        nothing (an empty report)."""
        with self.db.write() as session:
            state = store.get_action(session, key)
            if state is None:
                raise NotFoundError(f"no action item {key}")
            doc = store.get_document(session, state.doc_id)
            if doc is None:
                raise NotFoundError(f"no document {state.doc_id} for action item {key}")
            if state.status == "dropped":
                raise UsageError(f"{key} was dropped; edit {doc.path} to bring it back")
            path = registered_file(self.settings, doc.path)
            text = read_text(path)
            parsed = split(text, source=str(path))
            pairs = match_items(
                act.parse_items(parsed.body, parsed.body_offset), store.actions_of(session, doc.id)
            )
            item = next((i for i, s in pairs if s is not None and s.key == key), None)
            if item is None:
                raise ConflictError(f"{key} is no longer in {doc.path}; sync the documents")
            new_text = act.set_checked(text, item.line, done)
            report = self.sync_file_in(session, ctx, path, text=new_text)
            if report is None:
                raise ConflictError(f"{doc.path} is no longer a document")
            if new_text != text:
                atomic_write(path, new_text)
        if report.changed:
            log_info(
                "action_ticked" if done else "action_unticked",
                ctx.correlation_id,
                actor=ctx.actor,
                key=key,
                path=report.path,
            )
        return report

    def action_counts(self, today: dt.date | None = None) -> dict[str, int]:
        """Action items by status plus ``overdue`` (as of ``today``, by default the
        settings' clock's date)."""
        return store.action_counts(self.db, today or self.settings.clock().date())

    def _refuse_duplicate_id(self, path: Path, doc_id: str, registered: str) -> None:
        """Two files claiming one id would overwrite each other's record on every sync."""
        other = registered_file(self.settings, registered)
        if not other.is_file() or other.resolve() == path.resolve():
            return  # a rename or a move: the record follows the file
        try:
            other_id = split(other.read_text(encoding="utf-8"), source=str(other)).id
        except Exception:
            return
        if other_id == doc_id:
            raise UsageError(
                f"{relative_path(self.settings, path)}: id {doc_id} is already used by "
                f"{registered}; give one of them another id"
            )


def _record(
    session: Session,
    ctx: Context,
    report: SyncReport,
    key: str,
    state: ActionState | None,
    type_: str,
    data: dict[str, Any],
    *,
    reason: str | None = None,
) -> ActionState:
    event = append(
        session, ctx.because(reason) if reason else ctx, ACTION_PREFIX + key, type_, data
    )
    new_state = apply_action(state, event)
    store.save_action(session, new_state)
    report.events.append({"key": key, "type": type_, "status": new_state.status})
    return new_state
