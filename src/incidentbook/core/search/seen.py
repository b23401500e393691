""" "Seen before": past incidents like the one at hand, each with its postmortem's lessons.

Two ways to be alike: the same alert name (incidents whose alerts carry it), then similar text
(more-like-this over incidents and postmortems). Lessons come from postmortem files
(``postmortems/*.md``, front matter ``incident: INC-0007``, a ``## Lessons`` section).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from incidentbook.clock import to_iso_short
from incidentbook.core.search.documents import lessons_for_incident
from incidentbook.core.search.engine import (
    Hit,
    document,
    healing,
    prepare,
    run_query,
    similar_to_text,
)
from incidentbook.core.search.query import ParsedQuery

if TYPE_CHECKING:
    from incidentbook.settings import Settings
    from incidentbook.storage.db import Database


@dataclass(frozen=True)
class SeenBefore:
    incident_id: str
    title: str
    created: datetime | None
    status: str | None
    why: str  # "same alert X" | "similar text"
    score: float
    postmortem: str | None = None
    postmortem_path: str | None = None
    lessons: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "incident": self.incident_id,
            "title": self.title,
            "created": to_iso_short(self.created) if self.created else None,
            "status": self.status,
            "why": self.why,
            "score": round(self.score, 3),
            "postmortem": self.postmortem,
            "postmortem_path": self.postmortem_path,
            "lessons": list(self.lessons),
        }


@healing
def seen_before(
    settings: Settings,
    *,
    alert_name: str | None = None,
    text: str = "",
    exclude: str | None = None,
    limit: int = 5,
    db: Database | None = None,
    fresh: bool = True,
) -> list[SeenBefore]:
    """Past incidents with the same alert name, then with similar text, best first."""
    prepare(settings, db, fresh)
    found: dict[str, tuple[Hit, str]] = {}
    if alert_name:
        parsed = ParsedQuery(
            text="", root=None, filters={"kind": ["incident"], "alert": [alert_name.lower()]}
        )
        for hit in run_query(settings, parsed, limit=limit + 1):
            if hit.doc_id != exclude:
                found.setdefault(hit.doc_id, (hit, f"same alert {alert_name}"))
    if text.strip() and len(found) < limit:
        similar = similar_to_text(
            settings,
            text,
            kinds=("incident", "postmortem"),
            limit=limit + 3,
            fresh=False,
            exclude=f"incident:{exclude}" if exclude else None,
        )
        for hit in similar:
            incident_id = hit.doc_id if hit.kind == "incident" else hit.incident
            if not incident_id or incident_id == exclude or incident_id in found:
                continue
            if hit.kind == "postmortem":
                resolved = _incident_hit(settings, incident_id)
                if resolved is None:
                    continue
                hit = resolved
            found[incident_id] = (hit, "similar text")
    out: list[SeenBefore] = []
    for incident_id, (hit, why) in list(found.items())[:limit]:
        postmortems = lessons_for_incident(settings, incident_id)
        pm = postmortems[0] if postmortems else None
        out.append(
            SeenBefore(
                incident_id=incident_id,
                title=hit.title,
                created=hit.created,
                status=hit.status,
                why=why,
                score=hit.score,
                postmortem=pm.id if pm else None,
                postmortem_path=str(pm.path) if pm else None,
                lessons=pm.lessons if pm else (),
            )
        )
    return out


def _incident_hit(settings: Settings, incident_id: str) -> Hit | None:
    stored = document(settings, "incident", incident_id)
    if stored is None:
        return None
    created = stored.get("created")
    if isinstance(created, datetime) and created.tzinfo is None:
        created = created.replace(tzinfo=UTC)  # Whoosh keeps naive UTC datetimes
    return Hit(
        kind="incident",
        doc_id=incident_id,
        title=str(stored.get("display", "")),
        score=0.0,
        rank=0,
        snippet="",
        created=created if isinstance(created, datetime) else None,
        status=str(stored.get("status") or "") or None,
    )
