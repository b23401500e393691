"""What gets indexed: one ``Doc`` per incident, alert group, change, runbook, postmortem and
pre-mortem.

The SQLite database and the Markdown files are the sources of truth; these functions read a
source and describe the document the index should hold for it (or ``None``: it is gone).
File-backed documents (``postmortems/**/*.md`` with front matter ``kind: postmortem|premortem``,
``id``, ``title``, ``services``, ``tags``, ``severity``, ``created``, ``incident``) are found
by scanning, so whoever writes them need not call search at all.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, or_, select

import incidentbook.core.search.backend as W
from incidentbook.clock import parse_iso
from incidentbook.core.changes.store import all_change_ids, get_change
from incidentbook.core.events.store import stream_events
from incidentbook.core.runbooks.loader import load_runbooks, runbook_files
from incidentbook.core.runbooks.model import section_text, sections
from incidentbook.frontmatter import split_lenient
from incidentbook.fs import markdown_files
from incidentbook.money import format_minor
from incidentbook.storage.models import AlertRow, IncidentRow
from incidentbook.text import as_str_list

if TYPE_CHECKING:
    from incidentbook.settings import Settings
    from incidentbook.storage.db import Database

DOC_KINDS = ("incident", "alert_group", "change", "runbook", "postmortem", "premortem")
FILE_KINDS = ("runbook", "postmortem", "premortem")
DB_KINDS = ("incident", "alert_group", "change")
SEVERITY_ORDER = ("critical", "error", "warning", "info")


@dataclass(frozen=True)
class Doc:
    kind: str
    id: str
    title: str
    body: str
    services: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    alerts: tuple[str, ...] = ()
    severity: str | None = None
    status: str | None = None
    created: datetime | None = None
    path: str | None = None
    incident: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def uid(self) -> str:
        return f"{self.kind}:{self.id}"

    @property
    def digest(self) -> str:
        payload = json.dumps(
            [
                self.kind,
                self.id,
                self.title,
                self.body,
                list(self.services),
                list(self.tags),
                list(self.alerts),
                self.severity,
                self.status,
                self.created.isoformat() if self.created else None,
                self.path,
                self.incident,
            ],
            separators=(",", ":"),
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:32]

    def fields(self) -> dict[str, Any]:
        """The Whoosh fields of this document."""
        title_text = " ".join([self.title, self.id, *self.alerts])
        values: dict[str, Any] = {
            "uid": self.uid,
            "kind": self.kind,
            "doc_id": self.id,
            "title": title_text,
            "display": self.title,
            "body": self.body,
            "pairs": W.pair_filter(W.stems_of(title_text + "\n" + self.body)),
            "services": ",".join(self.services),
            "tags": ",".join(self.tags),
            "alerts": ",".join(self.alerts),
            "severity": self.severity or "",
            "status": self.status or "",
            "path": self.path or "",
            "incident": self.incident or "",
            "digest": self.digest,
        }
        if self.created is not None:
            # Whoosh compares naive datetimes; everything here is UTC.
            values["created"] = self.created.astimezone(UTC).replace(tzinfo=None)
        return values


def parse_when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str) and value.strip():
        try:
            return parse_iso(value)
        except ValueError:
            return None
    return None


# -- database-backed documents -------------------------------------------------------------

_EVENT_WORDS = {
    "incident.opened": "opened",
    "incident.acknowledged": "acknowledged",
    "incident.resolved": "resolved",
    "incident.reopened": "reopened",
}


def incident_doc(session: Session, incident_id: str) -> Doc | None:
    row = session.get(IncidentRow, incident_id)
    if row is None:
        return None
    lines: list[str] = []
    for event in stream_events(session, "incident:" + incident_id):
        data = event.data
        if event.type == "incident.note_added":
            lines.append(str(data.get("text", "")))
        elif event.type == "incident.severity_changed":
            lines.append(f"severity changed from {data.get('from')} to {data.get('to')}")
        elif event.type == "incident.runbook_linked":
            lines.append(f"runbook linked: {data.get('runbook')}")
        elif event.type in _EVENT_WORDS and event.reason:
            reason = f": {event.reason}"
            lines.append(f"{_EVENT_WORDS[event.type]}{reason}")
    fingerprints = json.loads(row.alerts or "[]")
    conditions: list[Any] = []
    if fingerprints:
        conditions.append(col(AlertRow.fingerprint).in_(fingerprints))
    if row.group_key:
        conditions.append(AlertRow.group_key == row.group_key)
    names: list[str] = []
    services: set[str] = set()
    if conditions:
        alerts = session.exec(
            select(AlertRow).where(or_(*conditions)).order_by(col(AlertRow.first_seen)).limit(200)
        ).all()
        summaries: list[str] = []
        for alert in alerts:
            if alert.name not in names:
                names.append(alert.name)
            if alert.summary and alert.summary not in summaries:
                summaries.append(alert.summary)
            services.update(_services_of(json.loads(alert.labels or "{}")))
        lines.extend(summaries[:20])
    if row.group_key and "=" not in row.group_key and row.group_key not in names:
        names.append(row.group_key)
    return Doc(
        kind="incident",
        id=row.id,
        title=row.title,
        body="\n".join(line for line in lines if line),
        services=tuple(sorted(services)),
        tags=(row.source,) if row.source else (),
        alerts=tuple(names),
        severity=row.severity,
        status=row.status,
        created=parse_when(row.opened_at),
        extra={"runbooks": json.loads(row.runbooks or "[]")},
    )


MINOR_SUFFIX = "_minor"


def money_text(key: str, value: Any, currency: Any) -> str | None:
    """An annotation or detail that is an amount in minor units (a ``*_minor`` key with an
    integer value, and a currency) as indexed text, ``delta: −1,234.56 EUR``, through
    ``incidentbook.money``; ``None`` for anything else. The index never holds the raw number
    a snippet would show."""
    if not key.endswith(MINOR_SUFFIX) or not currency:
        return None
    try:
        amount = int(str(value).strip().replace("\u2212", "-"))
    except ValueError:
        return None
    name = key.removesuffix(MINOR_SUFFIX).replace("_", " ") or "amount"
    return f"{name}: {format_minor(amount, str(currency))}"


def _services_of(labels: dict[str, Any]) -> set[str]:
    return {str(labels[k]).lower() for k in ("service", "app", "job") if labels.get(k)}


def alert_group_doc(session: Session, group_key: str) -> Doc | None:
    alerts = session.exec(
        select(AlertRow).where(AlertRow.group_key == group_key).order_by(col(AlertRow.first_seen))
    ).all()
    if not alerts:
        return None
    names: list[str] = []
    services: set[str] = set()
    lines: list[str] = []
    seen_lines: set[str] = set()
    for alert in alerts[:500]:
        if alert.name not in names:
            names.append(alert.name)
        labels = json.loads(alert.labels or "{}")
        annotations = json.loads(alert.annotations or "{}")
        services.update(_services_of(labels))
        currency = labels.get("currency") or annotations.get("currency")
        for line in (
            alert.summary,
            *(money_text(k, v, currency) or str(v) for k, v in annotations.items()),
            " ".join(
                money_text(k, v, currency) or f"{k}={v}" for k, v in sorted(labels.items())
            ),
        ):
            if line and line not in seen_lines and len(seen_lines) < 200:
                seen_lines.add(line)
                lines.append(line)
    firing = [a for a in alerts if a.status == "firing"]
    pool = firing or alerts
    severity = min(
        (a.severity for a in pool),
        key=lambda s: SEVERITY_ORDER.index(s) if s in SEVERITY_ORDER else 9,
    )
    summary = alerts[0].summary or ""
    title = f"{group_key}: {summary}" if summary else group_key
    return Doc(
        kind="alert_group",
        id=group_key,
        title=title,
        body="\n".join(lines),
        services=tuple(sorted(services)),
        alerts=tuple(names),
        severity=severity,
        status="firing" if firing else "resolved",
        created=parse_when(min(a.first_seen for a in alerts)),
        incident=next((a.incident_id for a in reversed(alerts) if a.incident_id), None),
        extra={"alerts": len(alerts), "firing": len(firing)},
    )


def change_doc(session: Session, change_id: str) -> Doc | None:
    change = get_change(session, change_id)
    if change is None:
        return None
    lines = [change.summary, f"source {change.source}"]
    currency = change.custom_details.get("currency")
    lines += [
        money_text(k, v, currency) or f"{k}: {v}"
        for k, v in sorted(change.custom_details.items())
    ]
    lines += [" ".join(x for x in (link.text, link.href) if x) for link in change.links]
    return Doc(
        kind="change",
        id=change.id,
        title=change.summary,
        body="\n".join(lines),
        services=tuple(sorted(_services_of(change.custom_details) | {change.source.lower()})),
        created=parse_when(change.at),
        extra={"source": change.source, "at": change.at},
    )


def db_doc(session: Session, kind: str, doc_id: str) -> Doc | None:
    if kind == "incident":
        return incident_doc(session, doc_id)
    if kind == "alert_group":
        return alert_group_doc(session, doc_id)
    if kind == "change":
        return change_doc(session, doc_id)
    return None


def db_doc_ids(session: Session) -> Iterator[tuple[str, str]]:
    for incident_id in session.exec(select(IncidentRow.id).order_by(col(IncidentRow.number))):
        yield "incident", str(incident_id)
    for key in session.exec(select(AlertRow.group_key).distinct().order_by(AlertRow.group_key)):
        yield "alert_group", str(key)
    for change_id in all_change_ids(session):
        yield "change", change_id


def db_docs(db: Database) -> Iterator[Doc]:
    with db.read() as session:
        ids = list(db_doc_ids(session))
        for kind, doc_id in ids:
            doc = db_doc(session, kind, doc_id)
            if doc is not None:
                yield doc


# -- file-backed documents -----------------------------------------------------------------


def runbook_docs(settings: Settings) -> list[Doc]:
    docs = []
    for rb in load_runbooks(settings).runbooks:
        docs.append(
            Doc(
                kind="runbook",
                id=rb.id,
                title=rb.title,
                body=rb.body,
                services=rb.services,
                tags=rb.tags,
                alerts=tuple(m.name or m.raw for m in rb.alerts),
                severity=rb.severity,
                status=None,
                created=parse_when(rb.last_reviewed) if rb.last_reviewed else None,
                path=str(rb.path),
            )
        )
    return docs


def postmortem_files(settings: Settings) -> list[Path]:
    """The documents under ``postmortems/``; symlinks out of the workspace are never read."""
    return markdown_files(settings.postmortems_dir, settings.workspace)[0]


@dataclass(frozen=True)
class PostmortemFile:
    """A postmortem or pre-mortem as the search and "seen before" views need it."""

    kind: str
    id: str
    title: str
    path: Path
    incident: str | None
    body: str
    meta: dict[str, Any]
    lessons: tuple[str, ...]


def read_postmortem(path: Path, root: Path | None = None) -> PostmortemFile | None:
    """Parse a postmortem/pre-mortem file defensively; ``None`` when it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    doc, _error = split_lenient(text)
    meta, body = doc.meta, doc.body
    raw_kind = str(meta.get("kind") or "").strip().lower()
    if raw_kind not in ("postmortem", "premortem"):
        raw_kind = "premortem" if "premortem" in path.as_posix().lower() else "postmortem"
    heads = sections(body)
    first = next((t for lvl, t in heads if lvl == 1), None)
    doc_id = str(meta.get("id") or path.stem).strip() or path.stem
    incident = meta.get("incident")
    return PostmortemFile(
        kind=raw_kind,
        id=doc_id,
        title=str(meta.get("title") or first or path.stem).strip(),
        path=path,
        incident=str(incident).strip().upper() if incident else None,
        body=body,
        meta=meta,
        lessons=tuple(parse_lessons(body)),
    )


