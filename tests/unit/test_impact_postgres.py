"""Issue 12's impact on a real PostgreSQL ledger (the state database stays SQLite): ``incident
accounts --json`` (per-account delta, stored and derived balances read from PostgreSQL, the
cross-check flags and the summary counts), ``incident show --json``'s impact with the count of
duplicate accounts that also fail balance_mismatch, and the postmortem's time to detect,
acknowledge and the duration from the ledger's ``timestamptz`` recorded_at.

Each ledger is written with ``write_ledger(pg_url, rows)`` into a database whose session time
zone is not UTC (``Asia/Kathmandu``, +05:45), so a reader that dropped the offset of a
``timestamptz`` would be off by hours; every expected number is computed in tests/support from
the rows written, never read back from incidentbook."""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg
import pytest
from sqlalchemy.engine import make_url

from incidentbook.core.documents.facts import collect
from incidentbook.core.ledger.reconcile.model import ReconcileOptions
from incidentbook.services import Services
from incidentbook.testing.clocks import FakeClock
from incidentbook.testing.synth import LedgerRows, write_ledger
from tests.support.accounts import accounts_ledger, check_report, findings_from_rows
from tests.support.cli import Cli
from tests.support.impact import (
    check_group,
    duplicates_failing_balance,
    expected_impact,
    impact_ledger,
    reconcile,
)
from tests.support.ledger_time import (
    DAY,
    FINAL_RESOLVE,
    FIRST_ACK,
    RECONCILED,
    RECORDED,
    iso,
    postmortem_ledger,
    resolve_reopen_reack,
    spoken,
)

ODD_ZONE = "Asia/Kathmandu"  # +05:45 all year: no hour boundary lines up with UTC's


