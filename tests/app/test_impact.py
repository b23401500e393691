"""A group's impact in the app (issue 12, DESIGN §4): the Triage table and detail and the
Incident header show accounts, Δ per currency and the bad-entry window in ledger time
(workspace zone). The expected text is computed here from the seeded alerts, in plain Python."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from textual.widgets import DataTable, Static

from incidentbook.ui.app import IncidentbookApp
from incidentbook.ui.screens.incident import IncidentScreen
from incidentbook.ui.screens.triage import TriageScreen
from tests.support.app import settle
from tests.support.app_seed import (
    CURRENCIES,
    ZONE,
    bad_at,
    balance_delta,
    dup_at,
    dup_currency,
    dup_delta,
)

DECIMALS = {"EUR": 2, "JPY": 0, "KWD": 3}  # ISO 4217, written out here on purpose


def money(amount: int, currency: str) -> str:
    places = DECIMALS[currency]
    whole, frac = divmod(abs(amount), 10**places)
    text = f"{whole:,}" + (f".{frac:0{places}d}" if places else "")
    return ("−" if amount < 0 else "") + f"{text} {currency}"


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(ZoneInfo(ZONE))


def expected() -> dict[str, dict[str, object]]:
    """Per group: accounts, the Δ texts by currency, the window in Berlin time."""
    dup: dict[str, int] = defaultdict(int)
    for i in range(7):
        dup[dup_currency(i)] += dup_delta(i)
    bal: dict[str, int] = defaultdict(int)
    for i in range(12):
        bal[CURRENCIES[i % 3]] += balance_delta(i)

    def window(first: str, last: str) -> str:
        a, b = moment(first), moment(last)
        assert a.date() == b.date()
        return f"{a:%Y-%m-%d %H:%M}–{b:%H:%M}"

    return {
        "duplicate_posting": {
            "accounts": "5 accounts",
            "money": [money(dup[c], c) for c in sorted(dup)],
            "window": window(dup_at(0, 0), dup_at(6, 1)),
        },
        "balance_mismatch": {
            "accounts": "12 accounts",
            "money": [money(bal[c], c) for c in sorted(bal)],
            "window": window(bad_at(0), bad_at(11)),
        },
    }


def test_the_seed_has_what_the_test_needs() -> None:
    want = expected()
    # JPY has no minor unit, KWD three; a negative total; the UTC window spans two days
    assert len(want["duplicate_posting"]["money"]) == 2  # type: ignore[arg-type]
    assert any(m.startswith("−") for m in want["balance_mismatch"]["money"])  # type: ignore[union-attr]
    assert dup_at(0, 0)[:10] != dup_at(6, 1)[:10]


@pytest.mark.parametrize("width", [200, 160])
async def test_triage_table_and_detail_show_each_reconciler_groups_impact(
    impact_app: IncidentbookApp, width: int
) -> None:
    """200 columns: Δ in every currency; 160: the first currency and how many more (the
    detail has them all)."""
    want = expected()
    async with impact_app.run_test(size=(width, 50)) as pilot:
        await settle(pilot)
        screen = impact_app.screen
        assert isinstance(screen, TriageScreen)
        table = screen.query_one("#groups", DataTable)
        rows = {str(table.get_row_at(r)[0]): table.get_row_at(r) for r in range(table.row_count)}
        for key, w in want.items():
            row = rows[key]
            money: list[str] = w["money"]  # type: ignore[assignment]
            assert row[5] == str(w["accounts"]).split()[0], key
            short = money[0] + (f" +{len(money) - 1}" if len(money) > 1 else "")
            assert row[6] == (" · ".join(money) if width == 200 else short), key
        assert rows["duplicate_posting"][1] == "7"  # the firing count stays beside
        # another source's group keeps its firing count, no impact
        other = rows["LedgerWriterLatencyHigh"]
        assert other[1] == "1" and other[5] == "" and other[6] == ""

        table.focus()
        for key, w in want.items():
            table.move_cursor(row=list(rows).index(key))
            await settle(pilot)
            text = str(screen.query_one("#triage-detail", Static).render())
            assert w["accounts"] in text, text
            for m in w["money"]:  # type: ignore[attr-defined]
                assert m in text, text
            assert f"bad entries (ledger time, {ZONE})" in text, text
            assert w["window"] in text, text


async def test_triage_at_80x24_shows_the_impact_in_one_column(
    impact_app: IncidentbookApp,
) -> None:
    want = expected()
    async with impact_app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = impact_app.screen.query_one("#groups", DataTable)
        labels = [c.label.plain for c in table.columns.values()]
        assert labels == ["Group", "Since", "Impact", "Δ"]
        keys = [g.key for g in impact_app.screen.groups]  # type: ignore[attr-defined]
        rows = {k: [str(c) for c in table.get_row(k)] for k in keys}
        dup = want["duplicate_posting"]
        first, more = dup["money"][0], len(dup["money"]) - 1  # type: ignore[index,arg-type]
        key, since, *impact = rows["duplicate_posting"]
        assert impact == ["5 accts", f"{first} +{more}"]
        assert key == "duplicate_posting" or (
            key.endswith("…") and "duplicate_posting".startswith(key[:-1])
        )
        assert since  # the age, as the wide layout's "Since" column says it (below)
        # a long key is cut with an ellipsis to fit; other sources keep their firing count
        latency = rows["LedgerWriterLatencyHigh"]
        assert latency[0].endswith("…") and "LedgerWriterLatencyHigh".startswith(latency[0][:-1])
        assert latency[2:] == ["1 firing", ""]
        # every cell fits the table's width: nothing scrolls sideways
        assert table.virtual_size.width <= table.size.width
        # widening the terminal brings every column back, the rows refilled
        await pilot.resize_terminal(160, 50)
        await settle(pilot)
        assert len(table.columns) == 7
        assert table.row_count == 3
        assert str(table.get_row("duplicate_posting")[3]) == since


async def test_incident_header_shows_the_impact_of_its_reconciler_groups(
    impact_app: IncidentbookApp,
) -> None:
    want = expected()["duplicate_posting"]
    async with impact_app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        incident = impact_app.screen.query_one("#incidents", DataTable)
        incident.focus()
        incident.move_cursor(row=0)
        await pilot.press("enter")
        await settle(pilot)
        screen = impact_app.screen
        assert isinstance(screen, IncidentScreen)
        header = str(screen.query_one("#incident-header", Static).render())
        line = (
            f"duplicate_posting: {want['accounts']} · Δ {' · '.join(want['money'])}"  # type: ignore[arg-type]
            f" · bad entries {want['window']} (ledger time, {ZONE})"
        )
        assert line in header.replace("\n", " "), header
        # the balance group is not this incident's
        assert "balance_mismatch" not in header


async def test_an_incident_without_reconciler_groups_has_no_impact_line(
    impact_app: IncidentbookApp,
) -> None:
    async with impact_app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        incident = impact_app.screen.query_one("#incidents", DataTable)
        incident.focus()
        incident.move_cursor(row=1)
        await pilot.press("enter")
        await settle(pilot)
        header = str(impact_app.screen.query_one("#incident-header", Static).render())
        assert "accounts" not in header and "Δ" not in header, header
