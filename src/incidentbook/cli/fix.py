"""``incidentbook fix …``: correction plans for an incident's findings, applied to the ledger
idempotently and resumably, exported for a ledger owner's own tools, and verified."""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import click

from incidentbook.cli.output import cli_state, emit, finite, json_option
from incidentbook.cli.terminal import phase_bars
from incidentbook.errors import EXIT_FINDINGS, UsageError
from incidentbook.money import format_minor
from incidentbook.present import accounts_text, money_text
from incidentbook.text import plural

if TYPE_CHECKING:
    from incidentbook.core.fixes.model import AccountOutcome, BatchTotals, Plan, PlanHeader
    from incidentbook.core.fixes.service import ApplyReport
    from incidentbook.core.ledger.contract import Ledger
    from incidentbook.services import Services

ledger_option = click.option(
    "--ledger", "ledger_url", metavar="URL",
    help="SQLAlchemy URL of the ledger (default: the workspace's [ledger] url).",
)  # fmt: skip


def _open(services: Services, url: str | None, *, writable: bool = False) -> Ledger:
    # deferred: the ledger brings SQLAlchemy, which `fix --help` does not need
    from incidentbook.core.ledger.contract import open_ledger

    return open_ledger(url or services.settings.ledger_url, writable=writable)


@click.group()
def fix() -> None:
    """Fix forward: plan, apply and verify corrections of an incident's findings."""


def _plan_lines(plan: Plan, header: PlanHeader) -> None:
    click.echo(
        f"{plan.plan_id} for {plan.incident_id}  sha256 {header.sha256}\n"
        f"  ledger {plan.ledger}, planned {plan.created_at} by {plan.created_by}"
    )
    click.echo(
        f"  {accounts_text(len(plan.accounts))}, {plural(plan.reversal_count, 'reversal')},"
        f" {plural(len(plan.needs_human), 'finding')} left for a human"
    )
    for currency, t in plan.totals_by_currency.items():
        click.echo(
            f"  {currency}: {accounts_text(t.accounts)}, {plural(t.reversals, 'reversal')}"
            f" ({format_minor(t.reversals_minor, currency)}), balances"
            f" {format_minor(t.balance_change_minor, currency)}"
        )
    for check, c in plan.totals_by_check.items():
        if c.findings:
            click.echo(
                f"  {check}: {plural(c.findings, 'finding')}, {accounts_text(c.accounts)},"
                f" {plural(c.reversals, 'reversal')}, Δ {money_text(c.delta_minor_by_currency)}"
            )


@fix.command("plan")
@click.argument("incident_id", metavar="INCIDENT")
@ledger_option
@json_option
@click.pass_context
def plan_cmd(ctx: click.Context, incident_id: str, ledger_url: str | None, as_json: bool) -> None:
    """Plan the correction of an incident's duplicate_posting and balance_mismatch findings
    from the ledger as it is now (other checks are listed for a human). Writes nothing to
    the ledger; the same findings over the same ledger give back the same plan."""
    state = cli_state(ctx)
    services = state.services
    ledger = _open(services, ledger_url)
    try:
        result = services.fixes.plan(services.context("fix plan"), incident_id, ledger)
    finally:
        ledger.dispose()

    def human() -> None:
        if not result.created:
            click.echo(f"{result.plan.plan_id} is unchanged (the same findings and ledger)")
        _plan_lines(result.plan, result.header)
        click.echo(
            f"  next: incidentbook fix apply {result.plan.plan_id} --dry-run"
        )

    emit({**result.plan.to_dict(), "sha256": result.header.sha256, "created": result.created},
         as_json, human)  # fmt: skip


@fix.command("list")
@click.option("--incident", "incident_id", metavar="ID", help="Only this incident's plans.")
@json_option
@click.pass_context
def list_cmd(ctx: click.Context, incident_id: str | None, as_json: bool) -> None:
    """List correction plans, oldest first, with how far each was applied."""
    services = cli_state(ctx).services
    headers = services.fixes.list_plans(incident_id)
    rows = []
    for h in headers:
        apply_row, batches = services.fixes.apply_state(h.plan_id)
        status = "planned" if apply_row is None else apply_row.status
        rows.append({**h.__dict__, "apply": status, "batches_applied": len(batches)})

    def human() -> None:
        if not rows:
            click.echo("no plans (incidentbook fix plan INCIDENT makes one)")
        for r in rows:
            click.echo(
                f"{r['plan_id']}  {r['incident_id']}  {r['accounts']:,} accounts"
                f"  {r['reversals']:,} reversals  {r['apply']}  {r['created_at']}"
            )

    emit(rows, as_json, human)


