"""Pre-mortems (Klein method) and their risk register.

``PremortemService.create`` renders ``premortem.md.j2`` with "What has bitten us before"
prefilled by ``related.search_related`` for the launch's services, tags and title words.
``foreseen_for_incident`` matches a later incident against every pre-mortem risk by service or
tag and text: the Incident screen shows "foreseen in PRE-0003: risk 2".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlmodel import Session

from incidentbook.context import Context
from incidentbook.core.documents import blocks, related, store, templating
from incidentbook.core.documents.facts import collect
from incidentbook.core.documents.files import document_files, shown
from incidentbook.core.documents.related import stem, terms
from incidentbook.core.documents.risks import Risk, parse_risks
from incidentbook.core.documents.service import DocumentService
from incidentbook.errors import UsageError
from incidentbook.frontmatter import Document, join, split
from incidentbook.fs import atomic_write
from incidentbook.obs import log_info
from incidentbook.settings import Settings
from incidentbook.storage.db import Database
from incidentbook.text import slugify

ID_RE = re.compile(r"^PRE-(\d+)")


@dataclass
class PremortemResult:
    id: str
    path: Path
    related: list[dict[str, Any]] = field(default_factory=list)
    search_backend: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": str(self.path),
            "related": self.related,
            "search_backend": self.search_backend,
        }


def premortem_files(settings: Settings) -> list[tuple[Path, Document]]:
    found: list[tuple[Path, Document]] = []
    for path in document_files(settings):
        try:
            doc = split(path.read_text(encoding="utf-8"), source=str(path))
        except Exception:
            continue
        if doc.kind == "premortem":
            found.append((path, doc))
    return found


def next_premortem_id(settings: Settings, db: Database, session: Session | None = None) -> str:
    """One more than the highest PRE- number in the registry and in postmortems/."""
    numbers = [0]
    if session is None:
        with db.read() as own:
            ids = store.document_ids(own)
    else:
        ids = store.document_ids(session)
    for doc_id in ids:
        match = ID_RE.match(doc_id)
        if match:
            numbers.append(int(match.group(1)))
    for path in document_files(settings):
        match = ID_RE.match(path.name)
        if match:
            numbers.append(int(match.group(1)))
    for _path, doc in premortem_files(settings):
        match = ID_RE.match(doc.id)
        if match:
            numbers.append(int(match.group(1)))
    return f"PRE-{max(numbers) + 1:04d}"


class PremortemService:
    """Starts pre-mortems; the file and its ``document.registered`` event land together."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        documents: DocumentService,
        new_context: Callable[[str], Context],
    ) -> None:
        self.settings = settings
        self.db = db
        self.documents = documents
        self.new_context = new_context

    def create(
        self,
        title: str,
        *,
        launch_services: list[str] | None = None,
        tags: list[str] | None = None,
        ctx: Context | None = None,
    ) -> PremortemResult:
        clean_title = " ".join(title.split())
        if not clean_title:
            raise UsageError("a pre-mortem needs a title")
        settings = self.settings
        ctx = ctx or self.new_context("pre-mortem started")
        svc = [s.strip() for s in launch_services or [] if s.strip()]
        tag_list = [t.strip() for t in tags or [] if t.strip()]
        folder = settings.postmortems_dir
        _ensure_folder(folder)
        found = related.search_related(
            settings, self.db, clean_title, services=svc, tags=tag_list, limit=8
        )
        now = ctx.clock()
        # The id is chosen inside the write transaction (writers are serialised there), so two
        # pre-mortems started at once never get the same number.
        with self.db.write() as session:
            doc_id = next_premortem_id(settings, self.db, session)
            path = folder / f"{doc_id}-{slugify(clean_title)}.md"
            if path.exists():
                raise UsageError(f"{path} already exists")
            body = templating.render(
                settings,
                "premortem.md.j2",
                {
                    "id": doc_id,
                    "title": clean_title,
                    "services": svc,
                    "tags": tag_list,
                    "related": [r.to_dict() | {"action_status": r.action_status} for r in found],
                    "created": now.date().isoformat(),
                    "now": now.isoformat(),
                },
            )
            meta = {
                "id": doc_id,
                "kind": "premortem",
                "title": clean_title,
                "status": "draft",
                "authors": [ctx.actor.split(":", 1)[-1]],
                "created": now.date().isoformat(),
                "services": svc,
                "tags": tag_list,
            }
            text = join(meta, blocks.stamp(body))
            self.documents.sync_file_in(session, ctx, path, text=text)
            atomic_write(path, text)
        log_info(
            "premortem_created", ctx.correlation_id, actor=ctx.actor, id=doc_id, path=str(path)
        )
        return PremortemResult(doc_id, path, [r.to_dict() for r in found], related.backend_name())

    def new(
        self,
        title: str,
        launch_services: list[str] | None = None,
        tags: list[str] | None = None,
    ) -> Path:
        return self.create(title, launch_services=launch_services, tags=tags).path


def _ensure_folder(folder: Path) -> None:
    if not folder.exists():
        try:
            folder.mkdir(parents=True)
        except OSError as exc:
            raise UsageError(f"cannot create {folder}: {exc.strerror}") from None
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder")


# -- the risk register -----------------------------------------------------------------------


