"""Health at a glance: the reconciler's lag and last run, discrepancies over full runs as
sparklines (accounts per check, money per currency), open alerts and incidents by severity,
MTTA/MTTR, overdue action items, incidentbook's own state; tiles that fill the screen."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid
from textual.message import Message
from textual.widgets import Header

from incidentbook.ui.screens.base import DataScreen
from incidentbook.ui.widgets.footer import KeyFooter
from incidentbook.ui.widgets.health_tiles import Tile, build_tiles, tile_widget
from incidentbook.ui.workers import run_in_worker


@dataclass
class HealthLoaded(Message):
    tiles: list[Tile]


class HealthScreen(DataScreen):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="health.back"),
        Binding("r", "refresh", "Refresh", id="health.refresh"),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Grid(id="health-grid")
        yield KeyFooter()

    def reload(self) -> None:
        health = self.services.health
        run_in_worker(self, lambda: HealthLoaded(build_tiles(health.report())), group="health-load")

    def action_refresh(self) -> None:
        self.reload()

    @on(HealthLoaded)
    async def show(self, message: HealthLoaded) -> None:
        grid = self.query_one("#health-grid", Grid)
        with self.app.batch_update():
            await grid.remove_children()  # the tiles' ids are reused: gone before the new
            await grid.mount_all(tile_widget(tile) for tile in message.tiles)
