"""The documents registry and tracked action items, event-sourced.

Streams: ``document:<id>`` (``document.registered``, ``document.saved``: a snapshot of the
front matter, path, content hash and, for pre-mortems, the risk register) and ``action:<key>``
(``action.opened``, ``action.updated``, ``action.done``, ``action.reopened``,
``action.dropped``). The ``documents`` and ``action_items`` tables are projections written in
the same transaction as each event; ``verify`` re-derives both.

``sync_file`` reads one document from disk and records what changed since the last sync:
ticking a checkbox and saving closes the item with an attributed event; re-running it without
a change records nothing.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, select

from incidentbook.context import Context
from incidentbook.core.documents import actions as act
from incidentbook.core.events.model import Event
from incidentbook.core.events.store import append
from incidentbook.frontmatter import Document, split
from incidentbook.fs import read_text
from incidentbook.storage.documents_models import ActionItemRow, DocumentRow

if TYPE_CHECKING:
    from incidentbook.services import Services
    from incidentbook.settings import Settings
    from incidentbook.storage.db import Database

DOC_PREFIX = "document:"
ACTION_PREFIX = "action:"
KINDS = ("postmortem", "premortem")

DOC_REGISTERED = "document.registered"
DOC_SAVED = "document.saved"
ACTION_OPENED = "action.opened"
ACTION_UPDATED = "action.updated"
ACTION_DONE = "action.done"
ACTION_REOPENED = "action.reopened"
ACTION_DROPPED = "action.dropped"


# -- documents -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DocumentState:
    id: str
    kind: str
    path: str
    title: str
    incident_id: str | None
    status: str
    services: tuple[str, ...]
    tags: tuple[str, ...]
    risks: tuple[dict[str, Any], ...]
    sha256: str
    created_at: str
    updated_at: str
    last_seq: int

    def to_row(self) -> DocumentRow:
        values = asdict(self)
        values["services"] = json.dumps(list(self.services))
        values["tags"] = json.dumps(list(self.tags))
        values["risks"] = json.dumps(list(self.risks), sort_keys=True)
        return DocumentRow(**values)

    @classmethod
    def from_row(cls, row: DocumentRow) -> DocumentState:
        values = row.model_dump()
        values["services"] = tuple(json.loads(row.services))
        values["tags"] = tuple(json.loads(row.tags))
        values["risks"] = tuple(json.loads(row.risks))
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["services"] = list(self.services)
        values["tags"] = list(self.tags)
        values["risks"] = [dict(r) for r in self.risks]
        return values

    def snapshot(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": self.path,
            "title": self.title,
            "incident": self.incident_id,
            "status": self.status,
            "services": list(self.services),
            "tags": list(self.tags),
            "risks": [dict(r) for r in self.risks],
            "sha256": self.sha256,
        }


def apply_document(state: DocumentState | None, event: Event) -> DocumentState:
    data = event.data
    fields: dict[str, Any] = {
        "kind": str(data["kind"]),
        "path": str(data["path"]),
        "title": str(data["title"]),
        "incident_id": data.get("incident"),
        "status": str(data.get("status") or ""),
        "services": tuple(data.get("services") or ()),
        "tags": tuple(data.get("tags") or ()),
        "risks": tuple(data.get("risks") or ()),
        "sha256": str(data["sha256"]),
        "updated_at": event.recorded_at,
        "last_seq": event.seq,
    }
    if state is None:
        if event.type != DOC_REGISTERED:
            raise ValueError(f"event {event.seq} ({event.type}) precedes {event.stream}'s first")
        return DocumentState(
            id=event.stream.removeprefix(DOC_PREFIX), created_at=event.recorded_at, **fields
        )
    if event.type in (DOC_REGISTERED, DOC_SAVED):
        return replace(state, **fields)
    return replace(state, updated_at=event.recorded_at, last_seq=event.seq)


def derive_document(events: list[Event]) -> DocumentState | None:
    state: DocumentState | None = None
    for event in events:
        state = apply_document(state, event)
    return state


# -- action items ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionState:
    key: str
    doc_id: str
    text: str
    type: str | None
    owner: str | None
    due: str | None
    status: str
    opened_at: str
    closed_at: str | None
    updated_at: str
    last_seq: int

    def to_row(self) -> ActionItemRow:
        return ActionItemRow(**asdict(self))

    @classmethod
    def from_row(cls, row: ActionItemRow) -> ActionState:
        return cls(**row.model_dump())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def overdue(self, today: dt.date) -> bool:
        if self.status != "open" or not act.is_date(self.due):
            return False
        assert self.due is not None
        return dt.date.fromisoformat(self.due) < today


def apply_action(state: ActionState | None, event: Event) -> ActionState:
    data = event.data
    at = event.recorded_at
    if event.type == ACTION_OPENED:
        return ActionState(
            key=event.stream.removeprefix(ACTION_PREFIX),
            doc_id=str(data["doc_id"]),
            text=str(data["text"]),
            type=data.get("type"),
            owner=data.get("owner"),
            due=data.get("due"),
            status="open",
            opened_at=at,
            closed_at=None,
            updated_at=at,
            last_seq=event.seq,
        )
    if state is None:
        raise ValueError(f"event {event.seq} ({event.type}) precedes {event.stream}'s opening")
    state = replace(state, updated_at=at, last_seq=event.seq)
    if event.type == ACTION_UPDATED:
        changes = {k: data[k] for k in ("text", "type", "owner", "due") if k in data}
        return replace(state, **changes)
    if event.type == ACTION_DONE:
        return replace(state, status="done", closed_at=at)
    if event.type == ACTION_REOPENED:
        return replace(state, status="open", closed_at=None)
    if event.type == ACTION_DROPPED:
        return replace(state, status="dropped", closed_at=at)
    return state


def derive_action(events: list[Event]) -> ActionState | None:
    state: ActionState | None = None
    for event in events:
        state = apply_action(state, event)
    return state


# -- syncing a file --------------------------------------------------------------------------


@dataclass
class SyncReport:
    doc_id: str
    path: str
    document_changed: bool = False
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.document_changed or bool(self.events)

    def to_dict(self) -> dict[str, Any]:
        return {
            "doc_id": self.doc_id,
            "path": self.path,
            "document_changed": self.document_changed,
            "action_events": self.events,
        }


def relative_path(settings: Settings, path: Path) -> str:
    try:
        return path.resolve().relative_to(settings.workspace.resolve()).as_posix()
    except ValueError:
        return str(path.resolve())


def snapshot_of(settings: Settings, path: Path, text: str, doc: Document) -> dict[str, Any]:
    from incidentbook.core.documents.risks import parse_risks

    risks = [r.to_dict() for r in parse_risks(doc.body, doc.body_offset)]
    incident = doc.meta.get("incident")
    return {
        "kind": doc.kind,
        "path": relative_path(settings, path),
        "title": str(doc.meta.get("title") or doc.id),
        "incident": str(incident) if incident else None,
        "status": str(doc.meta.get("status") or "draft"),
        "services": doc.str_list("services"),
        "tags": doc.str_list("tags"),
        "risks": risks if doc.kind == "premortem" else [],
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
    }


def _refuse_duplicate_id(settings: Settings, path: Path, doc_id: str, registered: str) -> None:
    """Two files claiming one id would overwrite each other's record on every sync."""
    from incidentbook.errors import UsageError

    other = Path(registered)
    other = other if other.is_absolute() else settings.workspace / other
    if not other.is_file() or other.resolve() == path.resolve():
        return  # a rename or a move: the record follows the file
    try:
        other_id = split(other.read_text(encoding="utf-8"), source=str(other)).id
    except Exception:
        return
    if other_id == doc_id:
        raise UsageError(
            f"{relative_path(settings, path)}: id {doc_id} is already used by {registered}; "
            f"give one of them another id"
        )


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def sync_file_in(
    session: Session, settings: Settings, ctx: Context, path: Path, text: str | None = None
) -> SyncReport | None:
    """Record what changed in one document since its last sync, in the caller's transaction.

    Files without ``kind: postmortem|premortem`` and an ``id`` are not documents: None."""
    text = read_text(path) if text is None else text
    doc = split(text, source=str(path))
    if doc.kind not in KINDS or not doc.id:
        return None
    report = SyncReport(doc.id, relative_path(settings, path))
    snapshot = snapshot_of(settings, path, text, doc)
    row = session.get(DocumentRow, doc.id)
    current = DocumentState.from_row(row) if row else None
    if current is not None and current.path != snapshot["path"]:
        _refuse_duplicate_id(settings, path, doc.id, current.path)
    if current is None or current.snapshot() != snapshot:
        event = append(
            session,
            ctx,
            DOC_PREFIX + doc.id,
            DOC_REGISTERED if current is None else DOC_SAVED,
            snapshot,
        )
        doc_state = apply_document(current, event)
        session.merge(doc_state.to_row())
        # Not queued in the search outbox: the index picks documents up by scanning
        # postmortems/ (queuing a file-only kind would make the drain delete it).
        report.document_changed = True

    items = act.parse_items(doc.body, doc.body_offset)
    rows = [
        ActionState.from_row(r)
        for r in session.exec(
            select(ActionItemRow)
            .where(ActionItemRow.doc_id == doc.id)
            .order_by(col(ActionItemRow.opened_at), col(ActionItemRow.key))
        ).all()
    ]
    pairs = _match(items, rows)
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
            type_ = {
                "done": ACTION_DONE,
                "dropped": ACTION_DROPPED,
                "open": ACTION_REOPENED,
            }[wanted]
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


