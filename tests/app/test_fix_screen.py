"""The Fix screen under Pilot: from an incident, `F` plans its fix; a dry run writes nothing;
`x` asks first (escape writes nothing), then applies with progress; `v` verifies. The ledger is
the hand-made one of ``tests/support/fixes`` whose end state is written down there."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from textual.widgets import DataTable, Static

from incidentbook.services import Services
from incidentbook.ui.app import make_app
from incidentbook.ui.screens.confirm_dialog import ConfirmDialog
from incidentbook.ui.screens.fix import FixScreen
from incidentbook.ui.screens.incident import IncidentScreen
from tests.support.app import settle
from tests.support.fixes import TRUTH, incident_with_findings, write_fix_ledger


def stored(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        return dict(conn.execute("SELECT account_id, balance_minor FROM ledger_accounts"))
    finally:
        conn.close()


async def test_fix_from_the_incident_screen(services: Services) -> None:
    path = Path(services.settings.ledger_url.removeprefix("sqlite:///"))
    url = write_fix_ledger(path)
    incident_id = incident_with_findings(services, url)
    app = make_app(services.settings, services)
    async with app.run_test(size=(140, 42)) as pilot:
        await settle(pilot)
        app.push_screen(IncidentScreen(incident_id))
        await settle(pilot)
        await pilot.press("F")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, FixScreen)
        summary = str(screen.query_one("#fix-summary", Static).render())
        assert "FIX-0001" in summary and "4 accounts, 4 reversals on" in summary
        table = screen.query_one("#fix-accounts", DataTable)
        assert sorted(str(table.get_row_at(i)[0]) for i in range(table.row_count)) == sorted(TRUTH)
        before = path.read_bytes()
        await pilot.press("d")
        await settle(pilot)
        assert "dry run, nothing written" in str(screen.query_one("#fix-status", Static).render())
        assert path.read_bytes() == before
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("escape")
        await settle(pilot)
        assert path.read_bytes() == before
        await pilot.press("x", "enter")
        await settle(pilot)
        status = str(screen.query_one("#fix-status", Static).render())
        assert "applied: 4 of 4 accounts corrected" in status
        assert {a: stored(path)[a] for a in TRUTH} == {a: t[1] for a, t in TRUTH.items()}
        rows = {str(table.get_row_at(i)[0]): str(table.get_row_at(i)[4])
                for i in range(table.row_count)}  # fmt: skip
        assert set(rows.values()) == {"corrected"}
        await pilot.press("v")
        await settle(pilot)
        assert "findings gone" in str(screen.query_one("#fix-status", Static).render())
