"""Triage refresh over many firing reconciler alerts (issue 12, DESIGN §4 "A group's impact").

    python -m bench triage [--faults=1250] [--rounds=30]

The workspace of ``bench_groups`` (its ``reconciled_workspace``: 5,000 firing reconciler
alerts over 4 groups by default). In one headless Textual run at 160x50
(``app.run_test(size=(160, 50))``), ``--rounds`` times, median and best:

- ours: the Triage screen reloads; from the moment its worker posts ``TriageLoaded`` (the
  data is loaded) to the compositor rendering the group table's last line for it (after a
  ``call_after_refresh`` set once the table is filled, then a few pauses so the DataTable's
  own idle measures the rows and the screen repaints them);
- reference (the bare Textual floor), in the same process: a bare App whose thread worker
  posts a message with the same number of rows, a handler that fills one DataTable with them,
  the same marks.

Target: the group table repaints within 150 ms of the data being loaded (the ratio to the
floor is reported beside it).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import App, ComposeResult
from textual.message import Message
from textual.widgets import DataTable

from bench import save_result
from bench.bench_groups import CHECKS, reconciled_workspace

SIZE = (160, 50)
TARGET_MS = 150.0


def _arg(argv: list[str], name: str, default: int) -> int:
    for arg in argv:
        if arg.startswith(f"--{name}="):
            return int(arg.split("=", 1)[1])
    return default


class Timings:
    """Marks of one round, as ``time.perf_counter`` seconds: loaded (the message posted), the
    table's last line rendered by the compositor (``watch``), refreshed (``call_after_refresh``
    once the table is filled). A round's sample: loaded to the table's last line painted
    (the DataTable measures its new rows on its own idle, so a refresh callback alone can
    come before the rows are on screen)."""

    def __init__(self) -> None:
        self.loaded = 0.0
        self.rendered = 0.0
        self.renders = 0
        self.painted: asyncio.Event | None = None
        self.samples: list[float] = []

    def watch(self, table: DataTable[Any]) -> None:
        """Note every line the compositor renders of ``table`` (a measuring hook only)."""
        render_line = table.render_line

        def timed(y: int) -> Any:
            strip = render_line(y)
            self.rendered = time.perf_counter()
            self.renders += 1
            return strip

        table.render_line = timed  # type: ignore[method-assign]

    def start(self) -> asyncio.Event:
        self.painted = asyncio.Event()
        return self.painted

    def mark_loaded(self) -> None:
        self.loaded = time.perf_counter()

    def mark_painted(self) -> None:
        assert self.painted is not None
        self.painted.set()


async def rounds(timings: Timings, reload: Callable[[], None], count: int,
                 pause: Callable[[], Any]) -> None:  # fmt: skip
    for _ in range(count):
        painted = timings.start()
        before = timings.renders
        reload()
        await asyncio.wait_for(painted.wait(), timeout=30)
        for _ in range(5):  # let the table's own idle measure and the screen repaint it
            await pause()
        assert timings.renders > before, "the table was not repainted"
        timings.samples.append(timings.rendered - timings.loaded)


def ours(faults: int, count: int) -> dict[str, Any]:
    from incidentbook.ui.app import make_app
    from incidentbook.ui.screens.triage import TriageLoaded, TriageScreen

    timings = Timings()

    class TimedTriage(TriageScreen):
        """Triage with the two marks; its own handler runs before the screen's ``show``."""

        def post_message(self, message: Message) -> bool:
            if isinstance(message, TriageLoaded):
                timings.mark_loaded()
            return super().post_message(message)

        def on_triage_loaded(self, _message: TriageLoaded) -> None:
            self.call_after_refresh(timings.mark_painted)

    with tempfile.TemporaryDirectory(prefix="ib-bench-") as tmp:
        setup = reconciled_workspace(faults, Path(tmp))
        services = setup.services
        groups = services.alerts.groups()
        assert {g.key for g in groups} == set(CHECKS), [g.key for g in groups]
        firing = sum(g.firing for g in groups)
        assert firing == len(setup.expected), (firing, len(setup.expected))
        app = make_app(services.settings, services)

        async def run() -> int:
            async with app.run_test(size=SIZE) as pilot:
                await pilot.pause()
                screen = TimedTriage()
                painted = timings.start()
                await app.push_screen(screen)
                await asyncio.wait_for(painted.wait(), timeout=60)  # the first load
                table = screen.query_one("#groups", DataTable)
                timings.watch(table)
                await rounds(timings, screen.load, count, pilot.pause)
                return table.row_count

        rows = asyncio.run(run())
        services.db.dispose()
    assert rows == len(CHECKS), rows
    return {"firing_alerts": firing, "groups": rows, "samples": timings.samples}