@fix.command("show")
@click.argument("plan_id", metavar="PLAN")
@json_option
@click.pass_context
def show_cmd(ctx: click.Context, plan_id: str, as_json: bool) -> None:
    """A plan in full: per account the entries to reverse, the reversals to write, the
    balance before and after; what needs a human; and how far it was applied."""
    services = cli_state(ctx).services
    plan, header = services.fixes.load(plan_id)
    apply_row, batches = services.fixes.apply_state(plan.plan_id)

    def human() -> None:
        _plan_lines(plan, header)
        status = "not applied" if apply_row is None else apply_row.status
        click.echo(f"  apply: {status}, {len(batches)} batches checkpointed")
        for a in plan.accounts:
            click.echo(
                f"  {a.account_id} {a.currency}: stored"
                f" {format_minor(a.stored_before_minor, a.currency)} → "
                f"{format_minor(a.derived_after_minor, a.currency)}"
                f"  ({', '.join(a.checks)})"
            )
            for r in a.reversals:
                click.echo(
                    f"    reverse entry {r.reverses_entry_id}"
                    f" ({r.original_kind} {r.original_external_ref}):"
                    f" {format_minor(r.amount_minor, r.currency)}  key {r.idempotency_key}"
                )
        for h in plan.needs_human:
            click.echo(f"  needs a human: {h.fingerprint}: {h.why}")
        for f in plan.foreseen:
            click.echo(f"  foreseen: {f.fingerprint}: {f.what}")

    emit(
        {**plan.to_dict(), "sha256": header.sha256,
         "apply": None if apply_row is None else apply_row.__dict__,
         "batches": [b.__dict__ for b in batches]},
        as_json, human,
    )  # fmt: skip


@fix.command("export")
@click.argument("plan_id", metavar="PLAN")
@click.option("--sql", "sql_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write SQL: one guarded, idempotent transaction per batch.")  # fmt: skip
@click.option("--csv", "csv_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write CSV: one row per reversal and per balance change.")  # fmt: skip
@click.option("--batch", type=click.IntRange(min=1, max=10_000), default=500, show_default=True,
              help="Accounts per transaction in the SQL.")  # fmt: skip
@json_option
@click.pass_context
def export_cmd(
    ctx: click.Context,
    plan_id: str,
    sql_out: Path | None,
    csv_out: Path | None,
    batch: int,
    as_json: bool,
) -> None:
    """Export a plan for a ledger owner who applies changes with their own tools. The SQL
    checks the same preconditions as ``fix apply`` and replays harmlessly."""
    # deferred: building SQL needs the contract module, not needed for --help
    from incidentbook.core.fixes.export import plan_csv, plan_sql
    from incidentbook.fs import atomic_write

    if (sql_out is None) == (csv_out is None):
        raise UsageError("fix export needs exactly one of --sql OUT or --csv OUT")
    services = cli_state(ctx).services
    plan, header = services.fixes.load(plan_id)
    out = sql_out if sql_out is not None else csv_out
    assert out is not None
    atomic_write(out, plan_sql(plan, header.sha256, batch) if sql_out else plan_csv(plan))
    written = {
        "plan_id": plan.plan_id,
        "sha256": header.sha256,
        "format": "sql" if sql_out else "csv",
        "path": str(out),
        "accounts": len(plan.accounts),
    }
    line = f"wrote {out}: {plan.plan_id}, {accounts_text(len(plan.accounts))}"
    emit(written, as_json, lambda: click.echo(line))


def _totals_lines(t: BatchTotals, dry: bool, written_now: int) -> None:
    verb = "would be corrected" if dry else "corrected"
    done = "" if dry else f", {written_now:,} written by this run"
    click.echo(
        f"  {t.corrected:,} of {accounts_text(t.accounts)} {verb}, {t.already_correct:,}"
        f" already correct, {plural(t.conflicts, 'conflict')};"
        f" {plural(t.reversals, 'reversal')}{done}"
    )
    click.echo(
        f"  reversals Δ {money_text(t.reversals_minor_by_currency)}; stored balances Δ"
        f" {money_text(t.balance_change_minor_by_currency)}"
    )


def _outcome_line(o: AccountOutcome, dry: bool) -> str:
    def money(v: int | None) -> str:
        return "—" if v is None else format_minor(v, o.currency)

    status = "would correct" if dry and o.status == "corrected" else o.status.replace("_", " ")
    text = f"  {o.account_id:<16} {status:<15} {money(o.stored_before_minor)} → "
    text += money(o.stored_after_minor)
    if o.reversals:
        text += f"  {plural(o.reversals, 'reversal')}"
    if o.reasons:
        text += "  " + "; ".join(o.reasons)
    return text


