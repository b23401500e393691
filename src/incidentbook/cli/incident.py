"""``incidentbook incident …``: open, acknowledge, note, resolve and read incidents."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from incidentbook.cli.alerts import impact_text, zone_of
from incidentbook.cli.output import cli_state, emit, json_option, reason_option
from incidentbook.cli.past import echo_past, past_of
from incidentbook.core.incidents.model import SEVERITIES
from incidentbook.core.incidents.timeline import describe
from incidentbook.errors import NotFoundError, UsageError
from incidentbook.fs import atomic_write
from incidentbook.money import format_maybe, format_minor
from incidentbook.present import account_cells, anchor_words, change_before_text, minutes_words

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from incidentbook.context import Context
    from incidentbook.core.changes.model import DeployContext
    from incidentbook.core.incidents.model import IncidentState, Outcome
    from incidentbook.core.incidents.service import IncidentService
    from incidentbook.core.ledger.audit import AccountBalance, Auditor
    from incidentbook.core.ledger.reconcile.accounts import IncidentAccounts
    from incidentbook.services import Services

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


@incident.command("resolve")
@click.argument("incident_id", metavar="ID")
@reason_option
@click.option(
    "--force",
    is_flag=True,
    help="Resolve although reconciler findings still fire or the fix is not yet proven by a "
    "reconcile run (needs --reason; the override is recorded).",
)
@json_option
@click.pass_context
def resolve_cmd(
    ctx: click.Context, incident_id: str, reason: str | None, force: bool, as_json: bool
) -> None:
    """Resolve an incident. Refused (exit 1) while its reconciler findings fire, or while a
    correction is newer than the last complete reconcile run."""
    state = cli_state(ctx)
    outcome = state.services.incidents.resolve(state.context(reason), incident_id, force=force)
    _report(outcome, as_json)

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
    # deferred: the runbook loader reads YAML, not needed for --help
    from incidentbook.core.runbooks.loader import load_runbooks

    state = cli_state(ctx)
    if runbook.strip() and load_runbooks(state.services.settings).get(runbook) is None:
        raise NotFoundError(f"no runbook {runbook!r} (see: incidentbook runbooks list)")
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
    """Show an incident with its timeline and the impact of its reconciler groups.

    Then "seen before" (past incidents like it, with their postmortems' lessons) and the
    pre-mortem risks that foresaw it ("foreseen in PRE-0001: risk 1").

    --json prints {"incident", "timeline", "seen_before", "foreseen", "impact": {
    "incident_id", "groups": [{"key", "accounts", "delta_minor_by_currency", "first_bad_at",
    "last_bad_at", "duplicate_accounts_failing_balance"}]}}: per group key, over the firing
    reconciler alerts linked to the incident (DESIGN §4); duplicate_accounts_failing_balance (for
    duplicate_posting only) counts its accounts that also fail balance_mismatch."""
    # deferred: the impact's read model loads SQLAlchemy, not needed for --help
    from incidentbook.core.ledger.reconcile.impact import incident_impact

    state = cli_state(ctx)
    inc = state.services.incidents.get(incident_id)
    timeline = state.services.incidents.timeline(incident_id)
    impact = incident_impact(state.services.db, inc.id)
    alert_name = inc.group_key or _first_alert_name(state.services, inc)
    past = past_of(
        state.services, incident_id=inc.id, alert_name=alert_name, text=inc.title, exclude=inc.id
    )
    deploys = state.services.changes.for_incident(inc.id)

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
        if impact.groups:
            zone = zone_of(state.services.settings.timezone)
            click.echo("impact:")
            for group in impact.groups:
                click.echo(f"  {impact_text(group.key, group.impact, zone, None)}")
                if group.duplicate_accounts_failing_balance is not None:
                    click.echo(
                        f"    {group.duplicate_accounts_failing_balance} of its "
                        f"{group.impact.accounts} accounts also fail balance_mismatch"
                    )
        if deploys is not None:
            echo_deploys(deploys, zone_of(state.services.settings.timezone))
        echo_past(past)
        click.echo("timeline:")
        for event in timeline:
            click.echo(
                f"  {event.recorded_at}  {describe(event.type, event.data)}"
                f"  ({event.actor}{'; ' + event.reason if event.reason else ''})"
            )

    emit(
        {
            "incident": inc.to_dict(),
            "timeline": [e.to_dict() for e in timeline],
            "impact": impact.to_dict(),
            "changes_before": deploys.to_dict() if deploys is not None else None,
            **past,
        },
        as_json,
        human,
    )


def echo_deploys(deploys: DeployContext, zone: ZoneInfo) -> None:
    """The changes before detection: 'api v2 deployed 01:55, 7 minutes before the first
    duplicate', or that there were none in the window."""
    anchor = deploys.anchor
    if not deploys.changes:
        click.echo(
            f"changes before detection: none in the {minutes_words(deploys.window_s)} before "
            f"{anchor_words(anchor.kind, anchor.check)}"
        )
        return
    click.echo("changes before detection:")
    for prior in deploys.changes:
        change = prior.change
        line = change_before_text(
            change.summary, change.at, prior.seconds_before, anchor.kind, anchor.check, zone
        )
        click.echo(f"  {line}  ({change.source})")


def _first_alert_name(services: Services, inc: IncidentState) -> str | None:
    """The name of the incident's first linked alert (for an incident opened by hand)."""
    for fingerprint in inc.alerts[:1]:
        return services.alerts.get(fingerprint).name
    return None


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


CSV_COLUMNS = (
    "account_id", "currency", "delta_minor", "stored_minor", "derived_minor", "duplicate",
    "stored_took_copies", "fails_balance", "checks", "fingerprints", "entry_ids", "copies",
)  # fmt: skip


def _cell(value: object) -> str:
    return "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def accounts_csv(report: IncidentAccounts) -> str:
    """One line per account; a row's findings are ``;``-separated in the finding columns
    (entry ids of one finding space-separated), amounts in integer minor units."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for a in report.accounts:
        writer.writerow(
            [a.account_id, a.currency, a.delta_minor, _cell(a.stored_minor),
             _cell(a.derived_minor), _cell(a.duplicate), _cell(a.stored_took_copies),
             _cell(a.fails_balance), ";".join(f.check for f in a.findings),
             ";".join(f.fingerprint for f in a.findings),
             ";".join(" ".join(str(i) for i in f.entry_ids) for f in a.findings),
             ";".join(_cell(f.copies) for f in a.findings)]
        )  # fmt: skip
    return out.getvalue()


def _accounts_table(report: IncidentAccounts) -> None:
    s = report.summary
    deltas = " · ".join(
        format_minor(v, c, signed=True) for c, v in s.delta_minor_by_currency.items()
    )
    click.echo(f"{report.incident_id}: {s.accounts} accounts  Δ {deltas or '—'}")
    if s.duplicate_accounts:
        click.echo(
            f"  {s.duplicate_accounts} duplicate accounts: "
            f"{s.duplicate_accounts_failing_balance} also fail balance_mismatch, "
            f"{s.duplicate_accounts_stored_took_copies} stored balances took every copy"
        )
    rows = [account_cells(a) for a in report.accounts]
    head = ("ACCOUNT", "CUR", "DELTA", "STORED", "DERIVED", "CROSS-CHECK")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(5)]

    def line(cells: Sequence[str]) -> str:
        left = f"{cells[0]:<{widths[0]}}  {cells[1]:<{widths[1]}}"
        nums = "  ".join(f"{c:>{w}}" for c, w in zip(cells[2:5], widths[2:5], strict=True))
        return f"{left}  {nums}  {cells[5]}".rstrip()

    click.echo(line(head))
    for account, row in zip(report.accounts, rows, strict=True):
        click.echo(line(row))
        for f in account.findings:
            copies = f"  ×{f.copies}" if f.copies is not None else ""
            entries = ",".join(str(i) for i in f.entry_ids) or "—"
            mark = "" if f.linked else "  (not linked to this incident)"
            status = "" if f.status == "firing" else f"  [{f.status}]"
            click.echo(
                f"    {f.fingerprint}  entries {entries}{copies}"
                f"  Δ {format_minor(f.delta_minor, account.currency, signed=True)}"
                f"{status}{mark}"
            )


@incident.command("accounts")
@click.argument("incident_id", metavar="ID")
@click.option("--ledger", "ledger_url", metavar="URL", help="SQLAlchemy URL of the ledger.")
@click.option(
    "--csv",
    "csv_out",
    metavar="OUT",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the rows as CSV to OUT (all at once, or nothing).",
)
@json_option
@click.pass_context
def accounts_cmd(
    ctx: click.Context, incident_id: str, ledger_url: str | None, csv_out: Path | None,
    as_json: bool,
) -> None:  # fmt: skip
    """The accounts an incident affects: those of the reconciler alerts linked to it, one row
    each, largest delta first, with stored and derived balance from the ledger and the
    findings behind it (check, fingerprint, entry ids, copies).

    An account's delta is the sum of its firing linked findings' deltas (integer minor
    units of its currency). Cross-check: for a duplicate, whether the stored balance already
    took every copy (no balance alert fires, yet the customer was charged again) or not
    (the account also fails balance_mismatch, whose finding is listed with it).

    --json prints {"incident_id", "summary": {"accounts", "delta_minor_by_currency",
    "duplicate_accounts", "duplicate_accounts_failing_balance",
    "duplicate_accounts_stored_took_copies", "balance_mismatch_accounts"}, "accounts": [{
    "account_id", "currency", "delta_minor", "delta_minor_by_check", "stored_minor",
    "derived_minor", "in_ledger", "duplicate", "stored_took_copies", "fails_balance",
    "findings": [{"check", "fingerprint", "status", "delta_minor", "entry_ids", "copies",
    "external_ref", "linked"}]}]}; "accounts" is [] for an incident without reconciler
    alerts. --csv OUT writes one line per account (findings ;-separated)."""
    # deferred: the ledger and the alerts' read model load SQLAlchemy, not needed for --help
    from incidentbook.core.ledger.audit import Auditor
    from incidentbook.core.ledger.reconcile.accounts import incident_accounts_report

    if as_json and csv_out is not None:
        raise UsageError("give --json or --csv OUT, not both")
    state = cli_state(ctx)
    settings = state.services.settings
    inc = state.services.incidents.get(incident_id)  # unknown: a one-line error, exit 2
    opened: list[Auditor] = []

    def balances(accounts: Sequence[str]) -> Mapping[str, AccountBalance]:
        auditor = Auditor.open(ledger_url or settings.ledger_url, settings.timezone)
        opened.append(auditor)
        return auditor.balances(accounts)

    try:
        report = incident_accounts_report(state.services.db, inc.id, balances)
    finally:
        for auditor in opened:
            auditor.close()
    empty = f"{inc.id} has no reconciler alerts: no affected accounts"
    if csv_out is not None:
        atomic_write(csv_out, accounts_csv(report))
        click.echo(empty if not report.accounts else
                   f"wrote {len(report.accounts)} accounts to {csv_out}")  # fmt: skip
        return

    def human() -> None:
        if not report.accounts:
            click.echo(empty)
            return
        _accounts_table(report)

    emit(report.to_dict(), as_json, human)


@incident.command("evidence")
@click.argument("incident_id", metavar="ID")
@json_option
@click.pass_context
def evidence_cmd(ctx: click.Context, incident_id: str, as_json: bool) -> None:
    """The evidence frozen when the incident was opened from (or joined by) a reconciler
    group: per account its stored balance at detection, entry count and SHA-256 of its
    canonical JSON (its ledger row and every entry), the set hash over all of them, and the
    stored balances per currency. Later corrections, runs and pruning never change it;
    `verify` re-hashes it.

    --json prints {"incident_id", "set_number", "set_sha256", "frozen_at",
    "balance_minor_by_currency", "orphans", "accounts": [{"account_id", "frozen_at",
    "ledger", "currency", "balance_minor", "entries", "sha256"}]}, or {"incident_id",
    "evidence": null} when nothing was frozen."""
    state = cli_state(ctx)
    inc = state.services.incidents.get(incident_id)  # unknown: a one-line error, exit 2
    report = state.services.evidence.report(inc.id)
    if report is None:
        emit({"incident_id": inc.id, "evidence": None}, as_json,
             lambda: click.echo(f"{inc.id} has no frozen evidence"))  # fmt: skip
        return

    def human() -> None:
        count = len(report.accounts)
        click.echo(
            f"{inc.id} evidence: {count:,} account{'s' if count != 1 else ''}"
            f", frozen {report.frozen_at} (set {report.set_number})"
        )
        click.echo(f"  set sha256 {report.set_sha256}")
        head = ("account", "currency", "stored at detection", "entries", "sha256")
        rows = [
            (a.account_id, a.currency or "—",
             format_maybe(a.balance_minor, a.currency, missing="not in ledger"),
             f"{a.entries:,}", a.sha256)
            for a in report.accounts
        ]  # fmt: skip
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
        for r in [head, *rows]:
            click.echo(
                f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}"
                f"  {r[3]:>{widths[3]}}  {r[4]}"
            )
        totals = [format_minor(v, c) for c, v in report.balance_minor_by_currency.items()]
        click.echo("stored balances at detection: " + (" · ".join(totals) or "none"))
        if report.orphans:
            click.echo(f"orphans (entries of accounts the ledger lacks): {report.orphans:,}")

    emit(report.to_dict(), as_json, human)
