"""Finding what the past says about a subject: incidents, postmortems, pre-mortems, runbooks.

``search_related`` is the one entry point. It uses the Whoosh index of
``incidentbook.core.search`` when that package offers a query function, and otherwise falls
back to a plain word match over incidents (titles and notes) and the Markdown files under
``postmortems/`` and ``runbooks/``, so pre-mortems are prefilled either way.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlmodel import select

from incidentbook.core import search
from incidentbook.core.documents.actions import sections
from incidentbook.core.documents.store import documents_for_incident, list_actions
from incidentbook.core.incidents import model as incidents
from incidentbook.frontmatter import split
from incidentbook.fs import markdown_files, read_text
from incidentbook.obs import log_error
from incidentbook.storage.models import EventRow, IncidentRow

if TYPE_CHECKING:
    from incidentbook.settings import Settings
    from incidentbook.storage.db import Database

_STOP = """
    a an and are as at be by for from has have in into is it its of on or that the their this
    to was were will with after before during launch new our we not no all any more when than
    then also can could would should about over under via per incident postmortem premortem
    pre-mortem post-mortem what has bitten us
"""
STOPWORDS = frozenset(_STOP.split())


def stem(word: str) -> str:
    for suffix in ("ing", "ies", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def terms(text: str) -> set[str]:
    words = re.findall(r"[a-z0-9][a-z0-9_-]*", text.lower())
    return {stem(w) for w in words if len(w) >= 3 and w not in STOPWORDS and not w.isdigit()}


@dataclass
class Related:
    kind: str  # incident | postmortem | premortem | runbook
    id: str
    title: str
    score: float
    path: str | None = None
    lesson: str = ""
    actions: dict[str, int] = field(default_factory=dict)  # status -> count
    matched: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def action_status(self) -> str:
        if not self.actions:
            return ""
        return ", ".join(f"{n} {status}" for status, n in sorted(self.actions.items()))


def search_related(
    settings: Settings,
    db: Database,
    text: str,
    *,
    services: list[str] | None = None,
    tags: list[str] | None = None,
    exclude: set[str] | None = None,
    limit: int = 8,
) -> list[Related]:
    """Past incidents, postmortems, pre-mortems and runbooks related to ``text`` and the
    given services and tags, best first, each with its lesson and action-item status."""
    found = _via_search_index(settings, db, text, services or [], tags or [], limit * 2)
    if found is None:
        found = _fallback(settings, db, text, services or [], tags or [])
    skip = exclude or set()
    results = [r for r in found if r.id not in skip and (r.path or "") not in skip]
    results.sort(key=lambda r: (-r.score, r.kind, r.id))
    results = results[:limit]
    _attach_lessons(settings, db, results)
    return results


def backend_name() -> str:
    return "whoosh" if _search_terms_function() is not None else "fallback"


def _search_terms_function() -> Any:
    """``incidentbook.core.search.search_terms`` (issue 5's Whoosh index), if present."""
    func = getattr(search, "search_terms", None)
    return func if callable(func) else None


def _via_search_index(
    settings: Settings,
    db: Database,
    text: str,
    services: list[str],
    tags: list[str],
    limit: int,
) -> list[Related] | None:
    func = _search_terms_function()
    if func is None:
        return None
    words = sorted(terms(" ".join([text, *services, *tags])))
    if not words:
        return []
    try:
        hits = func(settings, words, limit=limit * 2, db=db)
    except Exception as exc:  # a busy or broken index: the plain match still answers
        log_error("related_search_fallback", f"{type(exc).__name__}: {exc}")
        return None
    svc = {s.lower() for s in services}
    tag_set = {t.lower() for t in tags}
    results: list[Related] = []
    for hit in hits:
        kind = str(getattr(hit, "kind", ""))
        if kind not in ("incident", "postmortem", "premortem", "runbook"):
            continue
        hit_services = {str(x).lower() for x in getattr(hit, "services", ()) or ()}
        hit_tags = {str(x).lower() for x in getattr(hit, "tags", ()) or ()}
        score = float(getattr(hit, "score", 0.0) or 0.0)
        score += 3 * len(svc & hit_services) + 2 * len(tag_set & hit_tags)
        path = getattr(hit, "path", None)
        results.append(
            Related(
                kind=kind,
                id=str(getattr(hit, "doc_id", "")),
                title=str(getattr(hit, "title", "")),
                score=score,
                path=_relative(settings, str(path)) if path else None,
                matched=sorted((svc & hit_services) | (tag_set & hit_tags)),
            )
        )
    return results


def _relative(settings: Settings, path: str) -> str:
    candidate = Path(path)
    if not candidate.is_absolute():
        return path
    try:
        return candidate.resolve().relative_to(settings.workspace.resolve()).as_posix()
    except ValueError:
        return path


def _fallback(
    settings: Settings, db: Database, text: str, services: list[str], tags: list[str]
) -> list[Related]:
    wanted = terms(text)
    svc = {s.lower() for s in services}
    tag_set = {t.lower() for t in tags}
    keys = wanted | {stem(s) for s in svc | tag_set}
    results: list[Related] = []

    with db.read() as session:
        rows = session.exec(select(IncidentRow)).all()
        notes: dict[str, list[str]] = {}
        for event in session.exec(
            select(EventRow).where(EventRow.type == incidents.NOTE_ADDED)
        ).all():
            data = json.loads(event.data)
            notes.setdefault(event.stream.removeprefix(incidents.STREAM_PREFIX), []).append(
                str(data.get("text", ""))
            )
    for row in rows:
        body = terms(" ".join([row.title, *notes.get(row.id, [])]))
        hit = keys & body
        if hit:
            title_hit = keys & terms(row.title)
            score = len(hit) + 2 * len(title_hit)
            results.append(Related("incident", row.id, row.title, score, matched=sorted(hit)))

    files: list[tuple[str, Path]] = []
    for folder, default_kind in (
        (settings.postmortems_dir, ""),
        (settings.runbooks_dir, "runbook"),
    ):
        files.extend((default_kind, p) for p in markdown_files(folder, settings.workspace)[0])
    for default_kind, path in files:
        try:
            doc = split(read_text(path), source=str(path))
        except Exception:
            continue
        kind = doc.kind or default_kind
        if kind not in ("postmortem", "premortem", "runbook"):
            continue
        title = str(doc.meta.get("title") or path.stem)
        doc_services = {s.lower() for s in doc.str_list("services")}
        doc_tags = {t.lower() for t in doc.str_list("tags")}
        body = terms(" ".join([title, doc.body]))
        hit = keys & body
        score = len(hit) + 2 * len(keys & terms(title))
        score += 3 * len(svc & doc_services) + 2 * len(tag_set & doc_tags)
        if score <= 0:
            continue
        shown = _relative(settings, str(path.resolve()))
        matched = sorted(hit | (svc & doc_services) | (tag_set & doc_tags))
        results.append(
            Related(kind, doc.id or path.stem, title, score, path=shown, matched=matched)
        )
    return results


def _attach_lessons(settings: Settings, db: Database, results: list[Related]) -> None:
    """Each result's lesson (first bullet of a postmortem's Lessons) and action-item counts."""
    for result in results:
        doc_ids: list[tuple[str, str | None]] = []
        if result.kind == "incident":
            doc_ids = [(d.id, d.path) for d in documents_for_incident(db, result.id)]
        elif result.kind in ("postmortem", "premortem"):
            doc_ids = [(result.id, result.path)]
        for doc_id, path in doc_ids:
            if not result.lesson and path:
                result.lesson = lesson_of(
                    Path(path) if Path(path).is_absolute() else settings.workspace / path
                )
            for action in list_actions(db, doc_id=doc_id):
                result.actions[action.status] = result.actions.get(action.status, 0) + 1


def lesson_of(path: Path) -> str:
    """The first lesson in a document's "Lessons" section, as one line."""
    try:
        doc = split(path.read_text(encoding="utf-8"))
    except Exception:
        return ""
    for section in sections(doc.body):
        if "lesson" in section.title.lower():
            for _n, line in section.body:
                text = line.strip()
                if not text or text.startswith("<!--"):
                    continue
                text = re.sub(r"^([-*+]|\d+[.)])\s+", "", text)
                return " ".join(text.split())
    return ""
