"""The Account audit screen under Pilot: affected accounts of a check, history with running
balance, stored vs derived, balance at, correlation trace, bad account; palette and key."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Input, Static

from incidentbook.core.ledger.reconcile.model import ReconcileOptions
from incidentbook.services import Services
from incidentbook.testing.synth import LedgerRows, write_ledger
from incidentbook.ui.app import make_app
from incidentbook.ui.screens.audit import AuditScreen
from tests.support.app import settle
from tests.support.ledgers import rows


@pytest.fixture
def ledger_services(services: Services) -> Services:
    data: LedgerRows = rows()
    write_ledger(services.settings.ledger_url, data)
    services.reconciler.run(
        services.context("t", actor="reconciler"), ReconcileOptions(mode="full")
    )
    return services


async def test_audit_screen_from_a_check_to_a_trace(ledger_services: Services) -> None:
    app = make_app(ledger_services.settings, ledger_services)
    async with app.run_test(size=(140, 42)) as pilot:
        await settle(pilot)
        app.push_screen(AuditScreen(check="balance_mismatch"))
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, AuditScreen)
        affected = screen.query_one("#affected", DataTable)
        assert affected.row_count == 1  # acc_1's stored balance is off by 5
        affected.focus()
        await pilot.press("enter")
        await settle(pilot)
        history = screen.query_one("#history", DataTable)
        assert history.row_count == 3
        assert [str(history.get_row_at(i)[4]) for i in range(3)] == [
            "12.10 EUR", "12.50 EUR", "10.00 EUR",
        ]  # fmt: skip
        summary = str(screen.query_one("#audit-summary", Static).render())
        assert "stored 12.15 EUR" in summary and "difference 0.05 EUR" in summary
        # correlation trace of the transfer (second row): both accounts
        history.focus()
        history.move_cursor(row=1)
        await pilot.press("c")
        await settle(pilot)
        trace = screen.query_one("#trace", DataTable)
        assert [str(trace.get_row_at(i)[0]) for i in range(trace.row_count)] == [
            "acc_1@2", "acc_2@3",
        ]  # fmt: skip
        trace.focus()
        trace.move_cursor(row=1)
        await pilot.press("o")
        await settle(pilot)
        assert screen.audit is not None and screen.audit.ref == "acc_2@3"
        # balance at a moment
        await pilot.press("b")
        at_input = screen.query_one("#audit-at", Input)
        at_input.value = "2026-10-17T11:00:00Z"
        await pilot.press("enter")
        await settle(pilot)
        assert screen.audit is not None and screen.audit.balance_at_minor == 0
        # an unknown account: a message, the screen lives on
        await pilot.press("i")
        account_input = screen.query_one("#audit-account", Input)
        account_input.value = "nobody"
        await pilot.press("enter")
        await settle(pilot)
        assert "no account 'nobody'" in str(screen.query_one("#audit-summary", Static).render())
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, AuditScreen)


async def test_audit_screen_opens_from_the_app_key(ledger_services: Services) -> None:
    app = make_app(ledger_services.settings, ledger_services)
    async with app.run_test(size=(140, 42)) as pilot:
        await settle(pilot)
        # From Triage, the selected group (balance_mismatch, worst first) narrows the list.
        await pilot.press("A")
        await settle(pilot)
        assert isinstance(app.screen, AuditScreen)
        affected = app.screen.query_one("#affected", DataTable)
        assert [str(affected.get_row_at(i)[0]) for i in range(affected.row_count)] == ["acc_1"]
        app.pop_screen()
        await settle(pilot)
        # Elsewhere (Health), the app-wide key lists every affected account.
        await pilot.press("H")
        await settle(pilot)
        await pilot.press("A")
        await settle(pilot)
        assert isinstance(app.screen, AuditScreen)
        affected = app.screen.query_one("#affected", DataTable)
        assert [str(affected.get_row_at(i)[0]) for i in range(affected.row_count)] == [
            "acc_1", "ghost",
        ]  # balance_mismatch and orphan_entry  # fmt: skip
        app.pop_screen()
        app.pop_screen()
        outcome = ledger_services.alerts.acknowledge_group(
            ledger_services.context("ack"), "balance_mismatch"
        )
        app.push_screen(AuditScreen(incident_id=outcome.incident.id))
        await settle(pilot)
        affected = app.screen.query_one("#affected", DataTable)
        assert [str(affected.get_row_at(i)[0]) for i in range(affected.row_count)] == ["acc_1"]
        app.pop_screen()
        app.push_screen(AuditScreen("acc_1@2"))
        await settle(pilot)
        history = app.screen.query_one("#history", DataTable)
        assert str(history.get_row_at(0)[0]) == "acc_1@2"
        assert str(history.get_row_at(0)[4]) == "12.50 EUR"


def screen_columns(table: DataTable[object]) -> list[str]:
    return [str(c.label) for c in table.ordered_columns]


LONG_REASON = (
    "manual correction after the processor's settlement report disagreed with the webhook "
    "stream for the whole of the 02:00 batch [ops-5512]"
)


@pytest.mark.parametrize("size", [(80, 24), (160, 50)])
async def test_the_history_fits_its_width_and_the_entry_detail_shows_it_whole(
    services: Services, size: tuple[int, int]
) -> None:
    """Issue 14: the history's nine columns fell off screen; now they fit, a long reason is
    cut with an ellipsis and the entry under the cursor is shown whole beneath."""
    data: LedgerRows = rows()
    data.entries[1] = (*data.entries[1][:10], LONG_REASON, *data.entries[1][11:])
    write_ledger(services.settings.ledger_url, data)
    app = make_app(services.settings, services)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        app.push_screen(AuditScreen(account_id="acc_1"))
        await settle(pilot)
        history = app.screen.query_one("#history", DataTable)
        assert history.row_count == 3
        assert history.max_scroll_x == 0  # no column off screen
        assert history.size.height >= 6  # its rows are seen: the table never collapses
        refs = [str(r.key.value) for r in history.ordered_rows]
        row = refs.index("acc_1@2")
        reason = str(history.get_row_at(row)[list(screen_columns(history)).index("Reason")])
        assert reason.endswith("…") and LONG_REASON.startswith(reason[:-1])
        history.move_cursor(row=row)
        await settle(pilot)
        detail = " ".join(str(app.screen.query_one("#entry-detail", Static).render()).split())
        assert LONG_REASON in detail
        assert "correlation req-t" in detail and "external ref evt-2" in detail
