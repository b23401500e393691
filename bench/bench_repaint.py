"""Key-to-repaint latency on Triage and Search, demo workspace at 20,000 accounts (issue 14).

    python -m bench repaint [--accounts=20000] [--presses=200] [--width=120] [--height=40]

The demo workspace (``incidentbook demo``: the 20,000-account ledger reconciled, its findings
firing as alerts, past incidents, postmortems, the search index) and the real app, headless
(``App.run_test(size=...)``). For each key press:

- start: just before ``pilot.press`` hands the key to the driver (``driver.send_message``,
  the path a terminal's key takes once parsed);
- end: the first frame the compositor renders *after the key's effect is in the widgets*.
  ``App._display`` is wrapped on the instance: every screen refresh ends in it with the
  compositor's update (headless, Textual renders it and skips the write; the wrapper also
  encodes it to the terminal's byte string, ``render_segments``, so a frame costs what it
  would in a terminal). At each frame a probe reads the state the key must have changed; the
  first frame whose probe holds is the repaint. The probe is read in the same synchronous
  call as the render, so the frame shows what the probe saw.

The probes: Triage j/k on the alert-group table, the cursor on the row it must reach and the
detail beside naming that row's group; Search, typing
a query letter by letter, two marks: the letter echoed in the box, and the results for the
whole query so far listed (``last_query``: the worker's hits shown); then j/k in the results
(the highlighted option). The runbook and "seen before" panels load in their own workers after
a selection: that is slow work off the key path, not part of the repaint.

Reference (the bare Textual floor), in the same run and size: a bare App with one DataTable of
the same rows and columns as Triage's group table (j/k bound to its cursor), and a bare App
with an Input and an OptionList refilled synchronously on every change with as many two-line
options as our search shows. Between presses the app is let settle (its workers finish).

Beside each wall-clock figure, the UI thread's CPU time over the same press
(``time.thread_time``, to the last mark): on shared cores the wall clock also counts the time
the process waited for a core, which the floor's figures show the size of.

Target: p99 under 100 ms for every measure of ours (wall clock); the ratio to the floor is
reported beside.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, OptionList, Static
from textual.worker import WorkerCancelled, WorkerState

from bench import save_result
from bench.bench_search import pct

TARGET_MS = 100.0
WORDS = ("webhook retry", "duplicate posting", "balance mismatch", "idempotency")


def _arg(argv: list[str], name: str, default: int) -> int:
    for arg in argv:
        if arg.startswith(f"--{name}="):
            return int(arg.split("=", 1)[1])
    return default


class Frames:
    """Wraps ``app._display``: notes the time of the first frame at which each probe holds."""

    def __init__(self, app: App[Any]) -> None:
        self.probes: dict[str, Callable[[], bool]] = {}
        self.at: dict[str, float] = {}
        self.cpu_at: dict[str, float] = {}
        self.cpu: list[float] = []  # per press, the UI thread's CPU seconds to the last mark
        self.seen = asyncio.Event()
        display = app._display

        def timed(screen: Any, renderable: Any) -> None:
            display(screen, renderable)
            if renderable is None:
                return
            if hasattr(renderable, "render_segments"):
                renderable.render_segments(app.console)  # what a terminal would be sent
            now, cpu = time.perf_counter(), time.thread_time()
            for name, probe in list(self.probes.items()):
                if probe():
                    self.at[name], self.cpu_at[name] = now, cpu
                    del self.probes[name]
            if not self.probes:
                self.seen.set()

        app._display = timed  # type: ignore[method-assign]

    async def marks(
        self, pilot: Pilot[Any], key: str, probes: dict[str, Callable[[], bool]]
    ) -> dict[str, float]:
        """Seconds from the key to the first frame showing each probe true."""
        self.seen = asyncio.Event()
        self.at, self.cpu_at = {}, {}
        self.probes = dict(probes)
        started, cpu = time.perf_counter(), time.thread_time()
        await pilot.press(key)
        await asyncio.wait_for(self.seen.wait(), timeout=30)
        self.cpu.append(max(self.cpu_at.values()) - cpu)
        return {name: at - started for name, at in self.at.items()}

    async def press(self, pilot: Pilot[Any], key: str, probe: Callable[[], bool]) -> float:
        """Seconds from the key to the first frame showing ``probe`` true."""
        return (await self.marks(pilot, key, {"done": probe}))["done"]


async def settle(pilot: Pilot[Any]) -> None:
    """Let messages flow and workers finish (as between an operator's key presses)."""
    app = pilot.app
    for _ in range(100):
        await pilot.pause()
        try:
            await app.workers.wait_for_complete()
        except WorkerCancelled:
            continue
        if not [w for w in app.workers if w.state in (WorkerState.PENDING, WorkerState.RUNNING)]:
            await pilot.pause()
            return
    raise AssertionError("the app did not settle")


def walk(rows: int, presses: int) -> list[tuple[str, int]]:
    """j down to the last row, k up to the first, again: (key, the row it must reach)."""
    out: list[tuple[str, int]] = []
    row, step = 0, 1
    while len(out) < presses:
        if not 0 <= row + step < rows:
            step = -step
        row += step
        out.append(("j" if step > 0 else "k", row))
    return out


def typed(words: tuple[str, ...], letters: int) -> list[str]:
    """The queries to type, word after word, about ``letters`` letters in all."""
    out: list[str] = []
    while sum(len(w) for w in out) < letters:
        out.append(words[len(out) % len(words)])
    return out


def key_name(char: str) -> str:
    return "space" if char == " " else char


# -- ours -------------------------------------------------------------------------------------


def build_workspace(root: Path, accounts: int) -> Any:
    from incidentbook.demo.model import DemoOptions
    from incidentbook.demo.run import build_demo
    from incidentbook.services import make_services
    from incidentbook.settings import load_settings
    from incidentbook.workspace import init_workspace

    init_workspace(root)
    services = make_services(load_settings(root, actor="user:bench"))
    build_demo(services, DemoOptions(accounts=accounts))
    return services


async def ours(services: Any, size: tuple[int, int], presses: int) -> dict[str, Any]:
    from incidentbook.ui.app import make_app
    from incidentbook.ui.screens.search import SearchScreen
    from incidentbook.ui.screens.triage import TriageScreen

    app = make_app(services.settings, services)
    out: dict[str, Any] = {}
    async with app.run_test(size=size) as pilot:
        frames = Frames(app)
        while not app.db_ready:
            await asyncio.sleep(0.01)
        await settle(pilot)
        triage = app.screen
        assert isinstance(triage, TriageScreen)
        groups = triage.query_one("#groups", DataTable)
        detail = triage.query_one("#triage-detail", Static)
        groups.focus()
        await settle(pilot)
        keys = [g.key for g in triage.groups]
        out["triage_rows"] = len(keys)
        out["triage_columns"] = [str(c.label) for c in groups.columns.values()]
        out["triage_cells"] = [
            [str(c) for c in groups.get_row_at(r)] for r in range(groups.row_count)
        ]
        groups.move_cursor(row=0)
        await settle(pilot)
        frames.cpu = []
        samples: list[float] = []
        for key, row in walk(len(keys), presses):
            samples.append(
                await frames.press(
                    pilot, key,
                    lambda r=row: groups.cursor_row == r
                    and f"[b]{keys[r]}[/b]" in str(detail.content),
                )
            )  # fmt: skip
            await settle(pilot)
        out["triage_jk"], out["triage_jk_cpu"] = samples, frames.cpu

        await pilot.press("slash")
        await settle(pilot)
        search = app.screen
        assert isinstance(search, SearchScreen)
        box = search.query_one("#search-input", Input)
        results = search.query_one("#search-results", OptionList)
        echo, listed, option_counts = await _type_words(
            pilot, frames, box, results, lambda: search.last_query, presses
        )
        out["search_echo"] = echo
        out["search_results"], out["search_results_cpu"] = listed, frames.cpu
        out["search_options"] = max(option_counts)
        # Move in the results of the last query: down (into the list), then j/k.
        box.value = "incident"
        await settle(pilot)
        await pilot.press("down")
        await settle(pilot)
        assert app.focused is results, app.focused
        moves: list[float] = []
        results.highlighted = 0
        await settle(pilot)
        frames.cpu = []
        for key, row in walk(results.option_count, presses):
            moves.append(await frames.press(pilot, key, lambda r=row: results.highlighted == r))
            await settle(pilot)
        out["search_jk"], out["search_jk_cpu"] = moves, frames.cpu
        out["search_rows"] = results.option_count
    return out


# -- the bare Textual floor -------------------------------------------------------------------


class BareTable(App[None]):
    BINDINGS = [Binding("j", "down"), Binding("k", "up")]

    def __init__(self, columns: list[str], rows: list[list[str]]) -> None:
        super().__init__()
        self.columns, self.rows = columns, rows

    def compose(self) -> ComposeResult:
        yield DataTable(cursor_type="row")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(*self.columns)
        for row in self.rows:
            table.add_row(*row)
        table.focus()

    def action_down(self) -> None:
        self.query_one(DataTable).action_cursor_down()

    def action_up(self) -> None:
        self.query_one(DataTable).action_cursor_up()


class BareSearch(App[None]):
    BINDINGS = [Binding("j", "down"), Binding("k", "up")]

    def __init__(self, options: int) -> None:
        super().__init__()
        self.options = options
        self.last_query = ""

    def compose(self) -> ComposeResult:
        yield Input()
        yield OptionList()

    def on_input_changed(self, event: Input.Changed) -> None:
        results = self.query_one(OptionList)
        results.clear_options()
        results.add_options(
            f" incident  INC-{i:04d}  2026-10-17  a result for {event.value}\n"
            f"   the snippet of result {i} with {event.value} highlighted in it"
            for i in range(self.options)
        )
        results.highlighted = 0
        self.last_query = event.value

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not isinstance(self.focused, Input) or action not in ("down", "up")

    def action_down(self) -> None:
        self.query_one(OptionList).action_cursor_down()

    def action_up(self) -> None:
        self.query_one(OptionList).action_cursor_up()


async def bare(got: dict[str, Any], size: tuple[int, int], presses: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    table_app = BareTable(got["triage_columns"], got["triage_cells"])
    async with table_app.run_test(size=size) as pilot:
        frames = Frames(table_app)
        await settle(pilot)
        table = table_app.query_one(DataTable)
        frames.cpu = []
        out["table_jk"] = [
            await _then_settle(pilot, frames.press(pilot, key, lambda r=row: table.cursor_row == r))
            for key, row in walk(table.row_count, presses)
        ]
        out["table_jk_cpu"] = frames.cpu
    search_app = BareSearch(max(got["search_options"], 1))
    async with search_app.run_test(size=size) as pilot:
        frames = Frames(search_app)
        await settle(pilot)
        box = search_app.query_one(Input)
        results = search_app.query_one(OptionList)
        echo, listed, _counts = await _type_words(
            pilot, frames, box, results, lambda: search_app.last_query, presses
        )
        out["search_echo"], out["search_results"] = echo, listed
        out["search_results_cpu"] = frames.cpu
        results.focus()
        results.highlighted = 0
        await settle(pilot)
        frames.cpu = []
        out["search_jk"] = [
            await _then_settle(
                pilot, frames.press(pilot, key, lambda r=row: results.highlighted == r)
            )
            for key, row in walk(results.option_count, presses)
        ]
        out["search_jk_cpu"] = frames.cpu
    return out


async def _then_settle(pilot: Pilot[Any], measured: Awaitable[float]) -> float:
    value = await measured
    await settle(pilot)
    return value


# -- report -----------------------------------------------------------------------------------

MEASURES = (
    # (name, ours key, floor key, what)
    ("triage_jk", "triage_jk", "table_jk", "Triage j/k on the group table"),
    ("search_echo", "search_echo", "search_echo", "Search, a letter typed -> echoed"),
    ("search_results", "search_results", "search_results", "Search, a letter typed -> results"),
    ("search_jk", "search_jk", "search_jk", "Search, j/k in the results"),
)


def figures(samples: list[float]) -> dict[str, float]:
    return {f"p{p}_ms": pct(samples, p) * 1000 for p in (50, 95, 99)} | {
        "max_ms": max(samples) * 1000, "n": float(len(samples))
    }  # fmt: skip


def bench(accounts: int, presses: int, size: tuple[int, int]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ib-bench-repaint-") as tmp:
        started = time.perf_counter()
        services = build_workspace(Path(tmp) / "ws", accounts)
        built_s = time.perf_counter() - started
        try:
            got = asyncio.run(ours(services, size, presses))
        finally:
            services.db.dispose()
    floor = asyncio.run(bare(got, size, presses))
    result: dict[str, Any] = {
        "accounts": accounts, "size": list(size), "presses": presses,
        "workspace_built_s": built_s, "triage_rows": got["triage_rows"],
        "search_options": got["search_options"], "target_p99_ms": TARGET_MS,
    }  # fmt: skip
    met = True
    for name, mine, theirs, _what in MEASURES:
        a, b = figures(got[mine]), figures(floor[theirs])
        result[name] = {"ours": a, "bare": b, "ratio_p99": a["p99_ms"] / max(b["p99_ms"], 1e-6)}
        if f"{mine}_cpu" in got:  # the UI thread's CPU time over the same presses
            result[name]["ours_cpu"] = figures(got[f"{mine}_cpu"])
            result[name]["bare_cpu"] = figures(floor[f"{theirs}_cpu"])
        met = met and a["p99_ms"] < TARGET_MS
    result["met"] = met
    return result


async def _type_words(
    pilot: Pilot[Any],
    frames: Frames,
    box: Input,
    results: OptionList,
    searched: Callable[[], str | None],
    presses: int,
) -> tuple[list[float], list[float], list[int]]:
    """Type the words letter by letter into ``box``: per letter, the time to the frame that
    echoes it, to the frame that lists its results (``searched()`` is the query shown), and
    how many results were listed. The UI thread's CPU time collects in ``frames.cpu``."""
    echo: list[float] = []
    listed: list[float] = []
    option_counts: list[int] = []
    frames.cpu = []
    for word in typed(WORDS, presses // 2):
        box.value = ""
        box.focus()
        await settle(pilot)
        for i, char in enumerate(word):
            want = word[: i + 1]
            got = await frames.marks(
                pilot, key_name(char),
                {"echo": lambda w=want: box.value == w,
                 "results": lambda w=want: searched() == w},
            )  # fmt: skip
            echo.append(got["echo"])
            listed.append(got["results"])
            option_counts.append(results.option_count)
            await settle(pilot)
    return echo, listed, option_counts


def main(argv: list[str]) -> None:
    size = (_arg(argv, "width", 120), _arg(argv, "height", 40))
    r = bench(_arg(argv, "accounts", 20_000), _arg(argv, "presses", 200), size)
    print(
        f"Key to repaint, demo workspace at {r['accounts']:,} accounts (built in "
        f"{r['workspace_built_s']:.1f} s), headless {size[0]}x{size[1]}, "
        f"{r['triage_rows']} alert groups, up to {r['search_options']} search results:"
    )
    print(f"  {'':38} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7}   bare p50/p99   p99 ratio")
    for name, _mine, _theirs, what in MEASURES:
        a, b = r[name]["ours"], r[name]["bare"]
        print(
            f"  {what:38} {a['p50_ms']:7.1f} {a['p95_ms']:7.1f} {a['p99_ms']:7.1f} "
            f"{a['max_ms']:7.1f}   {b['p50_ms']:5.1f}/{b['p99_ms']:5.1f}   "
            f"{r[name]['ratio_p99']:6.2f}x  (n={int(a['n'])})"
        )
        if "ours_cpu" in r[name]:
            c, d = r[name]["ours_cpu"], r[name]["bare_cpu"]
            print(
                f"  {'  UI thread CPU time':38} {c['p50_ms']:7.1f} {c['p95_ms']:7.1f} "
                f"{c['p99_ms']:7.1f} {c['max_ms']:7.1f}   {d['p50_ms']:5.1f}/{d['p99_ms']:5.1f}"
            )
    print(f"  target: p99 < {TARGET_MS:.0f} ms for each: {'met' if r['met'] else 'MISSED'}")
    save_result("repaint", r)


if __name__ == "__main__":
    main(sys.argv[1:])