def _report(report: ApplyReport, limit: int) -> None:
    what = "dry run (nothing written)" if report.dry_run else "applied"
    click.echo(f"{report.plan_id} {what} on {report.ledger}  sha256 {report.sha256[:16]}…")
    if not report.dry_run:
        resumed = (
            f", resumed at batch {report.resumed_at + 1}" if report.resumed_at is not None else ""
        )
        if report.batches_run == 0:
            click.echo("  every batch was applied before: nothing to do")
        else:
            click.echo(
                f"  {report.batches_run} of {report.batches_total} batches run now{resumed}"
                f" ({report.batch_size} accounts each)"
            )
    written_now = sum(len(o.written_entry_ids) for o in report.outcomes)
    _totals_lines(report.totals, report.dry_run, written_now)
    shown = [o for o in report.outcomes if o.status == "conflict"] + [
        o for o in report.outcomes if o.status != "conflict"
    ]
    for o in shown[:limit]:
        click.echo(_outcome_line(o, report.dry_run))
    if len(shown) > limit:
        click.echo(f"  … and {len(shown) - limit:,} more accounts (--json lists them all)")


@fix.command("apply")
@click.argument("plan_id", metavar="PLAN")
@ledger_option
@click.option("--dry-run", is_flag=True, help="Show per account what would change; write nothing.")
@click.option("--yes", "-y", is_flag=True, help="Apply without asking (needed without a TTY).")
@click.option("--batch", type=click.IntRange(min=1, max=10_000), metavar="N",
              help="Accounts per ledger transaction (default 500; a resumed apply keeps the "
              "size it began with).")  # fmt: skip
@click.option("--max-rate", type=click.FloatRange(min=0, min_open=True), metavar="ACCOUNTS_PER_S",
              callback=finite,
              help="Spare a production database: at most N accounts per second.")  # fmt: skip
@click.option(
    "--resume",
    is_flag=True,
    help="Finish an interrupted apply (running the same command again does too).",
)
@json_option
@click.pass_context
def apply_cmd(
    ctx: click.Context,
    plan_id: str,
    ledger_url: str | None,
    dry_run: bool,
    yes: bool,
    batch: int | None,
    max_rate: float | None,
    resume: bool,
    as_json: bool,
) -> None:
    """Write a plan's reversals and balance changes into the ledger, one transaction per
    batch with a checkpoint each; every account's preconditions are checked under lock and a
    failing account is skipped as a conflict. Exit 1 when any account was a conflict."""
    del resume  # an apply always resumes where its checkpoints end
    state = cli_state(ctx)
    services = state.services
    tty = sys.stdin.isatty() and sys.stdout.isatty()
    if not dry_run and not yes and not tty:
        raise UsageError("fix apply writes to the ledger: pass --yes (or --dry-run to look first)")
    if dry_run or not yes:
        ledger = _open(services, ledger_url)
        try:
            preview = services.fixes.dry_run(plan_id, ledger)
        finally:
            ledger.dispose()
        if dry_run:
            emit(preview.to_dict(), as_json, lambda: _report(preview, 50))
            return
        _report(preview, 20)
        if not click.confirm(f"Apply {preview.plan_id} to the ledger now?", default=False):
            click.echo("nothing written")
            return
    ledger = _open(services, ledger_url, writable=True)
    try:
        with phase_bars(not as_json) as bars:
            report = services.fixes.apply(
                services.context("fix apply", correlation_id=state.correlation_id),
                plan_id,
                ledger,
                batch_size=batch,
                max_rate=max_rate,
                progress=None if bars is None else partial(bars, "applying"),
            )
    finally:
        ledger.dispose()
    emit(report.to_dict(), as_json, lambda: _report(report, 20))
    if report.totals.conflicts:
        ctx.exit(EXIT_FINDINGS)


@fix.command("verify")
@click.argument("plan_id", metavar="PLAN")
@ledger_option
@json_option
@click.pass_context
def verify_cmd(ctx: click.Context, plan_id: str, ledger_url: str | None, as_json: bool) -> None:
    """Re-check a plan's accounts in the ledger: no duplicate or balance finding left, stored
    balances equal their history, the plan's reversals there once, nothing else changed.
    Exit 1 when any account fails."""
    services = cli_state(ctx).services
    ledger = _open(services, ledger_url)
    try:
        report = services.fixes.verify(plan_id, ledger)
    finally:
        ledger.dispose()

    def human() -> None:
        bad = [a for a in report.accounts if not a.ok]
        click.echo(
            f"{report.plan_id}: {len(report.accounts) - len(bad):,} of {len(report.accounts):,}"
            " accounts verified" + ("" if bad else ": findings gone, balances equal history,"
                                    " nothing else changed")
        )  # fmt: skip
        for a in bad[:50]:
            problems = []
            if a.findings:
                problems.append("still " + ", ".join(a.findings))
            if a.stored_minor != a.derived_minor:
                problems.append(f"stored {a.stored_minor} ≠ history {a.derived_minor}")
            if a.reversals_present != a.reversals_planned:
                problems.append(f"{a.reversals_present} of {a.reversals_planned} reversals")
            if not a.others_unchanged:
                problems.append("other entries changed since the plan")
            click.echo(f"  {a.account_id}: {'; '.join(problems)}")

    emit(report.to_dict(), as_json, human)
    if not report.ok:
        ctx.exit(EXIT_FINDINGS)
