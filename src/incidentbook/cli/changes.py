"""``incidentbook changes …``: the change events (deploys, config changes) senders reported."""

from __future__ import annotations

import click

from incidentbook.cli.output import cli_state, emit, json_option
from incidentbook.errors import UsageError


@click.group(short_help="Change events: deploys, config changes, migrations.")
def changes() -> None:
    """Change events (PagerDuty change events): the deploy context of incidents."""


@changes.command("list")
@click.option("--since", metavar="TS", help="Only changes at or after TS (ISO time, UTC).")
@json_option
@click.pass_context
def list_cmd(ctx: click.Context, since: str | None, as_json: bool) -> None:
    """List changes, oldest first: time, source, summary, id."""
    from incidentbook.clock import parse_iso

    if since is not None:
        try:
            parse_iso(since)
        except ValueError:
            raise UsageError(
                f"--since {since!r} is not an ISO time (like 2026-10-17T01:00Z)"
            ) from None
    found = cli_state(ctx).services.changes.list_changes(since)

    def human() -> None:
        if not found:
            click.echo("no changes")
        for change in found:
            click.echo(
                f"{change.at[:19]}  {change.source:<24} {change.summary}  [{change.id[:12]}]"
            )
            for link in change.links:
                click.echo(f"    {link.text + ': ' if link.text else ''}{link.href}")

    emit([c.to_dict() for c in found], as_json, human)
