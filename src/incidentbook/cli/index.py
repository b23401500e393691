"""``incidentbook index rebuild|status``: the derived search index."""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

import click

from incidentbook.cli.output import cli_state, emit, json_option
from incidentbook.cli.problems import fail_unreadable, indexed_unreadable, report_unreadable
from incidentbook.cli.terminal import fancy
from incidentbook.text import plural

if TYPE_CHECKING:
    from incidentbook.core.search.indexer import Healed


def heal_warnings() -> AbstractContextManager[None]:
    """Within the block, each damaged search index found and rebuilt is one line on stderr."""
    from incidentbook.core.search.indexer import reporting_heals  # deferred: loads Whoosh

    def say(healed: Healed) -> None:
        click.echo(
            f"incidentbook: warning: search index damaged ({healed.damage}); rebuilt from "
            f"sources ({healed.documents} documents)",
            err=True,
        )

    return reporting_heals(say)


@click.group("index", short_help="Rebuild or inspect the search index.")
def index() -> None:
    """The search index: rebuild it from its sources, or compare it with them."""


@index.command("rebuild")
@click.option(
    "--procs",
    type=click.IntRange(1, 8),
    default=None,
    help="Indexing processes (default: 2 for over 2,000 documents on 2+ cores, else 1).",
)
@json_option
@click.pass_context
def rebuild_cmd(ctx: click.Context, procs: int | None, as_json: bool) -> None:
    """Recreate the index from the database and the Markdown files (safe to interrupt)."""
    from incidentbook.core.search import rebuild

    services = cli_state(ctx).services
    show = not as_json and fancy(sys.stderr)
    if show:
        with click.progressbar(length=1, label="indexing", file=sys.stderr) as bar:

            def progress(done: int, total: int) -> None:
                bar.length = max(total, 1)
                bar.update(done - bar.pos)

            result = rebuild(services.settings, services.db, progress, procs=procs)
    else:
        result = rebuild(services.settings, services.db, None, procs=procs)

    def human() -> None:
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(result.by_kind.items())) or "nothing"
        click.echo(f"indexed {result.documents} documents ({kinds}) in {result.seconds:.1f}s")

    emit(result.to_dict(), as_json, human)
    problems = indexed_unreadable(services.settings)
    report_unreadable(problems, "indexed without its front matter")
    fail_unreadable("index rebuild", problems, f"{plural(result.documents, 'document')} indexed")


@index.command("status")
@json_option
@click.pass_context
def status_cmd(ctx: click.Context, as_json: bool) -> None:
    """Documents per kind, queued changes, and any drift from the sources (exit 1 on drift)."""
    from incidentbook.core.search import index_status

    services = cli_state(ctx).services
    with heal_warnings():
        status = index_status(services.settings, services.db)

    def human() -> None:
        click.echo(f"index: {status.path}{'' if status.exists else ' (not built yet)'}")
        kinds = ", ".join(f"{n} {k}" for k, n in status.by_kind.items()) or "none"
        click.echo(f"documents: {status.documents} ({kinds})")
        click.echo(
            f"queued changes: {status.pending_outbox}; changed files: "
            f"{status.changed_files} (indexed by the next search)"
        )
        click.echo(f"last rebuild: {status.last_rebuild or 'never'}")
        if status.drift:
            click.echo(
                f"drift: {status.drift} document(s) differ from their sources; "
                "run: incidentbook index rebuild"
            )
            for label, uids in (
                ("missing", status.missing),
                ("stale", status.stale),
                ("extra", status.extra),
            ):
                for uid in uids[:20]:
                    click.echo(f"  {label}: {uid}")
        else:
            click.echo("drift: none")

    emit(status.to_dict(), as_json, human)
    if status.drift:
        ctx.exit(1)
