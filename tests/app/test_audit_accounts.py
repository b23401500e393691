"""The Account audit screen opened for an incident (issue 12): its affected list has the columns
of ``incident accounts`` (currency, delta, stored, derived, cross-check), largest delta first.
The ledger is written and reconciled here (tests/support/impact.py: duplicates in EUR, JPY and
KWD, stored balances that took every copy or one, pure mismatches); every expected cell is
computed from its rows in plain Python, never by the code under test."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
from textual.widgets import DataTable, Input, Label

from incidentbook.services import Services
from incidentbook.testing.synth import LedgerRows, write_ledger
from incidentbook.ui.app import make_app
from incidentbook.ui.screens.audit import AuditScreen
from tests.support.app import settle
from tests.support.impact import DECIMALS, impact_ledger, reconcile


def money(amount: int, currency: str, signed: bool = False) -> str:
    places = DECIMALS[currency]
    whole, frac = divmod(abs(amount), 10**places)
    body = f"{whole:,}" + (f".{frac:0{places}d}" if places else "")
    sign = "−" if amount < 0 else ("+" if signed and amount > 0 else "")
    return f"{sign}{body} {currency}"


def expected_cells(rows: LedgerRows, with_balance: bool) -> list[tuple[str, ...]]:
    """The affected list of an incident holding the duplicate alerts (and, with_balance, the
    balance alerts too), straight from the rows: DESIGN §4's definitions."""
    derived: dict[str, int] = defaultdict(int)
    copies: dict[tuple[str, str | None, str, int], int] = defaultdict(int)
    for e in rows.entries:
        derived[e[1]] += e[2]
        copies[(e[1], e[7], e[4], e[2])] += 1
    dup_delta: dict[str, int] = defaultdict(int)
    for (account, _ref, _kind, amount), n in copies.items():
        if n >= 2:
            dup_delta[account] += (n - 1) * amount
    out: list[dict[str, Any]] = []
    for account, cur, stored, _u, _o in rows.accounts:
        off = stored - derived[account]
        has_dup = account in dup_delta
        has_bal = with_balance and off != 0
        if not (has_dup or has_bal):
            continue
        if has_dup:
            check = (
                "duplicate; stored took every copy (no balance alert)"
                if off == 0
                else "duplicate; stored did not take the copies (balance_mismatch)"
            )
        else:
            check = "balance_mismatch"
        delta = dup_delta.get(account, 0) + (off if has_bal else 0)
        out.append({"account": account, "cur": cur, "delta": delta, "stored": stored,
                    "derived": derived[account], "check": check})  # fmt: skip
    out.sort(key=lambda r: (-abs(r["delta"]), r["account"]))
    return [
        (r["account"], r["cur"], money(r["delta"], r["cur"], signed=True),
         money(r["stored"], r["cur"]), money(r["derived"], r["cur"]), r["check"])
        for r in out
    ]  # fmt: skip


def cells(table: DataTable[Any]) -> list[tuple[str, ...]]:
    return [tuple(str(c) for c in table.get_row_at(i)) for i in range(table.row_count)]


@pytest.fixture
def ledger_rows(services: Services) -> LedgerRows:
    data = impact_ledger()
    write_ledger(services.settings.ledger_url, data)
    reconcile(services, services.settings.ledger_url)
    return data


@pytest.mark.parametrize("size", [(80, 24), (160, 50)])
async def test_an_incidents_affected_list_matches_the_ledger(
    services: Services, ledger_rows: LedgerRows, size: tuple[int, int]
) -> None:
    ctx = services.context("t")
    incident = services.alerts.acknowledge_group(ctx, "duplicate_posting").incident.id
    want = expected_cells(ledger_rows, with_balance=False)
    assert {w[1] for w in want} == {"EUR", "JPY", "KWD"}  # the ledger has what the test needs
    assert {w[5] for w in want} == {
        "duplicate; stored took every copy (no balance alert)",
        "duplicate; stored did not take the copies (balance_mismatch)",
    }
    app = make_app(services.settings, services)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        app.push_screen(AuditScreen(incident_id=incident))
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, AuditScreen)
        affected = screen.query_one("#affected", DataTable)
        assert [str(c.label) for c in affected.ordered_columns] == [
            "Account", "Cur", "Δ", "Stored", "Derived", "Cross-check",
        ]  # fmt: skip
        assert cells(affected) == want
        title = str(screen.query_one("#affected-title", Label).render())
        assert title.startswith(f"Affected: {incident}: {len(want)} accounts  Δ ")
        # usable at this size: the list is on screen, beside the history
        assert affected.region.width >= 30 and affected.region.height >= 5
        assert affected.region.right <= size[0]
        # enter on a row opens that account's audit trail
        affected.focus()
        affected.move_cursor(row=1)
        await pilot.press("enter")
        await settle(pilot)
        assert screen.audit is not None and screen.audit.account_id == want[1][0]
        assert screen.query_one("#audit-account", Input).value == want[1][0]
        assert screen.query_one("#history", DataTable).row_count > 0

    # the balance alerts join the incident: their accounts and findings join the list
    for account, _cur, stored, _u, _o in ledger_rows.accounts:
        if stored != sum(e[2] for e in ledger_rows.entries if e[1] == account):
            services.alerts.link_to_incident(ctx, f"balance_mismatch/{account}", incident)
    app = make_app(services.settings, services)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        app.push_screen(AuditScreen(incident_id=incident))
        await settle(pilot)
        affected = app.screen.query_one("#affected", DataTable)
        want = expected_cells(ledger_rows, with_balance=True)
        assert "balance_mismatch" in {w[5] for w in want}
        assert cells(affected) == want


async def test_an_incident_without_reconciler_alerts_lists_no_accounts(
    services: Services,
) -> None:
    incident = services.incidents.open(services.context("t"), title="disk full")
    app = make_app(services.settings, services)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.push_screen(AuditScreen(incident_id=incident.incident.id))
        await settle(pilot)
        assert app.screen.query_one("#affected", DataTable).row_count == 0
        title = str(app.screen.query_one("#affected-title", Label).render())
        assert title == f"Affected: {incident.incident.id}: 0 accounts  Δ —"
