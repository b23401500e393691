"""Creating a postmortem from an incident (``PostmortemService``): ``postmortem new INC-0007
[--refresh]``.

The workspace's (or the shipped) ``postmortem.md.j2`` is rendered with every fact incidentbook
knows (``facts.collect``), the evidence frozen at detection against the ledger now
(``evidence``), related past incidents and documents (``related``) and the pre-mortem
risks that hit or were missed (``premortem.coverage_for_incident``). The file is written via a
temp file and rename, in the same unit of work as its ``document.registered`` event, its action
items and an ``incident.postmortem_started`` event on the incident.

An existing postmortem is never overwritten: ``refresh=True`` re-renders only its generated
regions (``blocks.refresh``) and keeps every hand-written line and the front matter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from incidentbook.context import Context
from incidentbook.core.changes.model import DeployContext
from incidentbook.core.documents import blocks, related, store, templating
from incidentbook.core.documents.facts import Facts, TimelineEntry, anchor_of, collect
from incidentbook.core.documents.files import HEAD_KEY, document_files, shown
from incidentbook.core.documents.premortem import coverage_for_incident
from incidentbook.core.documents.service import DocumentService
from incidentbook.core.events.store import chain_head
from incidentbook.core.evidence.model import EvidenceComparison
from incidentbook.core.incidents import model as incidents
from incidentbook.errors import ConflictError, UsageError
from incidentbook.frontmatter import join, split
from incidentbook.fs import atomic_write, read_text
from incidentbook.obs import log_info
from incidentbook.settings import Settings
from incidentbook.storage.db import Database
from incidentbook.text import slugify

if TYPE_CHECKING:
    from incidentbook.core.changes.service import ChangeService
    from incidentbook.core.incidents.service import IncidentService

# The incident's evidence against the ledger now (``EvidenceService.compare`` over the
# configured ledger, wired in ``Services``), or None without evidence.
EvidenceReader = Callable[[str], EvidenceComparison | None]

TEMPLATE = "postmortem.md.j2"
STARTED = "incident.postmortem_started"


@dataclass
class PostmortemResult:
    id: str
    incident_id: str
    path: Path
    created: bool
    refreshed: list[str] = field(default_factory=list)
    kept_edited: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    search_backend: str = ""
    regenerated: bool = False  # its recorded file was gone and is written again

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "incident": self.incident_id,
            "path": str(self.path),
            "created": self.created,
            "regenerated": self.regenerated,
            "refreshed": self.refreshed,
            "kept_edited": self.kept_edited,
            "missing": self.missing,
            "search_backend": self.search_backend,
        }


def change_timeline(deploys: DeployContext) -> list[TimelineEntry]:
    """One timeline entry per change before detection (source ``change``)."""
    return [
        TimelineEntry(p.change.at, "change", f"change: {p.change.summary} ({p.change.source})",
                      p.change.actor)
        for p in deploys.changes
    ]  # fmt: skip


def postmortem_id(incident_id: str) -> str:
    return "PM-" + incident_id.removeprefix("INC-")


def find_postmortem(settings: Settings, incident_id: str) -> Path | None:
    """The existing postmortem of an incident: by file name, else by front matter."""
    files = document_files(settings)
    for path in files:
        if path.name.startswith(f"{incident_id}-") or path.name == f"{incident_id}.md":
            return path
    for path in files:
        try:
            doc = split(path.read_text(encoding="utf-8"), source=str(path))
        except Exception:
            continue
        if doc.kind == "postmortem" and str(doc.meta.get("incident") or "") == incident_id:
            return path
    return None


class PostmortemService:
    """Starts and refreshes postmortems; the file and its events land in one unit of work."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        incidents: IncidentService,
        documents: DocumentService,
        new_context: Callable[[str], Context],
        changes: ChangeService | None = None,
        evidence: EvidenceReader | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.incidents = incidents
        self.documents = documents
        self.new_context = new_context
        self.changes = changes  # the deploy context: changes before the first bad entry
        self.evidence = evidence

    def render(self, incident_id: str, ctx: Context) -> tuple[str, Facts]:
        """(body, facts) for an incident; the body's generated regions are stamped."""
        settings = self.settings
        with self.db.read() as session:
            facts = collect(session, incident_id)
        incident = facts.incident
        found = related.search_related(
            settings,
            self.db,
            " ".join([str(incident["title"]), *facts.notes]),
            services=facts.services,
            exclude={incident_id, postmortem_id(incident_id)},
            limit=5,
        )
        coverage = coverage_for_incident(settings, self.db, incident_id, facts=facts)
        anchor = anchor_of(facts)
        deploys = (
            self.changes.before(anchor) if self.changes is not None and anchor is not None else None
        )
        if deploys is not None:
            facts.timeline.extend(change_timeline(deploys))
            facts.timeline.sort(key=lambda t: t.at)
        evidence = self.evidence(incident_id) if self.evidence is not None else None
        now = ctx.clock()
        body = templating.render(
            settings,
            TEMPLATE,
            {
                "id": postmortem_id(incident_id),
                "incident": incident,
                "facts": facts.to_dict(),
                "timeline": [t.__dict__ for t in facts.timeline],
                "related": [r.to_dict() | {"action_status": r.action_status} for r in found],
                "coverage": [c.to_dict() for c in coverage],
                "deploys": deploys.to_dict() if deploys is not None else None,
                "evidence": evidence.to_dict() if evidence is not None else None,
                "created": now.date().isoformat(),
                "now": now.isoformat(),
            },
        )
        return blocks.stamp(body), facts

    def create(
        self,
        incident_id: str,
        *,
        refresh: bool = False,
        ctx: Context | None = None,
    ) -> PostmortemResult:
        settings = self.settings
        canonical = incidents.parse_id(incident_id)
        ctx = ctx or self.new_context("postmortem started")
        state = self.incidents.get(canonical)  # NotFoundError for an unknown incident
        folder = settings.postmortems_dir
        existing = find_postmortem(settings, canonical)
        if existing is not None and not refresh:
            raise UsageError(
                f"{shown(settings, existing)} already exists; edit it, or re-render its "
                f"generated blocks with --refresh"
            )
        if not folder.is_dir():
            raise UsageError(f"cannot write postmortems: folder {folder} does not exist")
        body, facts = self.render(canonical, ctx)
        doc_id = postmortem_id(canonical)
        result = PostmortemResult(doc_id, canonical, folder, created=existing is None)
        original: str | None = None
        meta: dict[str, Any] | None = None  # a new file's front matter
        if existing is not None:
            original = read_text(existing)
            old = split(original, source=str(existing))
            merged = blocks.refresh(old.body, body)
            # The front matter is kept verbatim (comments, quoting, key order), like every
            # other hand-written line.
            head = original.split("\n")[: old.body_offset - 1]
            text = "\n".join([*head, merged.text]) if head else merged.text
            result.refreshed, result.kept_edited = merged.refreshed, merged.kept_edited
            result.missing = merged.missing
            path = existing
            doc_id = old.id or doc_id
            result.id = doc_id
        else:
            meta = {
                "id": doc_id,
                "kind": "postmortem",
                "incident": canonical,
                "title": f"Postmortem: {state.title}",
                "status": "draft",
                "severity": state.severity,
                "authors": [ctx.actor.split(":", 1)[-1]],
                "created": ctx.clock().date().isoformat(),
                "services": facts.services,
                "tags": [],
            }
            text = ""  # joined in the write transaction, with the chain's head (below)
            path = folder / f"{canonical}-{slugify(state.title)}.md"
            with self.db.read() as session:
                registered = store.get_document(session, doc_id)
            if registered is not None and not (settings.workspace / registered.path).exists():
                # its file was moved away or deleted: write it again where it was recorded
                path = settings.workspace / registered.path
                result.regenerated = True
        result.path = path
        with self.db.write() as session:
            # Writers are serialised here (BEGIN IMMEDIATE): re-check what was read before.
            if existing is None and (
                path.exists()
                or (store.get_document(session, doc_id) is not None and not result.regenerated)
            ):
                raise UsageError(f"{shown(settings, path)} already exists (created meanwhile)")
            if original is not None and read_text(path) != original:
                raise ConflictError(
                    f"{shown(settings, path)} changed while it was being refreshed; run it again"
                )
            if meta is not None:
                # The chain's head as this postmortem is written: verify proves later that it
                # is still a prefix of the chain (core.documents.heads). A refresh keeps the
                # front matter, and so the head of the first writing.
                meta[HEAD_KEY] = chain_head(session).hash
                text = join(meta, body)
            self.documents.sync_file_in(session, ctx, path, text=text)
            if existing is None and not result.regenerated:
                self.incidents.apply_in(
                    session,
                    ctx,
                    canonical,
                    STARTED,
                    {"postmortem": doc_id, "path": shown(settings, path)},
                )
            atomic_write(path, text)
        result.search_backend = related.backend_name()
        log_info(
            "postmortem_written",
            ctx.correlation_id,
            actor=ctx.actor,
            incident=canonical,
            id=doc_id,
            path=str(path),
            new_file=result.created,
            kept_edited=result.kept_edited,
        )
        return result

    def new(self, incident_id: str, refresh: bool = False) -> Path:
        """Start (or, with ``refresh``, re-render the generated blocks of) an incident's
        postmortem; returns its path."""
        return self.create(incident_id, refresh=refresh).path
