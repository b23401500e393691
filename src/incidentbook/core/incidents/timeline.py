"""One-line descriptions of events for an incident's timeline (its own events and its
alerts'), shared by the CLI, the app and postmortem timelines."""

from __future__ import annotations

from typing import Any

from incidentbook.present import correction_text


def describe(type_: str, data: dict[str, Any]) -> str:
    match type_:
        case "incident.opened":
            return f"opened: {data.get('title')} ({data.get('severity')})"
        case "incident.acknowledged":
            return "acknowledged"
        case "incident.retitled":
            return f"retitled: {data.get('to')}"
        case "incident.severity_changed":
            return f"severity {data.get('from')} → {data.get('to')}"
        case "incident.note_added":
            return f"note: {data.get('text')}"
        case "incident.runbook_linked":
            return f"runbook linked: {data.get('runbook')}"
        case "incident.alert_linked":
            return f"alert linked: {data.get('fingerprint')}"
        case "incident.alerts_linked":
            fingerprints = data.get("fingerprints") or []
            shown = ", ".join(str(f) for f in fingerprints[:3])
            more = f" and {len(fingerprints) - 3} more" if len(fingerprints) > 3 else ""
            return f"{len(fingerprints)} alerts linked: {shown}{more}"
        case "incident.group_joined":
            return f"alert group joined: {data.get('group_key')}"
        case "incident.resolved":
            if data.get("forced"):
                return f"resolved, gate overridden ({data.get('overrode')})"
            return "resolved"
        case "incident.fix_planned":
            return (
                f"fix planned: {data.get('plan_id')}, {data.get('accounts')} accounts,"
                f" {data.get('reversals')} reversals (sha256 {str(data.get('sha256'))[:12]}…)"
            )
        case "incident.correction_applied":
            return f"correction applied (batch {int(data.get('batch') or 0) + 1}): " + (
                correction_text(data)
            )
        case "incident.reopened":
            return "reopened"
        case "alert.fired":
            return f"alert fired: {data.get('alert', {}).get('name')}"
        case "alert.resolved":
            return f"alert resolved: {data.get('alert', {}).get('name')}"
        case "alert.repeated":
            return f"alert repeated: {data.get('alert', {}).get('name')}"
        case "alert.refired":
            return f"alert fired again: {data.get('alert', {}).get('name')}"
        case "alert.acknowledged":
            return "alert acknowledged by its sender"
        case "alert.joined_incident":
            return f"alert joined {data.get('incident_id')}"
        case "incident.postmortem_started":
            return f"postmortem started: {data.get('postmortem')} ({data.get('path')})"
        case _:
            return type_
