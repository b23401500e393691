"""Reconcile now: ``services.reconciler.run`` (``incidentbook reconcile``) in a thread worker,
its progress as a bar per phase and a line per phase, its findings becoming alerts.

The screen is installed on the app (``reconcile_screen``), so leaving it (escape) leaves the
run going; opening it again shows the run, and asking for a second run while one is going
says so instead. The run scans in this process (``jobs=1``): no scan processes are forked
from the app's threads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Header, Label, ProgressBar, Static

from incidentbook.errors import IncidentbookError
from incidentbook.ui.messages import DataChanged, WorkFailed
from incidentbook.ui.screens.base import DataScreen
from incidentbook.ui.widgets.footer import KeyFooter
from incidentbook.ui.workers import run_in_worker

if TYPE_CHECKING:
    from incidentbook.core.ledger.reconcile.model import RunSummary
    from incidentbook.settings import Settings

SCREEN_NAME = "reconcile-now"


@dataclass
class ReconcileProgress(Message):
    phase: str
    done: int
    total: int


@dataclass
class ReconcileDone(Message):
    summary: RunSummary


def summary_lines(summary: RunSummary) -> list[str]:
    """What a finished run found, as ``incidentbook reconcile`` prints it."""
    resumed = " (resumed)" if summary.resumed else ""
    lines = [
        f"run {summary.run_id} [{summary.mode}]{resumed} on {summary.ledger}: "
        f"{summary.found:,} findings in {summary.batches:,} batches"
    ]
    for check, counts in summary.checks.items():
        lines.append(
            f"  {check:18} found {counts['found']:>7,}  new {counts['new']:>7,}  "
            f"resolved {counts['resolved']:>7,}"
        )
    return lines


class ReconcileScreen(DataScreen):
    DEFAULT_CSS = """
    ReconcileScreen #reconcile-body { height: 1fr; padding: 1 2; }
    ReconcileScreen #reconcile-phase { height: 1; }
    ReconcileScreen #reconcile-bar { height: 1; margin: 1 0; }
    ReconcileScreen #reconcile-log { height: 1fr; }
    """

    BINDINGS = [Binding("escape", "app.pop_screen", "Back", id="reconcile.back")]

    def __init__(self) -> None:
        super().__init__()
        self.running = False
        self.phase = ""
        self.phases: list[str] = []  # the phases seen, in order, for the log
        self.last: RunSummary | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="reconcile-body"):
            yield Label("Reconcile the ledger", classes="section-title")
            yield Static("", id="reconcile-phase", markup=False)
            yield ProgressBar(id="reconcile-bar", show_eta=False)
            yield Static("", id="reconcile-log", markup=False)
        yield KeyFooter()

    def on_mount(self) -> None:
        super().on_mount()
        ledger = _shown_url(self.services.settings)
        self.query_one("#reconcile-phase", Static).update(f"ledger: {ledger} · R: run now")

    # -- the run -------------------------------------------------------------------------

    def start(self) -> bool:
        """Start a run; False (and nothing started) when one is going."""
        if self.running:
            return False
        self.running = True
        self.phases = []
        self.phase = "starting"
        self.query_one("#reconcile-bar", ProgressBar).update(total=None, progress=0)
        self.query_one("#reconcile-phase", Static).update("starting…")
        self.query_one("#reconcile-log", Static).update("")
        services = self.services

        def report(phase: str, done: int, total: int) -> None:  # in the worker's thread
            self.post_message(ReconcileProgress(phase, done, total))

        def run() -> ReconcileDone:
            # Deferred: the reconciler's model module pulls in the ledger contract.
            from incidentbook.core.ledger.reconcile.model import ReconcileOptions

            ctx = services.context(
                f"reconcile now, from the app ({services.settings.actor})", actor="reconciler"
            )
            options = ReconcileOptions(mode="auto", progress=report, jobs=1)
            return ReconcileDone(services.reconciler.run(ctx, options))

        run_in_worker(self, run, group="reconcile-run", catch=IncidentbookError)
        return True

    def describe(self) -> str:
        return f"a reconcile run is going ({self.phase})" if self.running else "no run going"

    @on(ReconcileProgress)
    def _progress(self, message: ReconcileProgress) -> None:
        if message.phase != self.phase or not self.phases:
            self.phases.append(message.phase)
        self.phase = message.phase
        total = max(message.total, message.done, 1)
        self.query_one("#reconcile-bar", ProgressBar).update(total=total, progress=message.done)
        self.query_one("#reconcile-phase", Static).update(
            f"{message.phase}: {message.done:,} of {total:,}"
        )
        self.query_one("#reconcile-log", Static).update(
            "\n".join(f"✓ {p}" for p in self.phases[:-1]) + f"\n… {message.phase}"
        )

    @on(ReconcileDone)
    def _done(self, message: ReconcileDone) -> None:
        self.running = False
        self.last = message.summary
        lines = summary_lines(message.summary)
        bar = self.query_one("#reconcile-bar", ProgressBar)
        bar.update(total=1, progress=1)
        self.query_one("#reconcile-phase", Static).update("done")
        self.query_one("#reconcile-log", Static).update("\n".join(lines))
        found = message.summary.found
        self.app.notify(
            f"reconcile run {message.summary.run_id}: {found:,} finding{'s' if found != 1 else ''}"
            + (" (firing as alerts)" if found else ""),
            severity="warning" if found else "information",
            timeout=8,
        )
        self.app.post_message(DataChanged("reconcile"))

    def work_failed(self, message: WorkFailed) -> None:
        self.running = False
        self.phase = ""
        self.query_one("#reconcile-phase", Static).update("failed")
        self.query_one("#reconcile-log", Static).update(message.error)
        self.app.notify(message.error, title="Reconcile failed", severity="error", timeout=10)


def _shown_url(settings: Settings) -> str:
    """The ledger's URL without its password; a SQLite file in the workspace by its path
    there, as the configuration names it."""
    # Deferred: the ledger contract pulls in SQLAlchemy, which the first paint does not need.
    from incidentbook.core.ledger.contract import redact

    url = redact(settings.ledger_url)
    inside = f"sqlite:///{settings.workspace}/"
    return "sqlite:///" + url.removeprefix(inside) if url.startswith(inside) else url


def reconcile_screen(app: App[Any]) -> ReconcileScreen:
    """The app's one Reconcile screen (installed on first use, so a run outlives leaving it)."""
    if not app.is_screen_installed(SCREEN_NAME):
        app.install_screen(ReconcileScreen(), SCREEN_NAME)
    screen = app.get_screen(SCREEN_NAME)
    assert isinstance(screen, ReconcileScreen)
    return screen


def reconcile_now(app: App[Any]) -> None:
    """Show the Reconcile screen and start a run there, or say that one is going."""
    screen = reconcile_screen(app)
    if app.screen is not screen:
        app.push_screen(screen)
    if screen.is_mounted:
        _start_or_say(screen)
    else:
        app.call_after_refresh(_start_or_say, screen)


def _start_or_say(screen: ReconcileScreen) -> None:
    if not screen.start():
        screen.app.notify(f"{screen.describe()}; it goes on while you work", timeout=5)
