"""``incidentbook alerts …``: ingest alerts from files or pipes, list, show and group them."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import click

from incidentbook.cli.output import cli_state, emit, json_option, reason_option
from incidentbook.cli.past import echo_past, past_of
from incidentbook.cli.terminal import progress_console
from incidentbook.core.alerts.formats.files import FORMATS
from incidentbook.core.alerts.model import (
    SENDER_PREFIX,
    GroupImpact,
    SenderContext,
    sender_context,
)
from incidentbook.core.changes.model import CHANGE_FORMAT
from incidentbook.errors import CheckFailed, IncidentbookError, NotFoundError, UsageError
from incidentbook.obs import log_error
from incidentbook.present import accounts_text, bad_window, money_parts, zone_named

if TYPE_CHECKING:
    from incidentbook.context import Context
    from incidentbook.core.alerts.model import AlertGroup, AlertState
    from incidentbook.services import Services

CLI_ACTOR = "cli:ingest"


@click.group(short_help="Ingest, list and inspect alerts.")
def alerts() -> None:
    """Ingest, list and inspect alerts; acknowledge alert groups."""


@alerts.command("ingest")
@click.argument("source", metavar="FILE|-")
@click.option(
    "--format",
    "fmt",
    type=click.Choice((*FORMATS, CHANGE_FORMAT)),
    default="native",
    show_default=True,
    help="One JSON object per line: a native alert, an Alertmanager webhook payload, a "
    "PagerDuty Events v2 event or a PagerDuty change event (stored as a change).",
)
@click.option(
    "--on-error",
    type=click.Choice(("skip", "abort")),
    default="skip",
    show_default=True,
    help="A malformed line is reported with its number and skipped, or aborts the whole "
    "ingest before anything is written.",
)
@click.option(
    "--batch",
    type=click.IntRange(min=1, max=100_000),
    default=1000,
    show_default=True,
    help="Native alerts per transaction.",
)
@reason_option
@json_option
@click.pass_context
def ingest_cmd(
    ctx: click.Context,
    source: str,
    fmt: str,
    on_error: str,
    batch: int,
    reason: str | None,
    as_json: bool,
) -> None:
    """Ingest alerts from FILE (or - for standard input). Re-ingesting a file changes nothing."""
    from pathlib import Path

    from incidentbook.core.alerts.formats.common import PayloadError

    state = cli_state(ctx)
    services = state.services
    if source == "-":
        buffered = sys.stdin.read().splitlines()

        def open_lines() -> Iterator[str]:
            return iter(buffered)

        label = "stdin"
    else:
        path = Path(source)
        if not path.is_file():
            raise NotFoundError(f"no such file: {source}")

        def open_lines() -> Iterator[str]:
            with path.open(encoding="utf-8", errors="replace") as handle:
                yield from handle

        label = str(path)
    context = services.context(
        reason or f"ingest {label} ({fmt}) by {services.settings.actor}",
        correlation_id=state.correlation_id,
        actor=CLI_ACTOR,
    )
    if fmt == CHANGE_FORMAT:
        _ingest_changes(services, context, label, open_lines, on_error, as_json)
        return
    try:
        with _progress(source, as_json) as progress:
            report = services.alerts.ingest_lines(
                context,
                open_lines,
                fmt,
                on_error=on_error,
                batch_size=batch,
                progress=progress,
            )
    except PayloadError as exc:
        raise _aborted(label, exc.errors) from None
    for error in report.skipped:
        click.echo(f"incidentbook: {label}: {error} (skipped)", err=True)
    summary = report.to_dict()

    def human() -> None:
        counts = ", ".join(
            f"{k} {summary[k]}"
            for k in ("new", "repeated", "refired", "resolved", "acknowledged", "replayed", "stale")
            if summary.get(k)
        )
        click.echo(
            f"{label}: {summary['received']} alerts from {report.lines} lines"
            + (f" ({counts})" if counts else "")
            + (f"; {len(report.skipped)} lines skipped" if report.skipped else "")
            + (f"; {summary['joined']} joined open incidents" if summary.get("joined") else "")
        )
        if summary.get("truncated_alerts"):
            click.echo(f"  Alertmanager truncated {summary['truncated_alerts']} alerts")

    emit(summary, as_json, human)
    _fail_if_skipped(label, len(report.skipped), report.lines)


def _aborted(label: str, errors: list[str]) -> UsageError:
    """``--on-error abort``: one line naming the first invalid lines (``errors`` is the
    parser's list, each ``line N: ...``), and that nothing was written."""
    shown = "; ".join(errors[:3]) + (f"; … {len(errors) - 3} more" if len(errors) > 3 else "")
    return UsageError(f"{label}: nothing ingested (--on-error abort): {shown}")


def _fail_if_skipped(label: str, skipped: int, lines: int) -> None:
    """Skip mode: the good lines are in, but a skipped line is a finding (exit 1)."""
    if skipped:
        raise CheckFailed(f"{label}: {skipped} of {lines} lines skipped (invalid)")


def _ingest_changes(
    services: Services,
    context: Context,
    label: str,
    open_lines: Callable[[], Iterator[str]],
    on_error: str,
    as_json: bool,
) -> None:
    """``--format pagerduty-change``: each line a change event; a replayed one is one change."""
    from incidentbook.core.alerts.formats.common import PayloadError

    try:
        report = services.changes.ingest_lines(context, open_lines(), on_error=on_error)
    except PayloadError as exc:
        raise _aborted(label, exc.errors) from None
    for skipped in report.skipped:
        errors = "; ".join(skipped["errors"])
        click.echo(f"incidentbook: {label}: line {skipped['line']}: {errors} (skipped)", err=True)
    summary = report.to_dict()

    def human() -> None:
        click.echo(
            f"{label}: {summary['received']} changes from {report.lines} lines "
            f"(new {report.new}, replayed {report.replayed})"
            + (f"; {len(report.skipped)} lines skipped" if report.skipped else "")
        )

    emit(summary, as_json, human)
    _fail_if_skipped(label, len(report.skipped), report.lines)


@contextmanager
def _progress(source: str, as_json: bool) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on a TTY (lines of FILE committed); nothing for pipes or scripts."""
    console = None if source == "-" or as_json else progress_console()
    if console is None:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with open(source, "rb") as handle:
        total = sum(1 for _ in handle)
    with Progress(
        "ingest",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("lines", total=total)
        yield lambda lines: bar.update(task, completed=lines)


@alerts.command("list")
@click.option(
    "--status",
    type=click.Choice(("firing", "resolved", "all")),
    default="firing",
    show_default=True,
)
@click.option("--group", "group_key", metavar="KEY", help="Only alerts of this group.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most N alerts.")
@json_option
@click.pass_context
def list_cmd(
    ctx: click.Context, status: str, group_key: str | None, limit: int | None, as_json: bool
) -> None:
    """List alerts, most recently seen first."""
    service = cli_state(ctx).services.alerts
    items: list[AlertState] = service.list_alerts(status, limit=None if group_key else limit)
    if group_key is not None:
        items = [a for a in items if a.group_key == group_key][:limit]
    truncated = service.requests(limit=100, truncated_only=True)

    def human() -> None:
        if not items:
            click.echo("no alerts" if status == "all" else f"no {status} alerts")
        for a in items:
            click.echo(
                f"{a.fingerprint:<20} {a.status:<8} {a.severity:<8} ×{a.occurrences:<4} "
                f"{a.last_seen[:19]}  {a.name}"
                + (f"  [{a.group_key}]" if a.group_key != a.name else "")
                + (f"  → {a.incident_id}" if a.incident_id else "")
            )
        if truncated:
            dropped = sum(r.truncated_alerts for r in truncated)
            click.echo(
                f"note: Alertmanager truncated {dropped} alerts in {len(truncated)} "
                f"notification(s), latest {truncated[0].received_at[:19]} "
                "(see: incidentbook alerts requests --truncated)"
            )

    emit([a.to_dict() for a in items], as_json, human)


@alerts.command("show")
@click.argument("fingerprint")
@json_option
@click.pass_context
def show_cmd(ctx: click.Context, fingerprint: str, as_json: bool) -> None:
    """Show one alert: status, occurrences, first/last seen, labels, incident, runbooks, the
    past incidents like it (with their lessons) and the pre-mortem risks that foresaw its
    incident (--json: "seen_before", "foreseen")."""
    from incidentbook.core.incidents.timeline import describe

    services = cli_state(ctx).services
    alert = services.alerts.get(fingerprint)
    history = services.alerts.history(fingerprint)
    acknowledged_at = services.alerts.acknowledged_at(history)
    linked = services.incidents.get(alert.incident_id) if alert.incident_id else None
    incident = (
        {
            "id": linked.id,
            "title": linked.title,
            "status": linked.status,
            "runbooks": list(linked.runbooks),
        }
        if linked
        else None
    )
    runbooks = _matched_runbooks(services, alert)
    past = past_of(
        services, incident_id=linked.id if linked else None, alert_name=alert.group_key,
        text=alert.summary or alert.name, exclude=linked.id if linked else None,
    )  # fmt: skip
    sender = sender_context(alert.annotations)
    data = {
        **alert.to_dict(),
        "sender": sender.to_dict(),
        "acknowledged_at": acknowledged_at,
        "incident": incident,
        "runbooks": runbooks,
        "history": [e.to_dict() for e in history],
        **past,
    }

    def human() -> None:
        click.echo(f"{alert.fingerprint}  {alert.name}  [{alert.status}, {alert.severity}]")
        if alert.summary:
            click.echo(f"  {alert.summary}")
        click.echo(f"  source {alert.source}  group {alert.group_key}")
        click.echo(
            f"  occurrences {alert.occurrences}  episodes {alert.episodes}  "
            f"first seen {alert.first_seen}  last seen {alert.last_seen}"
        )
        click.echo(f"  starts {alert.starts_at}  ends {alert.ends_at or '-'}")
        if acknowledged_at:
            click.echo(f"  acknowledged by sender {acknowledged_at}")
        if linked:
            click.echo(f"  incident {linked.id} [{linked.status}] {linked.title}")
            if linked.runbooks:
                click.echo(f"    runbooks used: {', '.join(linked.runbooks)}")
        for match in runbooks:
            click.echo(f"  runbook {match['runbook']}: {match['title']} ({match['reason']})")
        echo_sender(sender, indent="  ")
        annotations = {
            k: v for k, v in alert.annotations.items() if not k.startswith(SENDER_PREFIX)
        }
        for title, mapping in (("labels", alert.labels), ("annotations", annotations)):
            if mapping:
                click.echo(f"  {title}:")
                for key, value in sorted(mapping.items()):
                    click.echo(f"    {key}={value}")
        echo_past(past, indent="  ")
        click.echo("history:")
        for event in history:
            click.echo(
                f"  {event.recorded_at}  {describe(event.type, event.data)}  ({event.actor}, "
                f"{event.correlation_id})"
            )

    emit(data, as_json, human)


def echo_sender(sender: SenderContext, indent: str = "") -> None:
    """The sender's links, images and client (a PagerDuty trigger's), one a line."""
    if sender.client or sender.client_url:
        click.echo(f"{indent}client {sender.client or '-'} {sender.client_url or ''}".rstrip())
    for link in sender.links:
        text = link.get("text")
        click.echo(f"{indent}link {text + ': ' if text else ''}{link.get('href', '')}")
    for image in sender.images:
        alt = image.get("alt")
        target = f" → {image['href']}" if image.get("href") else ""
        click.echo(f"{indent}image {alt + ': ' if alt else ''}{image.get('src', '')}{target}")


def _matched_runbooks(services: Services, alert: AlertState) -> list[dict[str, Any]]:
    """Runbooks linked to the alert by DESIGN §6's rules (front matter, annotation, name);
    full-text suggestions are left to ``runbooks match``, which may consult the index."""
    from incidentbook.core.runbooks.matching import match_runbooks

    try:
        matches = match_runbooks(
            services.settings,
            alert.name,
            alert.labels,
            alert.annotations,
            summary=alert.summary,
            suggestions=0,
        )
    except (IncidentbookError, OSError) as exc:
        log_error("alerts.runbook_match_failed", str(exc), None, fingerprint=alert.fingerprint)
        return []
    return [m.to_dict() for m in matches]


@alerts.command("groups")
@json_option
@click.pass_context
def groups_cmd(ctx: click.Context, as_json: bool) -> None:
    """Firing alerts grouped by the group key ([alerts] group_by): incident candidates."""
    services = cli_state(ctx).services
    items = services.alerts.groups()

    def human() -> None:
        if not items:
            click.echo("no firing alerts")
        zone = (
            zone_of(services.settings.timezone)
            if any(g.accounts is not None for g in items)
            else None
        )
        for g in items:
            if zone is not None and g.accounts is not None:
                click.echo(impact_line(g, zone))
                continue
            click.echo(
                f"{g.key:<32} {g.firing:>6} firing  {g.severity:<8} since {g.since[:19]}"
                + (f"  → {g.incident_id}" if g.incident_id else "")
            )

    emit([g.to_dict() for g in items], as_json, human)


def zone_of(name: str) -> ZoneInfo:
    """The workspace's time zone (``workspace.timezone``); unknown: a usage error."""
    zone = zone_named(name)
    if zone is None:
        raise UsageError(f"unknown time zone {name!r} (workspace.timezone)")
    return zone


