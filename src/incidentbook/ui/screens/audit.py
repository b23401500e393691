"""Account audit: an account's history with running balance, stored vs derived balance,
balance at a moment, and the correlation trace of an entry (DESIGN §4, §9).

Open it with an account id (or ``ACCOUNT@ENTRY_ID``), or with a reconciler check (an alert
group key) or an incident id to list the affected accounts on the left: enter on one opens its
audit. For an incident the list has the columns of ``incident accounts`` (currency, delta,
stored and derived balance, cross-check), largest delta first. Triage/Incident open it as
``AuditScreen(check=group.key)`` or ``AuditScreen(incident_id=incident.id)``. Every ledger
read runs in a thread worker that posts a message; workers never touch widgets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rich.markup import escape
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Header, Input, Label, Static

from incidentbook.core.ledger.audit import (
    AccountAudit,
    AccountBalance,
    AuditEntry,
    Auditor,
    parse_moment,
)
from incidentbook.core.ledger.reconcile.accounts import IncidentAccounts, incident_accounts_report
from incidentbook.core.ledger.reconcile.candidates import affected_accounts
from incidentbook.errors import IncidentbookError
from incidentbook.money import format_maybe as _money
from incidentbook.money import format_minor
from incidentbook.present import account_cells, accounts_text
from incidentbook.ui.cells import FittedTable, ellipsized, flexible_width, room, widest
from incidentbook.ui.messages import WorkFailed
from incidentbook.ui.screens.base import DataScreen
from incidentbook.ui.widgets.footer import KeyFooter
from incidentbook.ui.workers import run_in_worker


@dataclass
class AuditLoaded(Message):
    audit: AccountAudit


@dataclass
class TraceLoaded(Message):
    correlation_id: str
    entries: list[AuditEntry]


@dataclass
class AffectedLoaded(Message):
    """The affected accounts; for an incident also its ``incident accounts`` report."""

    accounts: list[str]
    report: IncidentAccounts | None = None


ACCOUNTS_COLUMNS = ("Account", "Cur", "Δ", "Stored", "Derived", "Cross-check")


def account_rows(report: IncidentAccounts) -> list[tuple[str, str, str, str, str, str]]:
    """The cells of the affected list for an incident, in the report's order (largest delta
    first), worded like ``incident accounts``."""
    return [account_cells(a) for a in report.accounts]


def summary_text(report: IncidentAccounts) -> str:
    """'INC-0007: 9 accounts  Δ +1.00 EUR · +5 JPY' over the affected list."""
    s = report.summary
    deltas = " · ".join(
        format_minor(v, c, signed=True) for c, v in s.delta_minor_by_currency.items()
    )
    return f"Affected: {report.incident_id}: {accounts_text(s.accounts)}  Δ {deltas or '—'}"


# What an empty affected list says: why, and what to do.
EMPTY_AFFECTED = "No accounts with firing reconciler findings here — i: type an account id"

# The history's columns: the reason shares what the fixed columns leave, cut with an ellipsis.
# With room (a wide table) the correlation id and external ref have columns of their own;
# narrower they, then the actor and the seconds, then the kind and the ref, are left to the
# entry detail under the table, which shows the highlighted entry in full.
HISTORY_COLUMNS: tuple[str, ...] = (
    "Ref", "Recorded (UTC)", "When (UTC)", "Kind", "Amount", "Balance", "Actor", "Reason",
    "Correlation", "External ref",
)  # fmt: skip
IDS_COLUMNS_FROM = 150  # the table's room, in cells, from which the ids have columns
ACTOR_COLUMN_FROM = 90  # ... from which the actor has one (and the time its seconds)
KIND_COLUMN_FROM = 65  # ... from which the kind and the ref have theirs
HISTORY_ACTOR_WIDTH = 18
HISTORY_ID_WIDTH = 18


def history_rows(
    entries: Sequence[AuditEntry], width: int
) -> tuple[tuple[str, ...], list[tuple[Text, ...]]]:
    """The history's columns and rows for a table ``width`` cells wide."""
    fixed: dict[str, list[Text]] = {}
    if width >= KIND_COLUMN_FROM:
        fixed["Ref"] = [Text(e.ref) for e in entries]
    if width >= ACTOR_COLUMN_FROM:
        fixed["Recorded (UTC)"] = [Text(e.recorded_at[:19].replace("T", " ")) for e in entries]
    else:  # month, day, hours and minutes
        fixed["When (UTC)"] = [Text(e.recorded_at[5:16].replace("T", " ")) for e in entries]
    if width >= KIND_COLUMN_FROM:
        fixed["Kind"] = [Text(e.kind) for e in entries]
    fixed["Amount"] = [Text(_money(e.amount_minor, e.currency)) for e in entries]
    fixed["Balance"] = [Text(_money(e.running_balance_minor, e.currency)) for e in entries]
    if width >= ACTOR_COLUMN_FROM:
        fixed["Actor"] = [ellipsized(e.actor, HISTORY_ACTOR_WIDTH) for e in entries]
    if width >= IDS_COLUMNS_FROM:
        fixed["Correlation"] = [
            ellipsized(e.correlation_id or "", HISTORY_ID_WIDTH) for e in entries
        ]
        fixed["External ref"] = [
            ellipsized(e.external_ref or "", HISTORY_ID_WIDTH) for e in entries
        ]
    widths = [widest(cells, header) for header, cells in fixed.items()]
    reason_width = flexible_width(width, widths, minimum=6)
    by_column = {**fixed, "Reason": [ellipsized(e.reason or "", reason_width) for e in entries]}
    columns = tuple(c for c in HISTORY_COLUMNS if c in by_column)
    rows = [tuple(by_column[c][i] for c in columns) for i in range(len(entries))]
    return columns, rows


