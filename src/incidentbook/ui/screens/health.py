"""Health: is incidentbook itself well? Counters, MTTA/MTTR, pending index work, schema."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid
from textual.message import Message
from textual.widgets import Footer, Header, Static

from incidentbook.clock import humanize_age
from incidentbook.core.health.stats import Stats
from incidentbook.ui.screens.base import DataScreen


@dataclass
class HealthLoaded(Message):
    stats: Stats
    extra: list[tuple[str, str]]


# Other parts add health panels as "module:function" -> list[(title, text)] (e.g. reconciler).
HEALTH_PANELS: list[str] = [
    "incidentbook.core.ledger.reconcile:health_panels",
]


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
        import importlib

        from incidentbook.core.health.stats import collect_stats

        stats = collect_stats(self.services.db)
        extra: list[tuple[str, str]] = []
        for target in HEALTH_PANELS:
            module_name, _, func_name = target.partition(":")
            panel = getattr(importlib.import_module(module_name), func_name)
            extra.extend(panel(self.services))
        extra.append(_action_items_panel(self.services.documents.action_counts()))
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


def _action_items_panel(counts: dict[str, int]) -> tuple[str, str]:
    """The action-item panel: open, overdue, done and dropped items."""
    body = "\n".join(
        f"{name:>10}  {counts.get(name, 0):,}" for name in ("open", "overdue", "done", "dropped")
    )
    return ("Action items", body)


def _panel(title: str, body: str) -> Static:
    panel = Static(body, classes="health-panel")
    panel.border_title = title
    return panel
