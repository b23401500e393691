"""``incidentbook search QUERY``: full-text search over incidents, alerts, runbooks, documents."""

from __future__ import annotations

import click

from incidentbook.cli.index import heal_warnings
from incidentbook.cli.output import cli_state, emit, json_option
from incidentbook.cli.problems import indexed_unreadable, report_unreadable
from incidentbook.cli.terminal import bold_marks, styled

KIND_CHOICES = ("incident", "alert_group", "change", "runbook", "postmortem", "premortem")


@click.command(
    "search",
    context_settings={"ignore_unknown_options": True},
    short_help="Full-text search over incidents, alerts, runbooks and documents.",
)
@click.argument("query", nargs=-1, required=True)
@click.option(
    "--kind",
    "-k",
    metavar="K[,K]",
    help="Only these kinds: " + ", ".join(KIND_CHOICES) + " (or kind: in the query).",
)
@click.option("--limit", "-n", type=click.IntRange(1, 1000), default=10, show_default=True)
@json_option
@click.pass_context
def search_cmd(
    ctx: click.Context, query: tuple[str, ...], kind: str | None, limit: int, as_json: bool
) -> None:
    """Search everything: words, "phrases", prefix*, AND/OR/NOT, and filters
    kind: service: tag: severity: status: alert: after: before: (dates like 2026-10-01 or 7d).

    \b
    Examples:
      incidentbook search 'webhook retry'
      incidentbook search '"idempotency key" kind:postmortem'
      incidentbook search 'refund* severity:critical after:30d'
    """
    from incidentbook.core.search import did_you_mean, search

    state = cli_state(ctx)
    services = state.services
    text = " ".join(query)
    with heal_warnings():
        hits = search(services.settings, text, kind=kind, limit=limit, db=services.db)
        suggestion = did_you_mean(services.settings, text, kind=kind)

    marks = bold_marks()

    def human() -> None:
        if not hits:
            click.echo("no matches")
        for hit in hits:
            when = hit.created.strftime("%Y-%m-%d") if hit.created else "          "
            head = styled(f"{hit.kind:<11}", fg="cyan")
            click.echo(f"{head} {hit.doc_id}  {when}  {styled(hit.title, bold=True)}")
            click.echo("    " + hit.marked(*marks))
        if suggestion is not None:
            click.echo(f"did you mean: {suggestion}")

    emit(
        {"query": text, "hits": [h.to_dict() for h in hits], "did_you_mean": suggestion},
        as_json,
        human,
    )
    # Found what it could; a file read without its front matter is named, not a failure.
    report_unreadable(indexed_unreadable(services.settings), "searched without its front matter")