def impact_line(group: AlertGroup, zone: ZoneInfo) -> str:
    """'duplicate_posting  45 accounts  Δ 32,088.57 EUR · 4,724,185 JPY  bad entries
    02:02–07:50 (ledger time)  → INC-0007' (times in ``zone``; dates too when the window
    spans days)."""
    impact = GroupImpact(
        accounts=group.accounts or 0,
        delta_minor_by_currency=group.delta_minor_by_currency or {},
        first_bad_at=group.first_bad_at,
        last_bad_at=group.last_bad_at,
    )
    return impact_text(group.key, impact, zone, group.incident_id)


def impact_text(key: str, impact: GroupImpact, zone: ZoneInfo, incident_id: str | None) -> str:
    """One group's impact line (``impact_line``'s shape), from the group key and its impact."""
    parts = [key, accounts_text(impact.accounts)]
    money = money_parts(impact.delta_minor_by_currency)
    if money:
        parts.append("Δ " + " · ".join(money))
    window = bad_window(impact.first_bad_at, impact.last_bad_at, zone, dated=False)
    if window:
        parts.append(f"bad entries {window} (ledger time)")
    if incident_id:
        parts.append(f"→ {incident_id}")
    return "  ".join(parts)


@alerts.command("ack-group")
@click.argument("group_key", metavar="GROUP_KEY")
@click.option(
    "--severity",
    type=click.Choice(("critical", "error", "warning", "info")),
    default=None,
    help="Incident severity (default: the worst firing alert's).",
)
@click.option(
    "--incident",
    "incident_id",
    metavar="ID",
    default=None,
    help="Join this existing incident instead of opening one (two groups, one incident).",
)
@click.option(
    "--ledger",
    "ledger_url",
    metavar="URL",
    help="SQLAlchemy URL of the ledger the evidence is frozen from (default: the configured).",
)
@click.option(
    "--reopen",
    is_flag=True,
    help="The group's incident was resolved while its alerts still fire: reopen it and "
    "acknowledge it (without this, ack-group refuses rather than open a second incident).",
)
@reason_option
@json_option
@click.pass_context
def ack_group_cmd(
    ctx: click.Context,
    group_key: str,
    severity: str | None,
    incident_id: str | None,
    ledger_url: str | None,
    reopen: bool,
    reason: str | None,
    as_json: bool,
) -> None:
    """Acknowledge an alert group: open (or join) its incident, link its firing alerts and the
    runbook they match, and freeze the evidence of its reconciler accounts (their ledger rows
    and entries, see `incident evidence`). A ledger that cannot be read leaves the
    acknowledgement standing: one warning line, and the next reconcile run freezes it."""
    state = cli_state(ctx)
    outcome = state.services.alerts.acknowledge_group(
        state.context(reason),
        group_key,
        severity=severity,
        incident_id=incident_id,
        ledger_url=ledger_url,
        reopen=reopen,
    )
    for warning in outcome.warnings:
        click.echo(f"incidentbook: warning: {warning}", err=True)

    def human() -> None:
        inc = outcome.incident
        mark = "" if outcome.changed else " (no change)"
        click.echo(f"{inc.id} [{inc.status}, {inc.severity}] {inc.title}{mark}")
        click.echo(f"  {len(inc.alerts)} alerts linked")
        if inc.runbooks:
            click.echo(f"  runbooks {', '.join(inc.runbooks)}")

    emit(outcome.to_dict(), as_json, human)


@alerts.command("requests")
@click.option("--truncated", is_flag=True, help="Only notifications Alertmanager truncated.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@json_option
@click.pass_context
def requests_cmd(ctx: click.Context, truncated: bool, limit: int, as_json: bool) -> None:
    """Accepted receiver requests, newest first (with Alertmanager's truncatedAlerts)."""
    items = cli_state(ctx).services.alerts.requests(limit=limit, truncated_only=truncated)

    def human() -> None:
        if not items:
            click.echo("no requests recorded")
        for r in items:
            click.echo(
                f"{r.received_at[:19]}  {r.source:<12} {r.alerts:>5} alerts"
                + (f"  TRUNCATED {r.truncated_alerts}" if r.truncated_alerts else "")
                + f"  {r.actor}  {r.correlation_id}"
                + (f"  {r.group_key}" if r.group_key else "")
            )

    emit([r.to_dict() for r in items], as_json, human)
