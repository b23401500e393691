"""Fix forward in the app (DESIGN §4, the CLI's ``fix plan|apply|verify``): the plan for an
incident, per account before → after, a dry run, an apply after a confirmation with its
progress, and the proof. Every ledger read and write runs in a thread worker that posts
messages; workers never touch widgets."""

from __future__ import annotations

from dataclasses import dataclass

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable, Header, ProgressBar, Static

from incidentbook.core.fixes.model import AccountOutcome, Plan, PlanHeader
from incidentbook.core.fixes.service import ApplyReport, VerifyReport
from incidentbook.core.ledger.contract import open_ledger
from incidentbook.errors import IncidentbookError
from incidentbook.money import format_minor
from incidentbook.present import accounts_text, money_text
from incidentbook.text import plural
from incidentbook.ui.messages import DataChanged, WorkFailed
from incidentbook.ui.screens.base import DataScreen
from incidentbook.ui.screens.confirm_dialog import ConfirmDialog
from incidentbook.ui.widgets.footer import KeyFooter
from incidentbook.ui.workers import run_in_worker


@dataclass
class PlanLoaded(Message):
    plan: Plan
    header: PlanHeader
    created: bool


@dataclass
class OutcomesLoaded(Message):
    report: ApplyReport


@dataclass
class ApplyProgress(Message):
    done: int
    total: int


@dataclass
class Verified(Message):
    report: VerifyReport


def status_words(outcome: AccountOutcome, dry: bool) -> str:
    if outcome.status == "corrected":
        return "would correct" if dry else "corrected"
    words = outcome.status.replace("_", " ")
    return f"{words}: {'; '.join(outcome.reasons)}" if outcome.reasons else words


