"""``incidentbook stats``: the Health figures (the app's Health screen, the receiver's
``/metrics``) as text or, with ``--json``, as data."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from incidentbook.cli.output import cli_state, emit, json_option
from incidentbook.clock import humanize_age
from incidentbook.money import format_minor

if TYPE_CHECKING:
    from incidentbook.core.health.stats import Health
    from incidentbook.core.ledger.reconcile.model import FullRun


def _age(seconds: float | None) -> str:
    return "—" if seconds is None else humanize_age(seconds)


def _counts(values: dict[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in values.items()) or "none"


def full_run_line(run: FullRun) -> str:
    """'2026-10-17T02:14  balance_mismatch 6 accounts (64,071.09 EUR, 117,978 JPY); ...'"""
    if run.discrepancies is None:
        found = ", ".join(f"{c} {n:,}" for c, n in run.found.items() if n) or "clean"
        return f"{run.started_at[:16]}  {found} (findings; figures pruned)"
    parts = []
    for check, d in run.discrepancies.items():
        if d.accounts or d.money:
            money = ", ".join(format_minor(v, c) for c, v in sorted(d.money.items()))
            noun = "account" if d.accounts == 1 else "accounts"
            parts.append(f"{check} {d.accounts:,} {noun}" + (f" ({money})" if money else ""))
    return f"{run.started_at[:16]}  " + ("; ".join(parts) or "clean")


def health_lines(health: Health) -> list[str]:
    """The human ``stats``: the reconciler, discrepancies over full runs, open alerts and
    incidents by severity, MTTA/MTTR, action items and the overdue ones, incidentbook's state."""
    r, s = health.reconciler, health.stats
    lines = ["Reconciler"]
    last = r.last_complete
    if not r.ever_run:
        lines.append("  never run (incidentbook reconcile)")
    elif last is None:
        lines.append("  no complete run yet")
    else:
        found = sum(r.last_found.values())
        lines.append(
            f"  last run          {_age(r.age_seconds)} ago ({last.mode}, took "
            f"{_age(r.duration_seconds)}), {found:,} finding{'' if found == 1 else 's'}"
        )
    lag = r.lag
    if lag is not None and lag.error is not None:
        lines.append(f"  lag               unknown: {lag.error}")
    elif lag is not None:
        behind = lag.entries_behind or 0
        lines.append(
            f"  lag               {_age(lag.lag_seconds)} of ledger time, {behind:,} "
            f"entr{'y' if behind == 1 else 'ies'} behind (newest entry {lag.newest_entry_id}, "
            f"watermark {lag.watermark_entry_id})"
        )
    if r.unfinished is not None:
        lines.append(
            f"  unfinished        {r.unfinished.run_id}: {r.unfinished.phase}, "
            f"{r.unfinished.batches:,} batches (reconcile --resume)"
        )
    if r.pruned_runs:
        lines.append(f"  kept as summaries {r.pruned_runs:,} runs")
    lines.append("Discrepancies over full runs (oldest first)")
    lines.extend(f"  {full_run_line(run)}" for run in r.full_runs)
    if not r.full_runs:
        lines.append("  no full run yet (incidentbook reconcile --full)")
    lines.append(f"Open alerts        {_counts(health.alerts_open_by_severity)}")
    lines.append(f"Open incidents     {_counts(health.incidents_open_by_severity)}")
    lines.append(
        f"Response           MTTA {_age(s.mtta_seconds)}, MTTR {_age(s.mttr_seconds)} over "
        f"{s.resolved_incidents:,} resolved incident{'' if s.resolved_incidents == 1 else 's'}"
    )
    lines.append(f"Action items       {_counts(health.action_items)}")
    for item in health.overdue:
        lines.append(
            f"  overdue {item.key:<14} due {item.due}  {item.owner or '-':<10} {item.text}"
        )
    lines.append(
        f"State              schema {s.schema_revision}, events {s.events_total:,}, "
        f"index queue {s.outbox_pending:,}, db {s.database_bytes / 1e6:.1f} MB"
    )
    return lines


@click.command("stats")
@click.option("--no-lag", is_flag=True, help="Do not read the ledger for the reconciler's lag.")
@json_option
@click.pass_context
def stats_cmd(ctx: click.Context, no_lag: bool, as_json: bool) -> None:
    """Health: reconciler lag, discrepancies over full runs, open alerts, MTTA/MTTR, overdue."""
    health = cli_state(ctx).services.health.report(lag=not no_lag)
    emit(health.to_dict(), as_json, lambda: click.echo("\n".join(health_lines(health))))
