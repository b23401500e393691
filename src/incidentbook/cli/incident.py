"""``incidentbook incident …``: open, acknowledge, note, resolve and read incidents."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from incidentbook.cli.output import cli_state, emit, json_option, reason_option
from incidentbook.core.incidents.model import SEVERITIES
from incidentbook.core.incidents.timeline import describe

if TYPE_CHECKING:
    from incidentbook.context import Context
    from incidentbook.core.incidents.model import IncidentState, Outcome
    from incidentbook.core.incidents.service import IncidentService

    Transition = Callable[[IncidentService, Context, str], Outcome]


def _report(outcome: Outcome, as_json: bool) -> None:
    def human() -> None:
        inc = outcome.incident
        mark = "" if outcome.changed else " (no change)"
        click.echo(f"{inc.id} [{inc.status}, {inc.severity}] {inc.title}{mark}")
        if not outcome.changed and outcome.message:
            click.echo(f"  {outcome.message}")

    emit(outcome.to_dict(), as_json, human)


@click.group()
def incident() -> None:
    """Open, acknowledge, annotate, resolve and inspect incidents."""


@incident.command("open")
@click.option("--title", "-t", required=True, help="What is wrong, in a line.")
@click.option("--severity", "-s", type=click.Choice(SEVERITIES), default="error", show_default=True)
@click.option(
    "--idempotency-key",
    metavar="KEY",
    help="A repeat with the same key returns the same incident. Without one, an "
    "unresolved incident with the same title is returned.",
)
@reason_option
@json_option
@click.pass_context
def open_cmd(
    ctx: click.Context,
    title: str,
    severity: str,
    idempotency_key: str | None,
    reason: str | None,
    as_json: bool,
) -> None:
    """Open an incident."""
    state = cli_state(ctx)
    outcome = state.services.incidents.open(
        state.context(reason), title, severity, idempotency_key=idempotency_key
    )
    _report(outcome, as_json)


def _transition_command(name: str, transition: Transition, doc: str) -> None:
    @incident.command(name, help=doc)
    @click.argument("incident_id", metavar="ID")
    @reason_option
    @json_option
    @click.pass_context
    def command(ctx: click.Context, incident_id: str, reason: str | None, as_json: bool) -> None:
        state = cli_state(ctx)
        outcome = transition(state.services.incidents, state.context(reason), incident_id)
        _report(outcome, as_json)


_transition_command(
    "ack",
    lambda service, ctx, iid: service.acknowledge(ctx, iid),
    "Acknowledge an incident: someone is on it.",
)
_transition_command(
    "resolve", lambda service, ctx, iid: service.resolve(ctx, iid), "Resolve an incident."
)
_transition_command(
    "reopen", lambda service, ctx, iid: service.reopen(ctx, iid), "Reopen a resolved incident."
)


@incident.command("note")
@click.argument("incident_id", metavar="ID")
@click.argument("text")
@click.option(
    "--idempotency-key",
    metavar="KEY",
    help="Without one, the exact same text on the same incident is recorded once.",
)
@reason_option
@json_option
@click.pass_context
def note_cmd(
    ctx: click.Context,
    incident_id: str,
    text: str,
    idempotency_key: str | None,
    reason: str | None,
    as_json: bool,
) -> None:
    """Add a note to an incident's timeline."""
    state = cli_state(ctx)
    outcome = state.services.incidents.add_note(
        state.context(reason), incident_id, text, idempotency_key=idempotency_key
    )
    _report(outcome, as_json)


@incident.command("severity")
@click.argument("incident_id", metavar="ID")
@click.argument("level", type=click.Choice(SEVERITIES, case_sensitive=False))
@reason_option
@json_option
@click.pass_context
def severity_cmd(
    ctx: click.Context, incident_id: str, level: str, reason: str | None, as_json: bool
) -> None:
    """Change an incident's severity."""
    state = cli_state(ctx)
    _report(
        state.services.incidents.set_severity(state.context(reason), incident_id, level), as_json
    )


@incident.command("link-runbook")
@click.argument("incident_id", metavar="ID")
@click.argument("runbook")
@reason_option
@json_option
@click.pass_context
def link_runbook_cmd(
    ctx: click.Context, incident_id: str, runbook: str, reason: str | None, as_json: bool
) -> None:
    """Link a runbook (id or path) to an incident."""
    state = cli_state(ctx)
    _report(
        state.services.incidents.link_runbook(state.context(reason), incident_id, runbook), as_json
    )


@incident.command("link-alert")
@click.argument("incident_id", metavar="ID")
@click.argument("fingerprint")
@reason_option
@json_option
@click.pass_context
def link_alert_cmd(
    ctx: click.Context, incident_id: str, fingerprint: str, reason: str | None, as_json: bool
) -> None:
    """Link an alert (by fingerprint) to an incident."""
    state = cli_state(ctx)
    outcome = state.services.alerts.link_to_incident(
        state.context(reason), fingerprint, incident_id
    )
    _report(outcome, as_json)


@incident.command("show")
@click.argument("incident_id", metavar="ID")
@json_option
@click.pass_context
def show_cmd(ctx: click.Context, incident_id: str, as_json: bool) -> None:
    """Show an incident with its timeline."""
    state = cli_state(ctx)
    inc = state.services.incidents.get(incident_id)
    timeline = state.services.incidents.timeline(incident_id)

    def human() -> None:
        click.echo(f"{inc.id}  {inc.title}")
        click.echo(f"  status {inc.status}  severity {inc.severity}  source {inc.source}")
        click.echo(f"  opened {inc.opened_at} by {inc.opened_by}")
        if inc.acknowledged_at:
            click.echo(f"  acknowledged {inc.acknowledged_at}")
        if inc.resolved_at:
            click.echo(f"  resolved {inc.resolved_at}")
        if inc.runbooks:
            click.echo(f"  runbooks {', '.join(inc.runbooks)}")
        if inc.alerts:
            click.echo(f"  alerts {len(inc.alerts)}")
        click.echo("timeline:")
        for event in timeline:
            click.echo(
                f"  {event.recorded_at}  {describe(event.type, event.data)}"
                f"  ({event.actor}{'; ' + event.reason if event.reason else ''})"
            )

    emit({"incident": inc.to_dict(), "timeline": [e.to_dict() for e in timeline]}, as_json, human)


@incident.command("list")
@click.option("--all", "include_resolved", is_flag=True, help="Include resolved incidents.")
@json_option
@click.pass_context
def list_cmd(ctx: click.Context, include_resolved: bool, as_json: bool) -> None:
    """List incidents (unresolved first, worst severity first)."""
    state = cli_state(ctx)
    service = state.services.incidents
    items: list[IncidentState] = service.list_incidents(include_resolved=include_resolved)

    def human() -> None:
        if not items:
            click.echo("no incidents" if include_resolved else "no open incidents")
        for inc in items:
            click.echo(
                f"{inc.id}  {inc.status:<12} {inc.severity:<8} {inc.opened_at[:16]}  {inc.title}"
            )

    emit([i.to_dict() for i in items], as_json, human)
