"""A command's outcome in words for the operator: the core returns the event it recorded (or
why nothing changed); this says it as a sentence ("INC-0007: severity changed to error"),
never as an event name."""

from __future__ import annotations

from typing import TYPE_CHECKING

from incidentbook.core.incidents.model import (
    ACKNOWLEDGED,
    NOTE_ADDED,
    OPENED,
    REOPENED,
    RESOLVED,
    SEVERITY_CHANGED,
)

if TYPE_CHECKING:
    from incidentbook.core.incidents.model import Outcome


def outcome_text(outcome: Outcome) -> str:
    """What the command did, in words; an unchanged outcome keeps the core's reason (already
    words: "INC-0007: already acknowledged")."""
    event = outcome.event
    iid = outcome.incident.id
    if event is None or not outcome.changed:
        return outcome.message or f"{iid}: nothing changed"
    data = event.data
    match event.type:
        case t if t == OPENED:
            return f"{iid} opened ({data.get('severity') or outcome.incident.severity})"
        case t if t == ACKNOWLEDGED:
            return f"{iid} acknowledged"
        case t if t == RESOLVED:
            return f"{iid} resolved" + (", gate overridden" if data.get("forced") else "")
        case t if t == REOPENED:
            return f"{iid} reopened"
        case t if t == SEVERITY_CHANGED:
            return f"{iid}: severity changed to {data.get('to')}"
        case t if t == NOTE_ADDED:
            return f"{iid}: note added"
        case _:
            return f"{iid}: {event.type.split('.', 1)[-1].replace('_', ' ')}"
