"""The documents registry and tracked action items as values: states, events, apply/derive.

Streams: ``document:<id>`` (``document.registered``, ``document.saved``: a snapshot of the
front matter, path, content hash and, for pre-mortems, the risk register) and ``action:<key>``
(``action.opened``, ``action.updated``, ``action.done``, ``action.reopened``,
``action.dropped``). ``DocumentState`` and ``ActionState`` are what those events say;
``snapshot_of`` and ``match_items`` decide what a file's content changes. Pure: no SQL (the
rows are in ``store``, the use cases in ``service``).
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from incidentbook.core.documents import actions as act
from incidentbook.core.documents.risks import parse_risks
from incidentbook.core.events.model import Event
from incidentbook.frontmatter import Document

DOC_PREFIX = "document:"
ACTION_PREFIX = "action:"
KINDS = ("postmortem", "premortem")

DOC_REGISTERED = "document.registered"
DOC_SAVED = "document.saved"
# its file is gone and a person said so (``postmortem archive``): kept, listed as archived
DOC_ARCHIVED = "document.archived"
ARCHIVED = "archived"
ACTION_OPENED = "action.opened"
ACTION_UPDATED = "action.updated"
ACTION_DONE = "action.done"
ACTION_REOPENED = "action.reopened"
ACTION_DROPPED = "action.dropped"

# The event that moves an action item to each status a checkbox can say.
STATUS_EVENT = {"done": ACTION_DONE, "dropped": ACTION_DROPPED, "open": ACTION_REOPENED}


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
    if event.type == DOC_ARCHIVED and state is not None:
        return replace(state, status=ARCHIVED, updated_at=event.recorded_at, last_seq=event.seq)
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


def snapshot_of(shown_path: str, text: str, doc: Document) -> dict[str, Any]:
    """The ``document.registered``/``document.saved`` data for a file's text, its path as
    recorded (``shown_path``, relative to the workspace where it can be)."""
    risks = [r.to_dict() for r in parse_risks(doc.body, doc.body_offset)]
    incident = doc.meta.get("incident")
    return {
        "kind": doc.kind,
        "path": shown_path,
        "title": str(doc.meta.get("title") or doc.id),
        "incident": str(incident) if incident else None,
        "status": str(doc.meta.get("status") or "draft"),
        "services": doc.str_list("services"),
        "tags": doc.str_list("tags"),
        "risks": risks if doc.kind == "premortem" else [],
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
    }


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


def normalized(text: str) -> str:
    return " ".join(text.lower().split())


def match_items(
    items: list[act.ActionItem], rows: list[ActionState]
) -> list[tuple[act.ActionItem, ActionState | None]]:
    """Pair each item in the file with its tracked state: same text first, then (for an
    edited text) the most similar unpaired item, else it is new."""
    by_text: dict[str, list[ActionState]] = {}
    for row in rows:
        by_text.setdefault(normalized(row.text), []).append(row)
    taken: set[str] = set()
    pairs: list[tuple[act.ActionItem, ActionState | None]] = []
    pending: list[int] = []
    for item in items:
        candidates = by_text.get(normalized(item.text), [])
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
            ratio = difflib.SequenceMatcher(
                None, normalized(candidate.text), normalized(item.text)
            ).ratio()
            if ratio >= best_ratio:
                best, best_ratio = candidate, ratio
        if best is not None:
            free.remove(best)
            pairs[index] = (item, best)
    return pairs


# -- what one sync recorded ------------------------------------------------------------------


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