def _match(
    items: list[act.ActionItem], rows: list[ActionState]
) -> list[tuple[act.ActionItem, ActionState | None]]:
    """Pair each item in the file with its tracked state: same text first, then (for an
    edited text) the most similar unpaired item, else it is new."""
    by_text: dict[str, list[ActionState]] = {}
    for row in rows:
        by_text.setdefault(_norm(row.text), []).append(row)
    taken: set[str] = set()
    pairs: list[tuple[act.ActionItem, ActionState | None]] = []
    pending: list[int] = []
    for item in items:
        candidates = by_text.get(_norm(item.text), [])
        exact = candidates.pop(0) if candidates else None
        if exact is not None:
            taken.add(exact.key)
        else:
            pending.append(len(pairs))
        pairs.append((item, exact))
    free = [r for r in rows if r.key not in taken]
    for index in pending:
        item = pairs[index][0]
        best: ActionState | None = None
        best_ratio = 0.6
        for candidate in free:
            ratio = difflib.SequenceMatcher(None, _norm(candidate.text), _norm(item.text)).ratio()
            if ratio >= best_ratio:
                best, best_ratio = candidate, ratio
        if best is not None:
            free.remove(best)
            pairs[index] = (item, best)
    return pairs


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
    session.merge(new_state.to_row())
    report.events.append({"key": key, "type": type_, "status": new_state.status})
    return new_state