def entry_detail(entry: AuditEntry) -> Text:
    """One history entry in full, every field (its cells may be cut)."""
    amount = _money(entry.amount_minor, entry.currency)
    balance = _money(entry.running_balance_minor, entry.currency)
    parts = [
        f"{entry.ref}  {entry.recorded_at[:19]}Z  {entry.kind} {amount} → {balance}",
        f"by {entry.actor}" + (f": {entry.reason}" if entry.reason else ""),
        f"correlation {entry.correlation_id or '—'}  external ref {entry.external_ref or '—'}"
        + (f"  reverses {entry.reverses_entry_id}" if entry.reverses_entry_id else ""),
    ]
    return Text("\n".join(parts))


class AuditScreen(DataScreen):
    DEFAULT_CSS = """
    AuditScreen #audit-inputs { height: 3; }
    AuditScreen #audit-account { width: 2fr; }
    AuditScreen #audit-at { width: 1fr; }
    AuditScreen #audit-side { width: 30; }
    AuditScreen #audit-side.-accounts { width: 1fr; }
    AuditScreen #audit-main { width: 1fr; overflow-y: auto; }
    AuditScreen #audit-summary { height: auto; padding: 0 1; border: round $primary; }
    AuditScreen #history { height: 1fr; min-height: 6; }
    AuditScreen #entry-detail { max-height: 4; }
    AuditScreen #trace { height: 8; }
    AuditScreen.-short #trace { height: 5; }
    AuditScreen .section-title { text-style: bold; padding: 0 1; }
    """

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="audit.back"),
        # Each with a ctrl key too, so it stays in the footer (and works) while an input
        # has focus: there the letter is typed, never a binding (ui.keys).
        Binding("i,ctrl+g", "focus_account", "Account", id="audit.account",
                tooltip="Type an account id or ACCOUNT@ENTRY_ID"),
        Binding("b,ctrl+b", "focus_at", "Balance at", id="audit.at",
                tooltip="Balance (and history) as of a moment"),
        Binding("c,ctrl+t", "trace", "Correlation trace", id="audit.trace",
                tooltip="Every entry of the selected entry's request, across accounts"),
        Binding("o,ctrl+o", "open_trace_entry", "Open trace entry", id="audit.open_trace",
                tooltip="Open the selected correlation-trace entry's account at that entry"),
    ]  # fmt: skip

    def __init__(
        self,
        account_id: str | None = None,
        *,
        check: str | None = None,
        incident_id: str | None = None,
    ) -> None:
        super().__init__()
        self.account_id = account_id
        self.check = check
        self.incident_id = incident_id
        self.at_text = ""
        self.audit: AccountAudit | None = None
        self.trace_entries: list[AuditEntry] = []
        self.affected: list[str] = []

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="audit-inputs"):
            yield Input(
                value=self.account_id or "",
                placeholder="Account id or ACCOUNT@ENTRY_ID, enter (i)",
                id="audit-account",
            )
            yield Input(placeholder="Balance at: ISO time, enter (b)", id="audit-at")
        with Horizontal(id="audit-body"):
            with Vertical(id="audit-side", classes="-accounts" if self.incident_id else ""):
                title = (
                    f"Affected: {self.incident_id}"
                    if self.incident_id
                    else f"Affected: {self.check}"
                    if self.check
                    else "Affected accounts"
                )
                yield Label(title, id="affected-title", classes="section-title")
                yield DataTable(id="affected", cursor_type="row", zebra_stripes=True)
                yield Static(EMPTY_AFFECTED, id="affected-empty", classes="empty")
            with Vertical(id="audit-main"):
                yield Static("Type an account id and press enter.", id="audit-summary")
                yield Label("History, newest first (running balance)", classes="section-title")
                yield FittedTable(id="history", cursor_type="row", zebra_stripes=True)
                yield Static("", id="history-empty", classes="empty")
                yield Static("", id="entry-detail")
                yield Label("Correlation trace (c)", classes="section-title")
                yield DataTable(id="trace", cursor_type="row", zebra_stripes=True)
        yield KeyFooter()

    def on_mount(self) -> None:
        affected = self.query_one("#affected", DataTable)
        if self.incident_id:
            affected.add_columns(*ACCOUNTS_COLUMNS)
        else:
            affected.add_columns("Account")
        self._fill_history(0)  # its columns, for the width it has
        self.query_one("#trace", DataTable).add_columns(
            "Ref", "Recorded (UTC)", "Kind", "Amount", "Actor", "Reason"
        )
        if self.account_id:
            self.query_one("#history", DataTable).focus()
        elif self.check or self.incident_id:
            affected.focus()  # A from a group or incident: straight into its accounts
        else:
            self.query_one("#audit-account", Input).focus()
        super().on_mount()

    # -- loading ---------------------------------------------------------------------------

    def reload(self) -> None:
        self.load_affected()
        if self.account_id:
            self.load_account(self.account_id, self.at_text)

    def load_affected(self) -> None:
        db = self.services.db
        settings = self.services.settings
        incident_id, check = self.incident_id, self.check

        def load() -> AffectedLoaded:
            if not incident_id:
                return AffectedLoaded(affected_accounts(db, check))
            opened: list[Auditor] = []

            def balances(accounts: Sequence[str]) -> Mapping[str, AccountBalance]:
                auditor = Auditor.open(settings.ledger_url, settings.timezone)
                opened.append(auditor)
                return auditor.balances(accounts)

            try:
                report = incident_accounts_report(db, incident_id, balances)
            finally:
                for auditor in opened:
                    auditor.close()
            return AffectedLoaded([a.account_id for a in report.accounts], report)

        run_in_worker(self, load, group="audit-affected")

    def load_account(self, account: str, at_text: str) -> None:
        settings = self.services.settings

        def load() -> AuditLoaded:
            at = parse_moment(at_text) if at_text else None
            auditor = Auditor.open(settings.ledger_url, settings.timezone)
            try:
                return AuditLoaded(auditor.account(account, limit=200, at=at))
            finally:
                auditor.close()

        # Any error is shown on the screen; the app lives on.
        run_in_worker(self, load, group="audit-load")

    def load_trace(self, correlation_id: str) -> None:
        settings = self.services.settings

        def load() -> TraceLoaded:
            auditor = Auditor.open(settings.ledger_url, settings.timezone)
            try:
                return TraceLoaded(correlation_id, auditor.correlation(correlation_id))
            finally:
                auditor.close()

        run_in_worker(self, load, group="audit-trace", catch=IncidentbookError)

    # -- showing ---------------------------------------------------------------------------

    @on(AffectedLoaded)
    def show_affected(self, message: AffectedLoaded) -> None:
        self.affected = message.accounts
        table = self.query_one("#affected", DataTable)
        table.clear()
        self.query_one("#affected-empty", Static).display = not message.accounts
        if message.report is None:
            for account in message.accounts:
                table.add_row(account, key=account)
            return
        self.query_one("#affected-title", Label).update(summary_text(message.report))
        for cells in account_rows(message.report):
            account, cur, delta, stored, derived, check = cells
            table.add_row(
                account, cur, Text(delta, justify="right"), Text(stored, justify="right"),
                Text(derived, justify="right"), check, key=account,
            )  # fmt: skip

    @on(AuditLoaded)
    def show_audit(self, message: AuditLoaded) -> None:
        audit = self.audit = message.audit
        cur = audit.currency
        lines = [
            f"[b]{audit.account_id}[/b]  {cur or ''}  opened {(audit.opened_at or '—')[:19]}"
            + ("" if audit.exists else "  [red]not in ledger_accounts[/red]"),
            f"stored {_money(audit.stored_minor, cur)}   derived {_money(audit.derived_minor, cur)}"
            f"   difference {_money(audit.difference_minor, cur)}   {audit.entry_count:,} entries",
        ]
        if audit.at is not None:
            lines.append(f"balance at {audit.at[:19]}Z: {_money(audit.balance_at_minor, cur)}")
        if audit.ref:
            lines.append(f"opened at entry {audit.ref}")
        lines.append(f"days in {audit.timezone}")
        self.query_one("#audit-summary", Static).update("\n".join(lines))
        table = self.query_one("#history", DataTable)
        table.clear()
        empty = self.query_one("#history-empty", Static)
        empty.update(
            f"No entries for {audit.account_id}"
            + (" up to that moment — b: another moment" if audit.at else "")
            + ("" if audit.exists else " — not in the ledger: i: check the id")
        )
        empty.display = not audit.entries
        self._fill_history(0)

    def _fill_history(self, cursor: int) -> None:
        """Fill the history to the table's width, the cursor on row ``cursor``."""
        table = self.query_one("#history", DataTable)
        entries = self.audit.entries if self.audit is not None else []
        width = room(table, self.app.size.width * 2 // 3 - 3, rows=len(entries))
        columns, rows = history_rows(entries, width)
        # Columns anew every time: a DataTable's column keeps the widest width it has had,
        # so a narrower refill would still overflow.
        table.clear(columns=True)
        table.add_columns(*columns)
        for entry, row in zip(entries, rows, strict=True):
            table.add_row(*row, key=entry.ref)
        if table.row_count:
            table.move_cursor(row=max(0, min(cursor, table.row_count - 1)))
        self._show_entry()

    @on(FittedTable.Resized)
    def _history_resized(self, message: FittedTable.Resized) -> None:
        if message.table.id == "history" and self.audit is not None and self.audit.entries:
            self._fill_history(self.query_one("#history", DataTable).cursor_row)

    @on(DataTable.RowHighlighted, "#history")
    def _entry_highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._show_entry()

    def _show_entry(self) -> None:
        row = self.query_one("#history", DataTable).cursor_row
        detail = self.query_one("#entry-detail", Static)
        entries = self.audit.entries if self.audit is not None else []
        if 0 <= row < len(entries):
            detail.update(entry_detail(entries[row]))
        detail.display = bool(entries)

    @on(TraceLoaded)
    def show_trace(self, message: TraceLoaded) -> None:
        self.trace_entries = message.entries
        table = self.query_one("#trace", DataTable)
        table.clear()
        for e in message.entries:
            table.add_row(
                e.ref, e.recorded_at[:19], e.kind, _money(e.amount_minor, e.currency), e.actor,
                e.reason or "", key=e.ref,
            )  # fmt: skip

    def work_failed(self, message: WorkFailed) -> None:
        self.query_one("#audit-summary", Static).update(f"[red]{escape(message.error)}[/red]")
        self.notify(message.error, severity="error", timeout=8)

    # -- input and actions -----------------------------------------------------------------

    @on(Input.Submitted, "#audit-account")
    def _account_submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        if value:
            self.open_account(value)

    @on(Input.Submitted, "#audit-at")
    def _at_submitted(self, event: Input.Submitted) -> None:
        self.at_text = event.value.strip()
        self.query_one("#history", DataTable).focus()
        if self.account_id:
            self.load_account(self.account_id, self.at_text)

    @on(DataTable.RowSelected, "#affected")
    def _affected_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.open_account(str(event.row_key.value))

    def open_account(self, account: str) -> None:
        self.account_id = account
        self.query_one("#audit-account", Input).value = account
        self.query_one("#history", DataTable).focus()
        self.load_account(account, self.at_text)

    def action_focus_account(self) -> None:
        self.query_one("#audit-account", Input).focus()

    def action_focus_at(self) -> None:
        self.query_one("#audit-at", Input).focus()

    def action_trace(self) -> None:
        if self.audit is None or not self.audit.entries:
            self.notify("Open an account first.", severity="warning")
            return
        row = self.query_one("#history", DataTable).cursor_row
        entry = self.audit.entries[min(max(row, 0), len(self.audit.entries) - 1)]
        if not entry.correlation_id:
            self.notify(f"{entry.ref} has no correlation id.", severity="warning")
            return
        self.load_trace(entry.correlation_id)

    def action_open_trace_entry(self) -> None:
        if not self.trace_entries:
            self.notify("No correlation trace yet: select an entry and press c.")
            return
        row = self.query_one("#trace", DataTable).cursor_row
        entry = self.trace_entries[min(max(row, 0), len(self.trace_entries) - 1)]
        self.open_account(entry.ref)