@dataclass
class Foreseen:
    premortem_id: str
    premortem_title: str
    path: str
    risk: int
    risk_title: str
    matched: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"foreseen in {self.premortem_id}: risk {self.risk}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"label": self.label}


@dataclass
class Coverage:
    """For a postmortem: pre-mortems that covered the incident's services, with the risks
    that hit and whether the failure was missed by the pre-mortem."""

    premortem_id: str
    premortem_title: str
    path: str
    services: list[str]
    hits: list[Foreseen] = field(default_factory=list)

    @property
    def missed(self) -> bool:
        return not self.hits

    def to_dict(self) -> dict[str, Any]:
        return {
            "premortem_id": self.premortem_id,
            "premortem_title": self.premortem_title,
            "path": self.path,
            "services": self.services,
            "hits": [h.to_dict() for h in self.hits],
            "missed": self.missed,
        }


def incident_profile(db: Database, incident_id: str) -> tuple[str, set[str], set[str]]:
    """(text, words, services) of an incident: title, notes, alert names and summaries."""
    with db.read() as session:
        facts = collect(session, incident_id)
    return profile_of(facts)


def profile_of(facts: Any) -> tuple[str, set[str], set[str]]:
    text = " ".join([str(facts.incident["title"]), *facts.notes, facts.alert_text])
    return text, terms(text), {s.lower() for s in facts.services}


def coverage_for_incident(
    settings: Settings, db: Database, incident_id: str, *, facts: Any = None
) -> list[Coverage]:
    """Pre-mortems that covered the incident's services, each with the risks that hit."""
    if facts is None:
        with db.read() as session:
            facts = collect(session, incident_id)
    text, words, services = profile_of(facts)
    names = alert_names(facts)
    lowered = text.lower()
    found: list[Coverage] = []
    for path, doc in premortem_files(settings):
        pm_services = [s.lower() for s in doc.str_list("services")]
        pm_tags = [t.lower() for t in doc.str_list("tags")]
        risks = parse_risks(doc.body, doc.body_offset)
        named = {s for s in pm_services if s in services or _mentions(lowered, s)}
        hits: list[Foreseen] = []
        for risk in risks:
            matched = detection_match(risk, names) + _risk_match(
                risk, pm_services, pm_tags, words, services, lowered
            )
            if matched:
                hits.append(
                    Foreseen(
                        doc.id,
                        str(doc.meta.get("title") or doc.id),
                        shown(settings, path),
                        risk.number,
                        risk.title,
                        matched,
                    )
                )
        if named or hits:
            found.append(
                Coverage(
                    doc.id,
                    str(doc.meta.get("title") or doc.id),
                    shown(settings, path),
                    sorted(named),
                    hits,
                )
            )
    return found


def foreseen_for_incident(settings: Settings, db: Database, incident_id: str) -> list[Foreseen]:
    """Pre-mortem risks that foresaw this incident, e.g. "foreseen in PRE-0003: risk 2"."""
    return [hit for cov in coverage_for_incident(settings, db, incident_id) for hit in cov.hits]


def alert_names(facts: Any) -> set[str]:
    """The incident's alert and check names (its alerts' names, its reconciler checks, its
    group key), lower-cased: what a risk's detection field may name."""
    names = {str(a.name).lower() for a in facts.alerts}
    names |= {str(i.check).lower() for i in facts.impact}
    group_key = facts.incident.get("group_key")
    if group_key:
        names.add(str(group_key).lower())
    return {n for n in names if n}


def detection_match(risk: Risk, names: set[str]) -> list[str]:
    """A risk whose detection field names one of the incident's alerts or checks foresaw it
    ("Detection: reconciler `duplicate_posting` …"): a name in backticks, or an identifier
    (one with ``_``, ``-``, ``.`` or ``:``) written as a word; plain words do not count."""
    detection = risk.detection.lower()
    if not detection:
        return []
    quoted = {q.strip() for q in re.findall(r"`([^`]+)`", detection)}
    return [
        f"detection:{name}"
        for name in sorted(names)
        if name in quoted or (re.search(r"[_\-.:]", name) and _mentions(detection, name))
    ]


def _mentions(text: str, word: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text) is not None


def _risk_match(
    risk: Risk,
    pm_services: list[str],
    pm_tags: list[str],
    words: set[str],
    services: set[str],
    lowered: str,
) -> list[str]:
    """What ties a risk to the incident: a shared service or tag, plus shared words."""
    risk_services = [s.lower() for s in risk.services] or pm_services
    risk_tags = [t.lower() for t in risk.tags] or pm_tags
    anchors = [f"service:{s}" for s in risk_services if s in services or _mentions(lowered, s)]
    anchors += [f"tag:{t}" for t in risk_tags if stem(t) in words or _mentions(lowered, t)]
    # Service and tag names themselves do not count as shared words: they anchor, the
    # failure's own words (retry, twice, currency …) decide.
    anchor_words = terms(" ".join([*risk_services, *risk_tags, *pm_services, *pm_tags]))
    shared = sorted((terms(" ".join([risk.title, risk.text])) & words) - anchor_words)
    if anchors and len(shared) >= 2:
        return anchors + shared
    if len((terms(risk.title) & words) - anchor_words) >= 3:
        return shared
    return []
