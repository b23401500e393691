"""The Health screen's tiles: what each shows of the core's ``Health`` (text and chart
series, built in the loading worker by the builders in ``HEALTH_TILES``) and the widgets that
show them (a text tile, a chart tile of labelled sparklines)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style
from textual.app import ComposeResult
from textual.app import RenderResult as WidgetRender
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Label, Sparkline, Static

from incidentbook.clock import humanize_age
from incidentbook.core.health.stats import Health
from incidentbook.core.ledger.reconcile.model import FullRun
from incidentbook.money import format_minor


@dataclass(frozen=True)
class TextTile:
    id: str
    title: str
    body: str


@dataclass(frozen=True)
class ChartRow:
    """One sparkline: its label, its values (oldest first), the latest value as text."""

    label: str
    values: list[float]
    latest: str


@dataclass(frozen=True)
class ChartTile:
    """Sparklines drawn from 0 (a constant series is not drawn as its own minimum) to the
    largest value of any row when the rows share a unit (``shared_scale``: accounts), else to
    each row's own largest (money: minor units of different currencies do not compare)."""

    id: str
    title: str
    rows: list[ChartRow]
    empty: str  # shown instead of the rows when there are none
    shared_scale: bool = True

    def top(self, row: ChartRow) -> float:
        values = [v for r in self.rows for v in r.values] if self.shared_scale else row.values
        return max(values, default=0.0)


Tile = TextTile | ChartTile
TileBuilder = Callable[[Health], Tile]

NO_FULL_RUN = "no full run yet\nincidentbook reconcile --full"