@pytest.fixture
def pg_ledger(pg_url: str) -> str:
    """A fresh PostgreSQL database whose sessions default to a time zone far from UTC."""
    url = make_url(pg_url)
    with psycopg.connect(
        host=url.host, port=url.port, user=url.username, dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(f"ALTER DATABASE \"{url.database}\" SET timezone TO '{ODD_ZONE}'")
    with psycopg.connect(host=url.host, port=url.port, user=url.username, dbname=url.database) as c:
        row = c.execute("SHOW timezone").fetchone()
        assert row is not None and row[0] == ODD_ZONE
    return pg_url


def stored_in_postgres(url: str, rows: LedgerRows) -> None:
    """The rows are in PostgreSQL as written: balances, and recorded_at as the same instants."""
    u = make_url(url)
    with psycopg.connect(host=u.host, port=u.port, user=u.username, dbname=u.database) as conn:
        balances = dict(
            conn.execute("SELECT account_id, balance_minor FROM ledger_accounts").fetchall()
        )
        recorded = dict(conn.execute("SELECT entry_id, recorded_at FROM ledger_entries").fetchall())
    assert balances == {a[0]: a[2] for a in rows.accounts}
    assert recorded == {e[0]: e[6] for e in rows.entries}
    assert all(str(at.tzinfo) != "UTC" for at in recorded.values())  # the session zone applies


def test_incident_accounts_read_balances_from_postgres(
    cli: Cli, services: Services, pg_ledger: str
) -> None:
    rows = accounts_ledger()
    write_ledger(pg_ledger, rows)
    stored_in_postgres(pg_ledger, rows)
    ctx = services.context("test", actor="reconciler")
    services.reconciler.run(ctx, ReconcileOptions(ledger_url=pg_ledger, mode="full", batch=4))
    truth = findings_from_rows(rows)
    dup = {a for a, t in truth.items() if t["dups"]}
    bal = {a for a, t in truth.items() if t["balance"]}
    assert {truth[a]["currency"] for a in dup} == {"EUR", "JPY"}  # JPY among them
    assert dup - bal and dup & bal and bal - dup  # every copy taken, one copy, pure mismatch

    dup_inc = cli.json("alerts", "ack-group", "duplicate_posting")["incident"]["id"]
    bal_inc = cli.json("alerts", "ack-group", "balance_mismatch")["incident"]["id"]
    got = cli.json("incident", "accounts", dup_inc, "--ledger", pg_ledger)
    check_report(got, truth, {"duplicate_posting"}, dup_inc)
    assert got["summary"]["duplicate_accounts"] == len(dup)
    assert got["summary"]["duplicate_accounts_failing_balance"] == len(dup & bal)
    assert got["summary"]["duplicate_accounts_stored_took_copies"] == len(dup - bal)
    check_report(
        cli.json("incident", "accounts", bal_inc, "--ledger", pg_ledger),
        truth, {"balance_mismatch"}, bal_inc,
    )  # fmt: skip

    # both checks in one incident: an account's two findings together, its delta their sum
    result = cli("alerts", "ack-group", "balance_mismatch", "--incident", dup_inc)
    assert result.exit_code == 0, result.output
    both = cli.json("incident", "accounts", dup_inc, "--ledger", pg_ledger)
    check_report(both, truth, {"duplicate_posting", "balance_mismatch"}, dup_inc)
    assert both["summary"]["balance_mismatch_accounts"] == len(bal)

    # the same rows in SQLite give the same report, row for row
    lite = f"sqlite:///{cli.workspace.parent / 'ledger.sqlite'}"
    write_ledger(lite, rows)
    assert cli.json("incident", "accounts", dup_inc, "--ledger", lite) == both


def test_incident_show_impact_from_a_postgres_ledger(
    cli: Cli, services: Services, pg_ledger: str
) -> None:
    rows = impact_ledger()
    write_ledger(pg_ledger, rows)
    stored_in_postgres(pg_ledger, rows)
    reconcile(services, pg_ledger)
    expected = expected_impact(rows)
    failing = duplicates_failing_balance(rows)
    assert 0 < failing < expected["duplicate_posting"]["accounts"]
    assert set(expected["duplicate_posting"]["delta_minor_by_currency"]) >= {"JPY"}

    dup_inc = cli.json("alerts", "ack-group", "duplicate_posting")["incident"]["id"]
    shown = cli.json("incident", "show", dup_inc)
    (group,) = shown["impact"]["groups"]
    assert group["key"] == "duplicate_posting"
    check_group(group, expected["duplicate_posting"])
    assert group["duplicate_accounts_failing_balance"] == failing
    accounts = cli.json("incident", "accounts", dup_inc, "--ledger", pg_ledger)
    assert accounts["summary"]["duplicate_accounts_failing_balance"] == failing

    cli.json("alerts", "ack-group", "balance_mismatch", "--incident", dup_inc)
    groups = {g["key"]: g for g in cli.json("incident", "show", dup_inc)["impact"]["groups"]}
    assert set(groups) == set(expected) == {"duplicate_posting", "balance_mismatch"}
    for key, want in expected.items():
        check_group(groups[key], want)
    assert groups["balance_mismatch"]["duplicate_accounts_failing_balance"] is None
    assert groups["duplicate_posting"]["duplicate_accounts_failing_balance"] == failing


def test_postmortem_times_from_postgres_recorded_at(
    services: Services, clock: FakeClock, pg_ledger: str
) -> None:
    clock.step = timedelta(0)  # stands still at each moment set below
    clock.now = RECONCILED
    rows = postmortem_ledger()
    write_ledger(pg_ledger, rows)
    stored_in_postgres(pg_ledger, rows)
    ctx = services.context("test", actor="reconciler")
    services.reconciler.run(ctx, ReconcileOptions(ledger_url=pg_ledger, mode="full", batch=2))

    on_call = services.context("on call")
    clock.now = FIRST_ACK
    incident_id = services.alerts.acknowledge_group(on_call, "duplicate_posting").incident.id
    resolve_reopen_reack(services, on_call, clock, incident_id)

    first_bad = min(RECORDED[i] for i in (2, 3, 4, 5, 6))  # the duplicates' copies
    assert first_bad == DAY.replace(hour=20, minute=5)
    ttd, tta, duration = RECONCILED - first_bad, FIRST_ACK - RECONCILED, FINAL_RESOLVE - first_bad

    with services.db.read() as session:
        facts = collect(session, incident_id)
    assert facts.from_reconciler and facts.accounts == 2
    assert facts.first_bad_at is not None and facts.first_alert is not None
    assert datetime.fromisoformat(facts.first_bad_at.replace("Z", "+00:00")) == first_bad
    assert facts.first_bad_at.endswith("Z")
    assert facts.ttd_s == ttd.total_seconds()
    assert facts.tta_s == tta.total_seconds()  # the FIRST acknowledge
    assert facts.duration_s == duration.total_seconds()
    assert facts.ttr_s == (FINAL_RESOLVE - FIRST_ACK).total_seconds()
    impact = {(i.check, i.currency): (i.accounts, i.delta_minor) for i in facts.impact}
    assert impact == {
        ("duplicate_posting", "EUR"): (1, 2_500),
        ("duplicate_posting", "JPY"): (1, 1_400),
    }

    lines = services.postmortems.new(incident_id).read_text(encoding="utf-8").split("\n")
    assert f"- Time to detect: {spoken(ttd)}" in lines
    assert f"- Time to acknowledge: {spoken(tta)}" in lines
    assert (
        f"- Duration: {spoken(duration)} (from the first bad ledger entry to resolution)" in lines
    )
    assert f"| First bad entry recorded (ledger time) | {iso(first_bad)} |" in lines
    assert f"| First acknowledged | {iso(FIRST_ACK)} |" in lines