def parse_lessons(body: str) -> list[str]:
    """The items (or paragraphs) of a ``## Lessons`` section (also "Lessons learned")."""
    text = section_text(body, ("lessons",))
    if not text:
        return []
    items: list[str] = []
    current: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        bullet = re.match(r"^(?:[-*+]|\d+[.)])\s+(?:\[[ xX]\]\s+)?(.*)$", stripped)
        if bullet:
            if current:
                items.append(" ".join(current))
            current = [bullet.group(1).strip()]
        elif not stripped:
            if current:
                items.append(" ".join(current))
                current = []
        elif not stripped.startswith("<!--"):
            current.append(stripped)
    if current:
        items.append(" ".join(current))
    return [i for i in items if i and not i.startswith("<!--")]


def postmortem_docs(settings: Settings) -> list[Doc]:
    docs: dict[str, Doc] = {}
    for path in postmortem_files(settings):
        pm = read_postmortem(path)
        if pm is None:
            continue
        meta = pm.meta
        doc = Doc(
            kind=pm.kind,
            id=pm.id,
            title=pm.title,
            body=pm.body,
            services=tuple(s.lower() for s in as_str_list(meta.get("services"))),
            tags=tuple(t.lower() for t in as_str_list(meta.get("tags"))),
            severity=str(meta["severity"]).lower() if meta.get("severity") else None,
            status=str(meta["status"]).lower() if meta.get("status") else None,
            created=parse_when(meta.get("created")),
            path=str(path),
            incident=pm.incident,
        )
        docs.setdefault(doc.uid, doc)
    return list(docs.values())


def file_docs(settings: Settings) -> list[Doc]:
    return runbook_docs(settings) + postmortem_docs(settings)


def watched_files(settings: Settings) -> list[Path]:
    """Every Markdown file whose change should reach the index."""
    return [p for p, _root, _src in runbook_files(settings)] + postmortem_files(settings)


def lessons_for_incident(settings: Settings, incident_id: str) -> list[PostmortemFile]:
    wanted = incident_id.strip().upper()
    out = []
    for path in postmortem_files(settings):
        pm = read_postmortem(path)
        if pm is not None and pm.kind == "postmortem" and pm.incident == wanted:
            out.append(pm)
    return out
