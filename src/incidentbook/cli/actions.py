"""``incidentbook actions list|sync``: action items tracked from postmortems and pre-mortems."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from incidentbook.cli.output import cli_state, emit, json_option
from incidentbook.cli.problems import fail_unreadable, report_unreadable
from incidentbook.text import plural

if TYPE_CHECKING:
    pass


@click.group(short_help="Action items from postmortems, tracked until done.")
def actions() -> None:
    """Action items from postmortems and pre-mortems."""


@actions.command("list")
@click.option("--overdue", is_flag=True, help="Only open items past their due date.")
@click.option(
    "--status",
    type=click.Choice(["open", "done", "dropped", "all"]),
    default="all",
    show_default=True,
)
@click.option(
    "--no-sync",
    is_flag=True,
    help="Do not re-read the documents first (by default, saved edits such as a ticked "
    "checkbox are recorded before listing).",
)
@json_option
@click.pass_context
def list_cmd(ctx: click.Context, overdue: bool, status: str, no_sync: bool, as_json: bool) -> None:
    """List action items (open first, by due date)."""
    from incidentbook.core.documents.store import list_actions

    state = cli_state(ctx)
    services = state.services
    if not no_sync:
        services.documents.sync_all(state.context("documents re-read"))
    today = services.settings.clock().date()
    items = list_actions(
        services.db,
        status=None if status == "all" else status,
        overdue_on=today if overdue else None,
    )

    def human() -> None:
        if not items:
            click.echo("no overdue action items" if overdue else "no action items")
        for item in items:
            late = " OVERDUE" if item.overdue(today) else ""
            click.echo(
                f"{item.key:<16} {item.status:<8} {item.type or '-':<9} {item.due or '-':<10} "
                f"{item.owner or '-':<12} {item.text}{late}"
            )

    emit(
        [i.to_dict() | {"overdue": i.overdue(today)} for i in items],
        as_json,
        human,
    )


@actions.command("sync")
@json_option
@click.pass_context
def sync_cmd(ctx: click.Context, as_json: bool) -> None:
    """Re-read every document and record changed action items as events (a file that cannot
    be read is named on stderr and the rest are read; exit 1)."""
    state = cli_state(ctx)
    reports, problems = state.services.documents.sync_workspace(state.context("documents re-read"))
    changed = [r for r in reports if r.changed]

    def human() -> None:
        click.echo(f"{len(reports)} document(s) read, {len(changed)} changed")
        for report in changed:
            for event in report.events:
                click.echo(f"  {event['key']}: {event['type']} -> {event['status']}")

    emit([r.to_dict() for r in reports], as_json, human)
    report_unreadable(problems, "skipped")
    fail_unreadable("actions sync", problems, f"{plural(len(reports), 'document')} read")
