"""Health: is incidentbook itself well? Counters, MTTA/MTTR, pending index work, schema."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid
from textual.message import Message
from textual.widgets import Footer, Header, Static

from incidentbook.clock import humanize_age
from incidentbook.core.health.stats import Stats, collect_stats
from incidentbook.core.ledger.reconcile.model import ReconcilerHealth
from incidentbook.services import Services
from incidentbook.ui.screens.base import DataScreen


@dataclass
class HealthLoaded(Message):
    stats: Stats
    extra: list[tuple[str, str]]


Panels = Callable[[Services], list[tuple[str, str]]]


def reconciler_text(health: ReconcilerHealth) -> list[tuple[str, str]]:
    """The reconciler's panels: last run and its age (lag), an unfinished run's progress,
    findings per check over the last runs."""
    if not health.ever_run:
        return [("Reconciler", "never run\n\nincidentbook reconcile")]
    lines = []
    last = health.last_complete
    if last is not None and health.lag_seconds is not None:
        lines.append(
            f"last run {last.run_id} ({last.mode})\nfinished {humanize_age(health.lag_seconds)} ago"
        )
    running = health.unfinished
    if running is not None:
        lines.append(
            f"unfinished {running.run_id}: {running.phase}, {running.batches} batches\n(--resume)"
        )
    if health.pruned_runs:
        lines.append(f"{health.pruned_runs} older runs kept as summaries\n([reconciler] keep_runs)")
    trend = [
        f"{run.started_at[5:16]} {run.mode[:4]} " + " ".join(str(n) for n in run.found.values())
        for run in health.trend
    ]
    return [
        ("Reconciler", "\n".join(lines)),
        ("Findings per run (" + " ".join(c[:4] for c in health.checks) + ")", "\n".join(trend)),
    ]


def reconciler_panels(services: Services) -> list[tuple[str, str]]:
    return reconciler_text(services.reconciler.health())


# The panels other parts add after the counters, each -> list[(title, text)].
def action_items_panels(services: Services) -> list[tuple[str, str]]:
    """The action-item panel: open, overdue, done and dropped items."""
    counts = services.documents.action_counts()
    body = "\n".join(
        f"{name:>10}  {counts.get(name, 0):,}" for name in ("open", "overdue", "done", "dropped")
    )
    return [("Action items", body)]


HEALTH_PANELS: list[Panels] = [reconciler_panels, action_items_panels]


def _counts(values: dict[str, int]) -> str:
    return "\n".join(f"{k:>14}  {v:,}" for k, v in sorted(values.items())) or "none"


class HealthScreen(DataScreen):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back", id="health.back")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Grid(id="health-grid")
        yield Footer()

    def reload(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, group="health-load")
    def load(self) -> None:
        stats = collect_stats(self.services.db)
        extra: list[tuple[str, str]] = []
        for panels in HEALTH_PANELS:
            extra.extend(panels(self.services))
        self.post_message(HealthLoaded(stats, extra))

    @on(HealthLoaded)
    def show(self, message: HealthLoaded) -> None:
        s = message.stats
        mtta = humanize_age(s.mtta_seconds) if s.mtta_seconds is not None else "—"
        mttr = humanize_age(s.mttr_seconds) if s.mttr_seconds is not None else "—"
        panels = [
            ("Incidents", _counts(s.incidents_by_status)),
            ("Open incidents by severity", _counts(s.incidents_open_by_severity)),
            ("Alerts", _counts(s.alerts_by_status)),
            ("Firing alerts by severity", _counts(s.alerts_firing_by_severity)),
            ("Response", f"MTTA {mtta}\nMTTR {mttr}"),
            (
                "State",
                f"schema {s.schema_revision}\nevents {s.events_total:,}\n"
                f"index queue {s.outbox_pending:,}\ndb {s.database_bytes / 1e6:.1f} MB",
            ),
            *message.extra,
        ]
        grid = self.query_one("#health-grid", Grid)
        grid.remove_children()
        grid.mount_all(_panel(title, body) for title, body in panels)


def _panel(title: str, body: str) -> Static:
    panel = Static(body, classes="health-panel")
    panel.border_title = title
    return panel