def sync_file(services: Services, ctx: Context, path: Path) -> SyncReport | None:
    with services.db.write() as session:
        report = sync_file_in(session, services.settings, ctx, path)
    if report is not None and report.changed:
        from incidentbook.obs import log_info

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


def document_files(settings: Settings) -> list[Path]:
    folder = settings.postmortems_dir
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*.md") if p.is_file() and not p.name.startswith("."))


def sync_all(services: Services, ctx: Context) -> list[SyncReport]:
    """Sync every document under ``postmortems/``; a broken file is skipped, not fatal."""
    from incidentbook.errors import IncidentbookError
    from incidentbook.obs import log_error

    reports: list[SyncReport] = []
    for path in document_files(services.settings):
        try:
            report = sync_file(services, ctx, path)
        except IncidentbookError as exc:
            log_error("document_sync_failed", str(exc), ctx.correlation_id, path=str(path))
            continue
        if report is not None:
            reports.append(report)
    return reports


# -- reads -----------------------------------------------------------------------------------


def list_actions(
    db: Database,
    *,
    status: str | None = None,
    overdue_on: dt.date | None = None,
    doc_id: str | None = None,
) -> list[ActionState]:
    with db.read() as session:
        query = select(ActionItemRow)
        if status:
            query = query.where(ActionItemRow.status == status)
        if doc_id:
            query = query.where(ActionItemRow.doc_id == doc_id)
        rows = session.exec(query).all()
    states = [ActionState.from_row(r) for r in rows]
    if overdue_on is not None:
        states = [s for s in states if s.overdue(overdue_on)]
    order = {"open": 0, "done": 1, "dropped": 2}
    return sorted(states, key=lambda s: (order.get(s.status, 3), s.due or "9999", s.key))


def action_counts(db: Database, today: dt.date) -> dict[str, int]:
    """Action items by status plus ``overdue`` (open, due before ``today``): for the Health
    view and ``stats``."""
    counts = {"open": 0, "done": 0, "dropped": 0, "overdue": 0}
    for state in list_actions(db):
        counts[state.status] = counts.get(state.status, 0) + 1
        if state.overdue(today):
            counts["overdue"] += 1
    return counts


def list_documents(db: Database, kind: str | None = None) -> list[DocumentState]:
    with db.read() as session:
        query = select(DocumentRow)
        if kind:
            query = query.where(DocumentRow.kind == kind)
        rows = session.exec(query.order_by(col(DocumentRow.id))).all()
    return [DocumentState.from_row(r) for r in rows]


def documents_for_incident(db: Database, incident_id: str) -> list[DocumentState]:
    with db.read() as session:
        rows = session.exec(select(DocumentRow).where(DocumentRow.incident_id == incident_id)).all()
    return [DocumentState.from_row(r) for r in rows]


# -- verify ----------------------------------------------------------------------------------


def check_documents(_settings: Settings, db: Database) -> Any:
    from incidentbook.core.events.projection import check_projection

    return check_projection(
        "documents_projection",
        "document",
        db,
        DOC_PREFIX,
        DocumentRow,
        lambda r: r.id,
        derive_document,
        DocumentState.from_row,
    )


def check_actions(_settings: Settings, db: Database) -> Any:
    from incidentbook.core.events.projection import check_projection

    return check_projection(
        "action_items_projection",
        "action item",
        db,
        ACTION_PREFIX,
        ActionItemRow,
        lambda r: r.key,
        derive_action,
        ActionState.from_row,
    )


def health_panels(services: Services) -> list[tuple[str, str]]:
    """The Health view's action-item panel: open, done, dropped and overdue items."""
    today = services.settings.clock().date()
    counts = action_counts(services.db, today)
    body = "\n".join(
        f"{name:>10}  {counts.get(name, 0):,}" for name in ("open", "overdue", "done", "dropped")
    )
    return [("Action items", body)]
