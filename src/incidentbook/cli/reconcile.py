"""``incidentbook reconcile``: run every ledger check, findings become alerts."""

from __future__ import annotations

import click

from incidentbook.cli import CliState
from incidentbook.cli.output import emit, finite, json_option
from incidentbook.cli.terminal import phase_bars
from incidentbook.core.ledger.reconcile.model import ReconcileOptions
from incidentbook.errors import EXIT_FINDINGS


@click.command(
    "reconcile", short_help="Check the ledger: balances vs histories, duplicates, and more."
)
@click.option("--ledger", "ledger_url", metavar="URL", help="SQLAlchemy URL of the ledger "
              "(default: the workspace's [ledger] url).")  # fmt: skip
@click.option("--full", is_flag=True, help="Check every account (default first time).")
@click.option(
    "--incremental",
    is_flag=True,
    help="Only accounts with new entries or a changed updated_at since the last run (default "
    "after the first run).",
)
@click.option("--resume", is_flag=True, help="Finish an interrupted run (a plain run does too).")
@click.option("--batch", type=click.IntRange(min=1), default=50_000, show_default=True,
              help="Accounts per batch (one checkpoint each).")  # fmt: skip
@click.option("--max-rate", type=click.FloatRange(min=0, min_open=True), metavar="ACCOUNTS_PER_S",
              callback=finite,
              help="Spare a production database: at most N accounts per second.")  # fmt: skip
@click.option("--jobs", type=click.IntRange(min=1), metavar="N",
              help="Scan processes for a full run of a SQLite ledger (default: one per core, "
              "up to 4, or 1 with --max-rate; 1 scans in this process).")  # fmt: skip
@click.option(
    "--show-indexes",
    is_flag=True,
    help="Print the ledger indexes the reconciler and audit are fast with, and exit "
    "(incidentbook never writes to your ledger: its owner creates them).",
)
@json_option
@click.pass_context
def reconcile_cmd(
    ctx: click.Context,
    ledger_url: str | None,
    full: bool,
    incremental: bool,
    resume: bool,
    batch: int,
    max_rate: float | None,
    jobs: int | None,
    show_indexes: bool,
    as_json: bool,
) -> None:
    """Check the ledger (DESIGN §4): balances, duplicates, currencies, orphans, reversals, clock
    skew. Exit 1 when anything is found."""
    if full and incremental:
        raise click.UsageError("--full and --incremental exclude each other", ctx)
    mode = "full" if full else "incremental" if incremental else None

    if show_indexes:
        from incidentbook.core.ledger.contract import RECOMMENDED_INDEXES

        emit(
            RECOMMENDED_INDEXES, as_json, lambda: click.echo(";\n".join(RECOMMENDED_INDEXES) + ";")
        )
        return
    state = ctx.find_object(CliState)
    assert state is not None
    services = state.services
    run_ctx = services.context("reconcile", correlation_id=state.correlation_id, actor="reconciler")
    with phase_bars(not as_json) as progress:
        summary = services.reconciler.run(
            run_ctx,
            ReconcileOptions(
                ledger_url=ledger_url,
                mode=mode or "auto",
                resume=resume,
                batch=batch,
                max_rate=max_rate,
                progress=progress,
                jobs=jobs,
            ),
        )

    def human() -> None:
        resumed = " (resumed)" if summary.resumed else ""
        click.echo(
            f"run {summary.run_id} [{summary.mode}]{resumed} on {summary.ledger}: "
            f"{summary.found} findings in {summary.batches} batches"
            + (f" on {summary.jobs} processes" if summary.jobs > 1 else "")
        )
        for check, counts in summary.checks.items():
            click.echo(
                f"  {check:18} found {counts['found']:>7,}  new {counts['new']:>7,}  "
                f"resolved {counts['resolved']:>7,}"
            )

    emit(summary.to_dict(), as_json, human)
    if summary.found:
        ctx.exit(EXIT_FINDINGS)
