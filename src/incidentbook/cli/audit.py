"""``incidentbook audit``: an account's history with running balance, or a request's entries."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from incidentbook.cli import CliState
from incidentbook.cli.output import emit, json_option
from incidentbook.errors import UsageError
from incidentbook.money import format_maybe as _money

if TYPE_CHECKING:
    from incidentbook.core.ledger.audit import AuditEntry


def _table(entries: list[AuditEntry], running: bool) -> None:
    for e in entries:
        balance = f"  = {_money(e.running_balance_minor, e.currency)}" if running else ""
        click.echo(
            f"  {e.ref:24} {e.recorded_at[:19]}  {e.kind:10} "
            f"{_money(e.amount_minor, e.currency):>16}"
            f"{balance}  {e.actor}  {e.reason or ''}  corr={e.correlation_id or '-'}"
            f"  ref={e.external_ref or '-'}"
        )


@click.command("audit", short_help="An account's audit trail, balances, and correlation traces.")
@click.argument("account", required=False, metavar="ACCOUNT[@ENTRY_ID]")
@click.option("--ledger", "ledger_url", metavar="URL", help="SQLAlchemy URL of the ledger.")
@click.option("--at", "at_text", metavar="TIMESTAMP", help="Balance (and history) as of then.")
@click.option("--on", "on_text", metavar="DATE", help="Everything on that day (workspace tz).")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--correlation", metavar="ID", help="Every entry of one request, across accounts.")
@json_option
@click.pass_context
def audit_cmd(
    ctx: click.Context,
    account: str | None,
    ledger_url: str | None,
    at_text: str | None,
    on_text: str | None,
    limit: int,
    correlation: str | None,
    as_json: bool,
) -> None:
    """An account's audit trail: history newest first with running balance, stored vs derived
    balance, balance at a moment, a day's entries; or a correlation id's entries."""
    from incidentbook.core.ledger.audit import Auditor, parse_day, parse_moment

    if (account is None) == (correlation is None):
        raise UsageError("give an ACCOUNT (or ACCOUNT@ENTRY_ID) or --correlation ID")
    state = ctx.find_object(CliState)
    assert state is not None
    settings = state.services.settings
    at = parse_moment(at_text) if at_text else None
    on = parse_day(on_text) if on_text else None
    auditor = Auditor.open(ledger_url or settings.ledger_url, settings.timezone)
    try:
        if correlation is not None:
            entries = auditor.correlation(correlation)

            def trace() -> None:
                click.echo(f"correlation {correlation}: {len(entries)} entries")
                _table(entries, False)

            emit(
                {"correlation_id": correlation, "entries": [e.to_dict() for e in entries]},
                as_json,
                trace,
            )
            return
        assert account is not None
        audit = auditor.account(account, limit=limit, at=at, on=on)
    finally:
        auditor.close()

    def human() -> None:
        cur = audit.currency
        head = f"account {audit.account_id}"
        if not audit.exists:
            head += " (NOT in ledger_accounts: orphan entries)"
        click.echo(f"{head}  {cur or ''}  opened {audit.opened_at or '—'}")
        click.echo(
            f"  stored {_money(audit.stored_minor, cur)}   "
            f"derived {_money(audit.derived_minor, cur)}"
            f"   difference {_money(audit.difference_minor, cur)}   entries {audit.entry_count:,}"
        )
        if audit.at is not None:
            click.echo(f"  balance at {audit.at}: {_money(audit.balance_at_minor, cur)}")
        if audit.on is not None:
            click.echo(f"  entries that occurred on {audit.on} ({audit.timezone}):")
        click.echo(f"  times UTC; days in {audit.timezone}")
        _table(audit.entries, True)

    emit(audit.to_dict(), as_json, human)
