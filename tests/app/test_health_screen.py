"""The Health screen (issue 14): tiles that fill the screen at 80x24 and 160x50, the
reconciler's lag, sparklines of accounts per check (full names) and money per currency over
full runs only, open alerts by severity, MTTA/MTTR, overdue items; each figure against truth
built from the rows the test wrote."""

from __future__ import annotations

import datetime as dt

import pytest
from textual.widgets import Label, Static

from incidentbook.core.ledger.checks import CHECKS
from incidentbook.money import format_minor
from incidentbook.services import Services
from incidentbook.ui.app import IncidentbookApp
from incidentbook.ui.screens.health import HealthScreen
from incidentbook.ui.widgets.health_tiles import (
    HEALTH_TILES,
    ChartTile,
    ChartTileWidget,
    LevelBars,
    RunBars,
    TextTile,
    TextTileWidget,
    build_tiles,
)
from tests.support.accounts import findings_from_rows
from tests.support.app import settle
from tests.support.app_seed import CURRENCIES
from tests.support.health import Truth, recovery_states, truth_of

SIZES = [(80, 24), (160, 50)]
TILE_IDS = ["reconciler", "alerts", "response", "accounts", "overdue", "money", "state"]


def _money_per_currency(truth: Truth) -> dict[str, int]:
    total: dict[str, int] = {}
    for _accounts, money in truth.values():
        for currency, amount in money.items():
            total[currency] = total.get(currency, 0) + amount
    return total


def test_every_tile_builds_from_the_report(health_services: Services) -> None:
    tiles = build_tiles(health_services.health.report())
    assert [t.id for t in tiles] == TILE_IDS and len(HEALTH_TILES) == len(TILE_IDS)
    for tile in tiles:
        assert tile.title
        assert tile.rows if isinstance(tile, ChartTile) else tile.body


def test_charts_follow_the_full_runs(health_services: Services) -> None:
    truths = [truth_of(rows) for rows in recovery_states(6)]
    tiles = {t.id: t for t in build_tiles(health_services.health.report())}
    accounts = tiles["accounts"]
    assert isinstance(accounts, ChartTile)
    assert [r.label for r in accounts.rows] == list(CHECKS)  # full names, every check
    for row in accounts.rows:
        want = [t.get(row.label, (0, {}))[0] for t in truths]
        assert row.values == want and row.latest == f"{want[-1]:,}"
    assert accounts.rows[0].values == [6, 5, 4, 3, 2, 1]  # the fix rolling out
    money = tiles["money"]
    assert isinstance(money, ChartTile)
    per_run = [_money_per_currency(t) for t in truths]
    assert {r.label for r in money.rows} == set(per_run[-1]) | {c for p in per_run for c in p}
    for row in money.rows:
        assert row.values == [p.get(row.label, 0) for p in per_run]
        assert row.latest == format_minor(per_run[-1].get(row.label, 0), row.label)
    latest = [per_run[-1].get(r.label, 0) for r in money.rows]
    assert latest == sorted(latest, reverse=True)  # most at stake first


def test_text_tiles_say_the_truth(health_services: Services) -> None:
    tiles = {t.id: t for t in build_tiles(health_services.health.report())}
    body = {k: t.body for k, t in tiles.items() if isinstance(t, TextTile)}
    # seed: 12 balance_mismatch alerts (critical), one warning; the recovery's last full run
    # resolves the seed's (it does not find them) and fires its own findings (critical)
    last = findings_from_rows(recovery_states(6)[-1])
    assert "last run 0s ago\nfull, took 0s" in body["reconciler"]
    assert "lag 0s, 0 entries" in body["reconciler"]
    alerts = {line.split()[0]: line.split()[1:] for line in body["alerts"].splitlines()[1:]}
    firing_critical = sum((t["balance"] is not None) + len(t["dups"]) for t in last.values())
    assert alerts == {"critical": [str(firing_critical), "1"], "error": ["0", "0"],
                      "warning": ["1", "1"], "info": ["0", "0"]}  # fmt: skip
    assert body["response"].startswith("MTTA —\nMTTR —\nover 0 resolved")
    today = dt.date(2026, 10, 17)
    want = [(today - dt.date(2026, 9, 15)).days, (today - dt.date(2026, 10, 1)).days]
    assert [int(line.split("d ")[0]) for line in body["overdue"].splitlines()] == want
    assert tiles["overdue"].title == "Overdue items (2)"