def _plural(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


def reconciler_tile(health: Health) -> TextTile:
    """The last complete run: its age, mode, duration and findings; the watermark's lag
    behind the ledger (ledger time and entries); an unfinished run; runs kept as summaries."""
    r = health.reconciler
    if not r.ever_run:
        return TextTile("reconciler", "Reconciler", "never run\nincidentbook reconcile")
    lines = []
    last = r.last_complete
    if last is not None and r.age_seconds is not None:
        lines.append(f"last run {humanize_age(r.age_seconds)} ago")
        lines.append(f"{last.mode}, took {humanize_age(r.duration_seconds or 0)}")
        lines.append(_plural(sum(r.last_found.values()), "finding", "findings"))
    else:
        lines.append("no complete run yet")
    lag = r.lag
    if lag is not None and lag.error is not None:
        lines.append("lag: ledger unreadable")
    elif lag is not None:
        ledger_time = humanize_age(lag.lag_seconds) if lag.lag_seconds is not None else "—"
        lines.append(f"lag {ledger_time}, {_plural(lag.entries_behind or 0, 'entry', 'entries')}")
    if r.unfinished is not None:
        lines.append(f"unfinished: {r.unfinished.phase} (--resume)")
    if r.pruned_runs:
        lines.append(f"{_plural(r.pruned_runs, 'run', 'runs')} summarised")
    return TextTile("reconciler", "Reconciler", "\n".join(lines))


def alerts_tile(health: Health) -> TextTile:
    """Open (firing) alerts and open incidents, by severity, every severity shown."""
    lines = [f"{'':8}{'alerts':>6}{'incid.':>7}"]
    for severity, alerts in health.alerts_open_by_severity.items():
        incidents = health.incidents_open_by_severity.get(severity, 0)
        lines.append(f"{severity:<8}{alerts:>6,}{incidents:>7,}")
    return TextTile("alerts", "Open by severity", "\n".join(lines))


def response_tile(health: Health) -> TextTile:
    """MTTA and MTTR over the resolved incidents; the incidents still open."""
    s = health.stats
    mtta = humanize_age(s.mtta_seconds) if s.mtta_seconds is not None else "—"
    mttr = humanize_age(s.mttr_seconds) if s.mttr_seconds is not None else "—"
    counts = s.incidents_by_status
    return TextTile(
        "response",
        "Response",
        f"MTTA {mtta}\nMTTR {mttr}\nover {s.resolved_incidents:,} resolved\n"
        f"{counts.get('open', 0):,} open, {counts.get('acknowledged', 0):,} acked",
    )


def _charted(health: Health) -> list[FullRun]:
    """The full runs with figures (a run pruned before summaries kept them has none)."""
    return [run for run in health.reconciler.full_runs if run.discrepancies is not None]


def accounts_tile(health: Health) -> ChartTile:
    """Accounts with findings, per check (full names), over the complete full runs."""
    runs = _charted(health)
    rows = []
    if runs:
        for check in health.reconciler.checks:
            values = [run.discrepancies[check].accounts if run.discrepancies else 0 for run in runs]
            rows.append(ChartRow(check, [float(v) for v in values], f"{values[-1]:,}"))
    last = "last full run" if len(runs) == 1 else f"last {len(runs)} full runs"
    title = f"Accounts per check, {last}" if runs else "Accounts per check"
    return ChartTile("accounts", title, rows, NO_FULL_RUN)


def money_by_currency(run: FullRun) -> dict[str, int]:
    """A full run's |Δ| per currency, summed over its checks."""
    total: dict[str, int] = {}
    for discrepancy in (run.discrepancies or {}).values():
        for currency, amount in discrepancy.money.items():
            total[currency] = total.get(currency, 0) + amount
    return total


def money_tile(health: Health) -> ChartTile:
    """Money in the findings (sum of |Δ|, every check) per currency over the full runs;
    the currencies with the most at stake in the latest run first."""
    runs = _charted(health)
    series = [money_by_currency(run) for run in runs]
    currencies = sorted({c for totals in series for c in totals})
    latest = series[-1] if series else {}
    currencies.sort(key=lambda c: (-latest.get(c, 0), c))
    rows = [
        ChartRow(c, [float(t.get(c, 0)) for t in series], format_minor(latest.get(c, 0), c))
        for c in currencies
    ]
    empty = "no money in the findings" if runs else NO_FULL_RUN
    return ChartTile("money", "|Δ| per currency, full runs", rows, empty, shared_scale=False)


def days_late(due: str | None, today: str) -> int:
    if due is None:
        return 0
    return (dt.date.fromisoformat(today) - dt.date.fromisoformat(due)).days


def overdue_tile(health: Health) -> TextTile:
    """The overdue action items, longest overdue first: days late, text, owner."""
    items = health.overdue
    lines = [
        f"{days_late(a.due, health.today):>3}d {a.text} ({a.owner or 'no owner'})" for a in items
    ]
    body = "\n".join(lines) or "none overdue"
    return TextTile("overdue", f"Overdue items ({len(items):,})", body)


def state_tile(health: Health) -> TextTile:
    """incidentbook's own state: schema, events, the search outbox, the database's size."""
    s = health.stats
    return TextTile(
        "state",
        "State",
        f"schema {s.schema_revision}\nevents {s.events_total:,}\n"
        f"index queue {s.outbox_pending:,}\ndb {s.database_bytes / 1e6:.1f} MB",
    )


# The tiles in screen order (the stylesheet places them by id); each builds from Health.
HEALTH_TILES: list[TileBuilder] = [
    reconciler_tile,
    alerts_tile,
    response_tile,
    accounts_tile,
    overdue_tile,
    money_tile,
    state_tile,
]


def build_tiles(health: Health) -> list[Tile]:
    return [build(health) for build in HEALTH_TILES]


def tile_widget(tile: Tile) -> Widget:
    widget: Widget = TextTileWidget(tile) if isinstance(tile, TextTile) else ChartTileWidget(tile)
    widget.border_title = tile.title
    return widget


class TextTileWidget(Static):
    def __init__(self, tile: TextTile) -> None:
        super().__init__(tile.body, id=f"tile-{tile.id}", classes="health-tile", markup=False)


class LevelBars:
    """Bars from 0 to ``top``, ``height`` lines tall, the values spread over ``width`` columns
    (oldest left); a value above 0 always shows at least the lowest bar, 0 shows none."""

    BARS = " ▁▂▃▄▅▆▇█"

    def __init__(self, values: list[float], top: float, width: int, height: int, style: Style):
        self.values, self.top, self.width, self.height = values, top, width, height
        self.style = style

    def levels(self) -> list[int]:
        """Each column's height in eighths of a line."""
        n, eighths = len(self.values), 8 * self.height
        out = []
        for column in range(self.width):
            value = self.values[min(n - 1, column * n // self.width)] if n else 0.0
            level = round(value / self.top * eighths) if self.top > 0 else 0
            out.append(max(level, 1) if value > 0 else 0)
        return out

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        levels = self.levels()
        for line in reversed(range(self.height)):
            cells = (min(8, max(0, level - line * 8)) for level in levels)
            yield Segment("".join(self.BARS[c] for c in cells), self.style)
            if line:
                yield Segment.line()


class RunBars(Sparkline):
    """Textual's sparkline (its look and colours), drawn from 0 to a given top: the chart
    tile's one scale."""

    def __init__(self, values: list[float], top: float, classes: str | None = None) -> None:
        super().__init__(values, classes=classes)
        self.top = top

    def render(self) -> WidgetRender:
        color = self.get_component_styles("sparkline--max-color").color
        _, base = self.background_colors
        style = Style.from_color((base + color).rich_color)
        values = [float(v) for v in self.data or []]
        return LevelBars(values, self.top, self.size.width, max(1, self.size.height), style)


class ChartTileWidget(Vertical):
    def __init__(self, tile: ChartTile) -> None:
        super().__init__(id=f"tile-{tile.id}", classes="health-tile chart-tile")
        self.tile = tile

    def compose(self) -> ComposeResult:
        if not self.tile.rows:
            yield Static(self.tile.empty, classes="chart-empty", markup=False)
        width = max((len(r.label) for r in self.tile.rows), default=0)
        latest = max((len(r.latest) for r in self.tile.rows), default=0)
        for row in self.tile.rows:
            with Horizontal(classes="chart-row"):
                label = Label(row.label, classes="chart-label", markup=False)
                label.styles.width = width + 1
                yield label
                yield RunBars(row.values, self.tile.top(row), classes="chart-line")
                value = Label(row.latest, classes="chart-latest", markup=False)
                value.styles.width = latest + 1
                yield value
