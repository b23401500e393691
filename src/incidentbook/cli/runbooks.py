"""``incidentbook runbooks list|lint|match``: runbooks and how alerts link to them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from incidentbook.cli.output import cli_state, emit, json_option

if TYPE_CHECKING:
    pass


@click.group("runbooks", short_help="List, lint and match runbooks.")
def runbooks() -> None:
    """List, lint and match runbooks (runbooks/**/*.md and the shipped ones)."""


@runbooks.command("list")
@json_option
@click.pass_context
def list_cmd(ctx: click.Context, as_json: bool) -> None:
    """Every runbook: id, title, source, the alerts it declares."""
    from incidentbook.core.runbooks.loader import load_runbooks

    settings = cli_state(ctx).services.settings
    found = load_runbooks(settings)

    def human() -> None:
        if not found.runbooks:
            click.echo("no runbooks")
        for rb in found.runbooks:
            alerts = ", ".join(m.raw for m in rb.alerts) or "-"
            click.echo(f"{rb.id:<32} {rb.source:<9} {rb.title}")
            click.echo(f"{'':<32} alerts: {alerts}")

    emit([rb.to_dict() for rb in found.runbooks], as_json, human)


@runbooks.command("lint")
@json_option
@click.pass_context
def lint_cmd(ctx: click.Context, as_json: bool) -> None:
    """Missing sections, stale last_reviewed, broken links, alerts no runbook covers.
    Exit 1 when there are findings."""
    from incidentbook.core.runbooks.lint import lint_runbooks

    services = cli_state(ctx).services
    findings = lint_runbooks(services.settings, services.db)

    def human() -> None:
        if not findings:
            click.echo("runbooks: no findings")
        for f in findings:
            where = f.runbook or f.path or "-"
            click.echo(f"{f.code:<16} {where}: {f.message}")

    emit({"findings": [f.to_dict() for f in findings], "count": len(findings)}, as_json, human)
    if findings:
        ctx.exit(1)


@runbooks.command("match")
@click.argument("alert_name")
@click.option("--labels", "-l", metavar="k=v,...", help="The alert's labels.")
@click.option(
    "--annotations",
    "-a",
    metavar="k=v,...",
    help="The alert's annotations (runbook_url=..., summary=...).",
)
@click.option(
    "--suggestions",
    type=click.IntRange(0, 20),
    default=3,
    show_default=True,
    help="How many full-text suggestions to add.",
)
@json_option
@click.pass_context
def match_cmd(
    ctx: click.Context,
    alert_name: str,
    labels: str | None,
    annotations: str | None,
    suggestions: int,
    as_json: bool,
) -> None:
    """The runbooks for an alert, best first, and why each matched."""
    from incidentbook.core.runbooks.matching import match_runbooks
    from incidentbook.core.runbooks.model import parse_pairs

    services = cli_state(ctx).services
    label_map = parse_pairs(labels, "labels")
    annotation_map = parse_pairs(annotations, "annotations")
    matches = match_runbooks(
        services.settings,
        alert_name,
        label_map,
        annotation_map,
        summary=annotation_map.get("summary", ""),
        suggestions=suggestions,
        suggester=services.runbook_suggester,
    )

    def human() -> None:
        if not matches:
            click.echo(f"no runbook for {alert_name}")
        for index, m in enumerate(matches, 1):
            tag = "suggestion" if m.suggestion else m.rule
            click.echo(f"{index}. {m.runbook.id} [{tag}] {m.runbook.title}")
            click.echo(f"   {m.reason}")
            click.echo(f"   {m.runbook.path}")

    emit(
        {
            "alert": alert_name,
            "labels": label_map,
            "annotations": annotation_map,
            "matches": [m.to_dict() for m in matches],
        },
        as_json,
        human,
    )