@dataclass
class RowsLoaded(Message):
    rows: list[tuple[str, ...]]


class BareApp(App[None]):
    """The floor: one DataTable, filled from a worker's message."""

    def __init__(self, rows: list[tuple[str, ...]], timings: Timings) -> None:
        super().__init__()
        self.rows = rows
        self.timings = timings

    def compose(self) -> ComposeResult:
        yield DataTable(id="groups", cursor_type="row")

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*(f"c{i}" for i in range(len(self.rows[0]))))

    @work(thread=True, exclusive=True)
    def load(self) -> None:
        self.timings.mark_loaded()
        self.post_message(RowsLoaded(list(self.rows)))

    @on(RowsLoaded)
    def show(self, message: RowsLoaded) -> None:
        table = self.query_one(DataTable)
        table.clear()
        for i, row in enumerate(message.rows):
            table.add_row(*row, key=str(i))
        self.call_after_refresh(self.timings.mark_painted)


def reference(row_count: int, count: int) -> list[float]:
    rows = [(f"group_{i}", "critical", "1,250", "1,250 accounts", "Δ 12,043.31 EUR", "—")
            for i in range(row_count)]  # fmt: skip
    timings = Timings()
    app = BareApp(rows, timings)

    async def run() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            timings.watch(app.query_one(DataTable))
            await rounds(timings, app.load, 3, pilot.pause)  # warm up like ours' first load
            timings.samples.clear()
            await rounds(timings, app.load, count, pilot.pause)

    asyncio.run(run())
    return timings.samples


def bench(faults: int, count: int) -> dict[str, Any]:
    got = ours(faults, count)
    floor = reference(got["groups"], count)
    ours_ms = statistics.median(got["samples"]) * 1000
    floor_ms = statistics.median(floor) * 1000
    return {
        "firing_alerts": got["firing_alerts"],
        "groups": got["groups"],
        "size": list(SIZE),
        "rounds": count,
        "triage_loaded_to_repaint_median_ms": ours_ms,
        "triage_loaded_to_repaint_best_ms": min(got["samples"]) * 1000,
        "triage_loaded_to_repaint_max_ms": max(got["samples"]) * 1000,
        "bare_datatable_median_ms": floor_ms,
        "bare_datatable_best_ms": min(floor) * 1000,
        "ratio_triage_vs_bare": ours_ms / floor_ms,
        "target_ms": TARGET_MS,
        "met": ours_ms < TARGET_MS,
    }


def main(argv: list[str]) -> None:
    r = bench(_arg(argv, "faults", 1250), _arg(argv, "rounds", 30))
    print(
        f"Triage refresh, {r['firing_alerts']} firing reconciler alerts over {r['groups']} "
        f"groups, headless {SIZE[0]}x{SIZE[1]} (median of {r['rounds']}):\n"
        f"  TriageLoaded posted -> group table repainted: "
        f"{r['triage_loaded_to_repaint_median_ms']:.1f} ms (best "
        f"{r['triage_loaded_to_repaint_best_ms']:.1f}, max "
        f"{r['triage_loaded_to_repaint_max_ms']:.1f}; target < {TARGET_MS:.0f} ms)\n"
        f"  bare App, one DataTable of {r['groups']} rows (reference): "
        f"{r['bare_datatable_median_ms']:.1f} ms\n"
        f"  ratio ours/reference: {r['ratio_triage_vs_bare']:.2f}x: "
        f"{'met' if r['met'] else 'MISSED'}"
    )
    save_result("triage", r)


if __name__ == "__main__":
    main(sys.argv[1:])