class FixScreen(DataScreen):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="fix.back"),
        Binding("d", "dry_run", "Dry run", id="fix.dry_run"),
        Binding("x", "apply", "Apply…", id="fix.apply", tooltip="Asks before writing"),
        Binding("v", "verify", "Verify", id="fix.verify"),
    ]

    def __init__(self, incident_id: str) -> None:
        super().__init__()
        self.incident_id = incident_id
        self.plan: Plan | None = None
        self.header: PlanHeader | None = None
        self.busy = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"Fix forward for {self.incident_id} — planning…", id="fix-summary")
        yield DataTable(id="fix-accounts", cursor_type="row", zebra_stripes=True)
        yield ProgressBar(id="fix-progress", show_eta=True)
        yield Static("", id="fix-status")
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one("#fix-accounts", DataTable)
        table.add_columns("Account", "Stored", "After", "Reversals")
        table.add_column("Status", key="status")
        table.add_column("Checks")
        table.focus()
        self.query_one("#fix-progress", ProgressBar).display = False
        super().on_mount()

    def reload(self) -> None:
        if self.plan is not None:
            return  # a plan is immutable: reloading would only make a new one
        services = self.services
        incident_id = self.incident_id

        def plan() -> PlanLoaded:
            ledger = open_ledger(services.settings.ledger_url)
            try:
                result = services.fixes.plan(services.context("fix plan in the app"),
                                             incident_id, ledger)  # fmt: skip
            finally:
                ledger.dispose()
            return PlanLoaded(result.plan, result.header, result.created)

        run_in_worker(self, plan, group="fix", catch=IncidentbookError)

    @on(PlanLoaded)
    def _show_plan(self, message: PlanLoaded) -> None:
        plan = self.plan = message.plan
        self.header = message.header
        totals = " · ".join(
            f"{c}: {accounts_text(t.accounts)}, {plural(t.reversals, 'reversal')}"
            f" ({format_minor(t.reversals_minor, c)})"
            for c, t in plan.totals_by_currency.items()
        )
        human = (
            f"\n{plural(len(plan.needs_human), 'finding')} left for a human: "
            + ", ".join(h.fingerprint for h in plan.needs_human[:5])
            + (" …" if len(plan.needs_human) > 5 else "")
            if plan.needs_human
            else ""
        )
        self.query_one("#fix-summary", Static).update(
            f"[b]{plan.plan_id}[/b] for {plan.incident_id}"
            f"{'' if message.created else ' (unchanged)'}  sha256 {message.header.sha256[:16]}…\n"
            f"{accounts_text(len(plan.accounts))}, {plural(plan.reversal_count, 'reversal')} on"
            f" {plan.ledger}\n{totals or 'nothing to correct'}{human}"
        )
        table = self.query_one("#fix-accounts", DataTable)
        table.clear()
        for a in plan.accounts:
            table.add_row(
                a.account_id,
                format_minor(a.stored_before_minor, a.currency),
                format_minor(a.derived_after_minor, a.currency),
                str(len(a.reversals)),
                "planned",
                ", ".join(a.checks),
                key=a.account_id,
            )
        self._status("d: dry run · x: apply (asks first) · v: verify")

    def _status(self, text: str) -> None:
        self.query_one("#fix-status", Static).update(text)

    def _ready(self) -> str | None:
        if self.plan is None:
            return "no plan yet"
        if self.busy:
            return "busy: wait for the running step"
        return None

    def action_dry_run(self) -> None:
        if (why := self._ready()) is not None or self.plan is None:
            self.notify(str(why), timeout=3)
            return
        services, plan_id = self.services, self.plan.plan_id
        self.busy = True

        def dry() -> OutcomesLoaded:
            ledger = open_ledger(services.settings.ledger_url)
            try:
                return OutcomesLoaded(services.fixes.dry_run(plan_id, ledger))
            finally:
                ledger.dispose()

        self._status("dry run…")
        run_in_worker(self, dry, group="fix", catch=IncidentbookError)

    def action_apply(self) -> None:
        if (why := self._ready()) is not None or self.plan is None:
            self.notify(str(why), timeout=3)
            return
        plan = self.plan

        def chosen(yes: bool | None) -> None:
            if yes:
                self._apply(plan)
            else:
                self._status("not applied: nothing written")

        self.app.push_screen(
            ConfirmDialog(
                f"Apply {plan.plan_id} to the ledger?",
                f"Writes {plan.reversal_count} reversals and the balances of"
                f" {accounts_text(len(plan.accounts))} into {plan.ledger}, batch by batch;"
                " every account is re-checked under lock and skipped if it changed.",
            ),
            chosen,
        )

    def _apply(self, plan: Plan) -> None:
        services = self.services
        self.busy = True
        bar = self.query_one("#fix-progress", ProgressBar)
        bar.display = True
        bar.update(total=max(len(plan.accounts), 1), progress=0)

        def progress(done: int, total: int) -> None:
            self.post_message(ApplyProgress(done, total))  # thread-safe; no widget touched

        def apply() -> OutcomesLoaded:
            ledger = open_ledger(services.settings.ledger_url, writable=True)
            try:
                report = services.fixes.apply(
                    services.context("fix apply in the app"),
                    plan.plan_id,
                    ledger,
                    progress=progress,
                )
            finally:
                ledger.dispose()
            return OutcomesLoaded(report)

        self._status("applying…")
        run_in_worker(self, apply, group="fix", catch=IncidentbookError)

    @on(ApplyProgress)
    def _progress(self, message: ApplyProgress) -> None:
        self.query_one("#fix-progress", ProgressBar).update(
            total=max(message.total, 1), progress=message.done
        )

    @on(OutcomesLoaded)
    def _show_outcomes(self, message: OutcomesLoaded) -> None:
        self.busy = False
        report = message.report
        table = self.query_one("#fix-accounts", DataTable)
        for o in report.outcomes:
            if o.account_id in table.rows:
                table.update_cell(o.account_id, "status", status_words(o, report.dry_run))
        t = report.totals
        what = "dry run, nothing written" if report.dry_run else "applied"
        verb = "would be corrected" if report.dry_run else "corrected"
        self._status(
            f"{report.plan_id} {what}: {t.corrected} of {accounts_text(t.accounts)} {verb},"
            f" {t.already_correct} already correct, {plural(t.conflicts, 'conflict')};"
            f" reversals Δ {money_text(t.reversals_minor_by_currency, '0')}"
            + ("" if report.dry_run else " · run reconcile to prove it (v verifies now)")
        )
        if not report.dry_run:
            self.app.post_message(DataChanged("fix"))

    def action_verify(self) -> None:
        if (why := self._ready()) is not None or self.plan is None:
            self.notify(str(why), timeout=3)
            return
        services, plan_id = self.services, self.plan.plan_id

        def verify() -> Verified:
            ledger = open_ledger(services.settings.ledger_url)
            try:
                return Verified(services.fixes.verify(plan_id, ledger))
            finally:
                ledger.dispose()

        run_in_worker(self, verify, group="fix", catch=IncidentbookError)

    @on(Verified)
    def _show_verified(self, message: Verified) -> None:
        report = message.report
        bad = [a for a in report.accounts if not a.ok]
        self._status(
            f"{report.plan_id}: {len(report.accounts) - len(bad)} of"
            f" {accounts_text(len(report.accounts))} verified"
            + (": findings gone, balances equal history, nothing else changed" if not bad
               else f"; not yet: {', '.join(a.account_id for a in bad[:5])}")
        )  # fmt: skip

    def work_failed(self, message: WorkFailed) -> None:
        self.busy = False
        self._status(f"[b]error:[/b] {escape(message.error)}")  # an error may quote [ledger]