def test_a_workspace_never_reconciled_says_what_to_do(seeded_services: Services) -> None:
    tiles = {t.id: t for t in build_tiles(seeded_services.health.report())}
    assert tiles["reconciler"].body == "never run\nincidentbook reconcile"  # type: ignore[union-attr]
    for chart in ("accounts", "money"):
        tile = tiles[chart]
        assert isinstance(tile, ChartTile) and tile.rows == []
        assert tile.empty.startswith("no full run yet")
    assert tiles["overdue"].body == "none overdue"  # type: ignore[union-attr]


def test_bars_start_at_zero_on_one_scale() -> None:
    bars = LevelBars([0.0, 7.0, 3.5, 7.0], top=14.0, width=4, height=1, style=None)  # type: ignore[arg-type]
    assert bars.levels() == [0, 4, 2, 4]
    assert LevelBars([1.0], top=1000.0, width=2, height=1, style=None).levels() == [1, 1]  # type: ignore[arg-type]
    tall = LevelBars([10.0, 5.0], top=10.0, width=2, height=3, style=None)  # type: ignore[arg-type]
    assert tall.levels() == [24, 12]


@pytest.mark.parametrize("size", SIZES)
async def test_tiles_fill_the_screen(health_app: IncidentbookApp, size: tuple[int, int]) -> None:
    width, height = size
    async with health_app.run_test(size=size) as pilot:
        await settle(pilot)
        await pilot.press("H")
        await settle(pilot)
        screen = health_app.screen
        assert isinstance(screen, HealthScreen)
        regions = {w.id: w.region for w in screen.query(".health-tile")}
        assert list(regions) == [f"tile-{i}" for i in TILE_IDS]
        for region in regions.values():
            assert region.width >= 20 and region.height >= 7
            assert region.right <= width and region.bottom <= height - 1
        # the grid's three columns reach both sides, its three rows header to footer
        assert min(r.x for r in regions.values()) <= 1
        assert max(r.right for r in regions.values()) >= width - 1
        assert min(r.y for r in regions.values()) == 1  # under the header
        assert max(r.bottom for r in regions.values()) == height - 1  # over the footer
        # every check's sparkline is on screen, one line at least
        chart = screen.query_one("#tile-accounts", ChartTileWidget)
        labels = [str(lbl.render()) for lbl in chart.query(".chart-label").results(Label)]
        assert labels == list(CHECKS)
        for bars in chart.query(RunBars):
            assert bars.region.height >= 1 and bars.region.width >= 20
            assert bars.region.bottom <= chart.region.bottom - 1


async def test_the_sparklines_carry_the_full_runs(health_app: IncidentbookApp) -> None:
    truths = [truth_of(rows) for rows in recovery_states(6)]
    async with health_app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("H")
        await settle(pilot)
        chart = health_app.screen.query_one("#tile-accounts", ChartTileWidget)
        shown = [list(b.data or []) for b in chart.query(RunBars)]
        want = [[t.get(c, (0, {}))[0] for t in truths] for c in CHECKS]
        assert shown == want
        # accounts: one scale for every check, from 0
        assert {b.top for b in chart.query(RunBars)} == {max(max(w) for w in want)}
        # money: each currency on its own scale (minor units of two currencies do not compare)
        per_run = [_money_per_currency(t) for t in truths]
        money = health_app.screen.query_one("#tile-money", ChartTileWidget)
        currencies = [str(lbl.render()) for lbl in money.query(".chart-label").results(Label)]
        assert set(currencies) <= set(CURRENCIES) and currencies
        for currency, bars in zip(currencies, money.query(RunBars), strict=True):
            assert list(bars.data or []) == [p.get(currency, 0) for p in per_run]
            assert bars.top == max(p.get(currency, 0) for p in per_run)


async def test_refresh_reads_again(health_app: IncidentbookApp, health_services: Services) -> None:
    async with health_app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("H")
        await settle(pilot)
        ctx = health_services.context("t")
        health_services.incidents.open(ctx, "Ledger writer slow", "info")
        await pilot.press("r")
        await settle(pilot)
        tile = health_app.screen.query_one("#tile-alerts", TextTileWidget)
        info = next(line for line in str(tile.render()).splitlines() if line.startswith("info"))
        assert info.split() == ["info", "0", "1"]
        assert isinstance(health_app.screen.query_one("#tile-state"), Static)
