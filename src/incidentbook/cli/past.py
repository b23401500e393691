"""What the past says of an incident or alert, as ``incident show`` and ``alerts show`` print it
(the app's "Seen before" panel and "foreseen in PRE-…: risk N" line): past incidents like it
with their postmortems' lessons, and the pre-mortem risks that foresaw it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from incidentbook.errors import IncidentbookError
from incidentbook.obs import log_error

if TYPE_CHECKING:
    from incidentbook.services import Services


def past_of(
    services: Services, *, incident_id: str | None, alert_name: str | None, text: str,
    exclude: str | None,
) -> dict[str, list[dict[str, Any]]]:  # fmt: skip
    """{"seen_before": [...], "foreseen": [...]} (``SeenBefore.to_dict``, ``Foreseen.to_dict``);
    foreseen only for an incident. A search or document that cannot be read leaves its list
    empty (logged), never failing the command."""
    # deferred: the search engine and the documents load Whoosh/SQLAlchemy, not for --help
    from incidentbook.cli.index import heal_warnings
    from incidentbook.core.documents.premortem import foreseen_for_incident
    from incidentbook.core.search.seen import seen_before

    seen: list[dict[str, Any]] = []
    foreseen: list[dict[str, Any]] = []
    try:
        with heal_warnings():
            found = seen_before(
                services.settings, alert_name=alert_name, text=text, exclude=exclude,
                db=services.db,
            )  # fmt: skip
        seen = [s.to_dict() for s in found]
    except (IncidentbookError, OSError) as exc:
        log_error("cli.seen_before_failed", str(exc), None, incident=incident_id)
    if incident_id is not None:
        try:
            foreseen = [
                f.to_dict()
                for f in foreseen_for_incident(services.settings, services.db, incident_id)
            ]
        except (IncidentbookError, OSError) as exc:
            log_error("cli.foreseen_failed", str(exc), None, incident=incident_id)
    return {"seen_before": seen, "foreseen": foreseen}


def echo_past(past: dict[str, list[dict[str, Any]]], indent: str = "") -> None:
    """'seen before:' with each past incident and its lessons, then 'foreseen in PRE-…: risk
    N — title' lines (or 'no pre-mortem foresaw this')."""
    click.echo(f"{indent}seen before:")
    if not past["seen_before"]:
        click.echo(f"{indent}  nothing like this before")
    for item in past["seen_before"]:
        when = f"  {item['created'][:10]}" if item.get("created") else ""
        click.echo(f"{indent}  {item['incident']}{when}  {item['title']}  ({item['why']})")
        for lesson in item["lessons"]:
            click.echo(f"{indent}    lesson: {lesson}")
        if not item["lessons"] and item.get("postmortem"):
            click.echo(f"{indent}    postmortem {item['postmortem']}: no lessons written")
    for hit in past["foreseen"]:
        click.echo(f"{indent}{hit['label']} — {hit['risk_title']}")
