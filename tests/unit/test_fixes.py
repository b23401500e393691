"""Fix forward (DESIGN §4) on a real SQLite ledger: the plan a hand-made ledger gets, its
hash, an apply and what it leaves in the ledger (against the end state written down by hand
in ``tests/support/fixes.TRUTH``), idempotency, conflicts, the events, and the closure gate."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from incidentbook.core.fixes.model import FIX_ACTOR, Plan, reversal_key
from incidentbook.core.health.verify import run_verify
from incidentbook.core.incidents.model import CORRECTION_APPLIED, FIX_PLANNED
from incidentbook.core.ledger.contract import LedgerError, open_ledger
from incidentbook.errors import CheckFailed, ConflictError, NotFoundError, UsageError
from incidentbook.services import Services
from tests.support.fixes import (
    TRUTH,
    UNTOUCHED,
    incident_with_findings,
    ledger_rows,
    make_plan,
    reconcile,
    write_fix_ledger,
)


@pytest.fixture
def ledger_path(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.sqlite"
    write_fix_ledger(path)
    return path


@pytest.fixture
def url(ledger_path: Path) -> str:
    return f"sqlite:///{ledger_path}"


def apply(services: Services, url: str, plan_id: str, **kwargs: object):  # type: ignore[no-untyped-def]
    ledger = open_ledger(url, writable=True)
    try:
        return services.fixes.apply(services.context("test"), plan_id, ledger, **kwargs)  # type: ignore[arg-type]
    finally:
        ledger.dispose()


def balances(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        return dict(conn.execute("SELECT account_id, balance_minor FROM ledger_accounts"))
    finally:
        conn.close()


def history(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        return dict(
            conn.execute("SELECT account_id, SUM(amount_minor) FROM ledger_entries GROUP BY 1")
        )
    finally:
        conn.close()


def test_the_plan_reverses_the_extra_copies_and_sets_balances_to_history(
    services: Services, url: str
) -> None:
    incident_id = incident_with_findings(services, url)
    result = make_plan(services, url, incident_id)
    plan = result.plan
    assert result.created and plan.plan_id == "FIX-0001"
    by_account = {a.account_id: a for a in plan.accounts}
    assert set(by_account) == set(TRUTH)
    for account, (currency, final, reversed_ids) in TRUTH.items():
        a = by_account[account]
        assert a.currency == currency
        assert a.derived_after_minor == final
        assert {r.reverses_entry_id for r in a.reversals} == reversed_ids
        for r in a.reversals:
            assert r.idempotency_key == f"incidentbook-fix:reverse:{r.reverses_entry_id}"
            assert r.kind == "reversal" and r.actor == FIX_ACTOR
            assert r.correlation_id == "FIX-0001"
            assert plan.plan_id in r.reason and incident_id in r.reason
    # the earliest copy stays: entry 1 of evt-1, entry 3 of evt-2, entry 7 of evt-3
    kept = {1, 3, 7}
    assert kept.isdisjoint(r.reverses_entry_id for a in plan.accounts for r in a.reversals)
    # the currency mismatch is a human's, with its evidence
    assert [(h.check, h.account_id) for h in plan.needs_human] == [("currency_mismatch", "mixed")]
    # totals per currency, from the hand-made truth: EUR reversals −1000 −500 −500
    eur = plan.totals_by_currency["EUR"]
    assert (eur.accounts, eur.reversals, eur.reversals_minor) == (2, 3, -2_000)
    assert eur.balance_change_minor == 990 - 1_990  # dup_one's stored balance stays 500
    assert plan.totals_by_currency["JPY"].balance_change_minor == -100
    assert plan.totals_by_currency["KWD"].reversals_minor == -1_234


def test_the_stored_plan_is_hashed_over_its_bytes_and_recorded_on_the_incident(
    services: Services, url: str
) -> None:
    incident_id = incident_with_findings(services, url)
    result = make_plan(services, url, incident_id)
    with sqlite3.connect(services.settings.db_path) as conn:
        body, sha = conn.execute("SELECT body, sha256 FROM fix_plans").fetchone()
    assert hashlib.sha256(body.encode()).hexdigest() == sha == result.header.sha256
    assert Plan.from_json(body) == result.plan
    events = [e for e in services.incidents.timeline(incident_id) if e.type == FIX_PLANNED]
    assert [e.data["plan_id"] for e in events] == ["FIX-0001"]
    assert events[0].data["sha256"] == sha


def test_planning_twice_over_the_same_ledger_gives_the_same_plan(
    services: Services, url: str
) -> None:
    incident_id = incident_with_findings(services, url)
    first = make_plan(services, url, incident_id)
    second = make_plan(services, url, incident_id)
    assert not second.created
    assert second.header == first.header
    assert [h.plan_id for h in services.fixes.list_plans()] == ["FIX-0001"]


def test_apply_leaves_every_account_at_its_truth_and_the_history_intact(
    services: Services, url: str, ledger_path: Path
) -> None:
    incident_id = incident_with_findings(services, url)
    before_accounts, before_entries = ledger_rows(ledger_path)
    plan = make_plan(services, url, incident_id).plan
    report = apply(services, url, plan.plan_id, batch_size=2)
    assert report.totals.corrected == len(TRUTH) and report.totals.conflicts == 0
    assert report.batches_total == report.batches_run == 2
    stored, derived = balances(ledger_path), history(ledger_path)
    for account, (_, final, _) in TRUTH.items():
        assert stored[account] == derived[account] == final
    for account, value in UNTOUCHED.items():
        assert stored[account] == value
    _, after_entries = ledger_rows(ledger_path)
    # every original row is exactly as it was; the new rows are the reversals
    assert after_entries[: len(before_entries)] == before_entries
    new = after_entries[len(before_entries) :]
    expected_targets = sorted(i for _, _, ids in TRUTH.values() for i in ids)
    assert sorted(row[12] for row in new) == expected_targets
    originals = {row[0]: row for row in before_entries}
    for row in new:
        assert row[2] == -originals[row[12]][2]  # the exact negation
        assert row[3] == originals[row[12]][3]  # in the corrected entry's currency
        assert row[8] == reversal_key(row[12])
        assert row[0] > max(originals)  # the ledger's next ids
    # an untouched account's row is byte for byte the same
    accounts_after, _ = ledger_rows(ledger_path)
    assert [a for a in accounts_after if a[0] in UNTOUCHED] == [
        a for a in before_accounts if a[0] in UNTOUCHED
    ]


def test_a_second_apply_writes_nothing(
    services: Services, url: str, ledger_path: Path
) -> None:
    incident_id = incident_with_findings(services, url)
    plan = make_plan(services, url, incident_id).plan
    apply(services, url, plan.plan_id)
    once = ledger_rows(ledger_path)
    again = apply(services, url, plan.plan_id)
    assert again.batches_run == 0 and again.totals.entries_written == len(once[1]) - 13
    assert ledger_rows(ledger_path) == once


def test_an_overlapping_second_plan_reverses_no_entry_twice(
    services: Services, url: str, ledger_path: Path
) -> None:
    reconcile(services, url)
    ctx = services.context("test")
    incident_id = services.alerts.acknowledge_group(ctx, "duplicate_posting").incident.id
    first = make_plan(services, url, incident_id).plan  # the duplicates only
    services.alerts.acknowledge_group(ctx, "balance_mismatch", incident_id=incident_id)
    second = make_plan(services, url, incident_id)  # made before the first is applied
    assert second.created and second.plan.plan_id == "FIX-0002"
    assert {a.account_id for a in first.accounts} < {a.account_id for a in second.plan.accounts}
    apply(services, url, first.plan_id)
    report = apply(services, url, second.plan.plan_id)
    outcome = {o.account_id: o.status for o in report.outcomes}
    assert outcome == {"dup_all": "already_correct", "dup_one": "already_correct",
                       "dup_kwd": "already_correct", "bal_jpy": "corrected"}  # fmt: skip
    assert report.totals.entries_written == 0
    _, entries = ledger_rows(ledger_path)
    targets = [row[12] for row in entries if row[12] is not None]
    assert sorted(targets) == sorted(i for _, _, ids in TRUTH.values() for i in ids)
    stored, derived = balances(ledger_path), history(ledger_path)
    assert all(stored[a] == derived[a] == final for a, (_, final, _) in TRUTH.items())


def test_an_account_changed_since_the_plan_is_a_conflict_and_the_rest_goes_on(
    services: Services, url: str, ledger_path: Path
) -> None:
    incident_id = incident_with_findings(services, url)
    plan = make_plan(services, url, incident_id).plan
    with sqlite3.connect(ledger_path) as conn:  # a customer pays dup_all meanwhile
        conn.execute(
            "INSERT INTO ledger_entries VALUES (99, 'dup_all', 5, 'EUR', 'payment',"
            " '2026-10-17T03:00:00.000000Z', '2026-10-17T03:00:00.000000Z', 'evt-99', 'k-99',"
            " 'system:api', 'late', 'req-99', NULL)"
        )
        conn.execute("UPDATE ledger_accounts SET balance_minor = 1995 WHERE account_id='dup_all'")
    report = apply(services, url, plan.plan_id)
    outcome = {o.account_id: o for o in report.outcomes}
    assert outcome["dup_all"].status == "conflict"
    assert any("stored balance changed" in r for r in outcome["dup_all"].reasons)
    assert report.totals.conflicts == 1 and report.totals.corrected == len(TRUTH) - 1
    stored = balances(ledger_path)
    assert stored["dup_all"] == 1_995  # nothing written to it, the customer's entry kept
    assert stored["bal_jpy"] == TRUTH["bal_jpy"][1]
    conflicts = [
        e.data["conflicts"]
        for e in services.incidents.timeline(incident_id)
        if e.type == CORRECTION_APPLIED
    ]
    assert sum(conflicts) == 1


def test_each_batch_is_one_correction_event_with_its_totals(
    services: Services, url: str
) -> None:
    incident_id = incident_with_findings(services, url)
    plan = make_plan(services, url, incident_id).plan
    apply(services, url, plan.plan_id, batch_size=3)
    events = [e for e in services.incidents.timeline(incident_id) if e.type == CORRECTION_APPLIED]
    assert [e.data["batch"] for e in events] == [0, 1]
    assert sum(e.data["reversals"] for e in events) == 4
    eur = sum(e.data["reversals_minor_by_currency"].get("EUR", 0) for e in events)
    assert eur == -2_000
    assert all(e.data["ledger"] == plan.ledger and e.data["sha256"] for e in events)


def test_resolve_is_gated_until_a_reconcile_after_the_fix_shows_nothing_firing(
    services: Services, url: str
) -> None:
    incident_id = incident_with_findings(services, url)
    ctx = services.context("done")
    with pytest.raises(CheckFailed, match="still firing: run reconcile after the fix"):
        services.incidents.resolve(ctx, incident_id)
    plan = make_plan(services, url, incident_id).plan
    apply(services, url, plan.plan_id)
    # the currency_mismatch finding still fires (a human's), so the gate stays shut ...
    reconcile(services, url)
    with pytest.raises(CheckFailed, match="1 finding still firing"):
        services.incidents.resolve(ctx, incident_id)
    with pytest.raises(UsageError, match="--force needs --reason"):
        services.incidents.resolve(services.context(), incident_id, force=True)
    outcome = services.incidents.resolve(
        services.context("the currency mismatch is ticket FIN-12"), incident_id, force=True
    )
    assert outcome.incident.status == "resolved"
    assert outcome.event is not None and outcome.event.data["forced"] is True
    assert outcome.event.reason == "the currency mismatch is ticket FIN-12"


def test_a_fix_not_yet_proven_by_a_reconcile_keeps_the_gate_shut(
    services: Services, tmp_path: Path
) -> None:
    path = tmp_path / "only_dups.sqlite"
    url = write_fix_ledger(path)
    reconcile(services, url)
    ctx = services.context("test")
    incident_id = services.alerts.acknowledge_group(ctx, "duplicate_posting").incident.id
    services.alerts.acknowledge_group(ctx, "balance_mismatch", incident_id=incident_id)
    plan = make_plan(services, url, incident_id).plan
    apply(services, url, plan.plan_id)
    check = services.incidents.closure(incident_id)
    assert check is not None and check.firing > 0
    reconcile(services, url)
    check = services.incidents.closure(incident_id)
    assert check is not None and check.firing == 0 and not check.blocked
    assert services.incidents.resolve(ctx, incident_id).incident.status == "resolved"


def test_verify_proves_the_fix(services: Services, url: str, ledger_path: Path) -> None:
    incident_id = incident_with_findings(services, url)
    plan = make_plan(services, url, incident_id).plan
    ledger = open_ledger(url)
    try:
        assert not services.fixes.verify(plan.plan_id, ledger).ok
        apply(services, url, plan.plan_id)
        report = services.fixes.verify(plan.plan_id, ledger)
        assert report.ok, report.to_dict()
        with sqlite3.connect(ledger_path) as conn:  # someone edits an original entry
            conn.execute("UPDATE ledger_entries SET reason = 'edited' WHERE entry_id = 1")
        bad = {a.account_id: a for a in services.fixes.verify(plan.plan_id, ledger).accounts}
        assert not bad["dup_all"].others_unchanged and bad["bal_jpy"].ok
    finally:
        ledger.dispose()


def test_refusals_write_nothing(services: Services, url: str, ledger_path: Path,
                                tmp_path: Path) -> None:  # fmt: skip
    incident_id = incident_with_findings(services, url)
    plan = make_plan(services, url, incident_id).plan
    before = ledger_path.read_bytes()
    with pytest.raises(NotFoundError, match="no plan FIX-0009"):
        apply(services, url, "FIX-0009")
    with pytest.raises(UsageError, match="not a plan id"):
        apply(services, url, "INC-0001")
    other = tmp_path / "other.sqlite"
    other_url = write_fix_ledger(other)
    with pytest.raises(UsageError, match="was planned for ledger"):
        apply(services, other_url, plan.plan_id)
    with pytest.raises(UsageError, match="--max-rate"):
        apply(services, url, plan.plan_id, max_rate=float("nan"))
    ledger_path.chmod(0o444)
    try:
        with pytest.raises(LedgerError, match="read-only"):
            open_ledger(url, writable=True)
    finally:
        ledger_path.chmod(0o644)
    # a stored plan edited under its triggers is refused
    with sqlite3.connect(services.settings.db_path) as conn:
        conn.execute("DROP TRIGGER fix_plans_no_update")
        conn.execute("UPDATE fix_plans SET body = replace(body, '-1000', '-999')")
        conn.execute(
            "CREATE TRIGGER fix_plans_no_update BEFORE UPDATE ON fix_plans "
            "BEGIN SELECT RAISE(ABORT, 'fix_plans is append-only: UPDATE refused'); END"
        )
    with pytest.raises(ConflictError, match="damaged"):
        apply(services, url, plan.plan_id)
    assert ledger_path.read_bytes() == before
    with (
        pytest.raises(sqlite3.DatabaseError, match="append-only"),
        sqlite3.connect(services.settings.db_path) as conn,
    ):
        conn.execute("DELETE FROM fix_plans")


def test_an_incident_without_firing_findings_has_nothing_to_fix(
    services: Services, url: str
) -> None:
    incident = services.incidents.open(services.context(), "by hand").incident
    with pytest.raises(UsageError, match="nothing to fix"):
        make_plan(services, url, incident.id)
    with pytest.raises(NotFoundError):
        make_plan(services, url, "INC-0999")


def test_verify_rehashes_plans_and_counts_one_event_per_batch(
    services: Services, url: str
) -> None:
    incident_id = incident_with_findings(services, url)
    plan = make_plan(services, url, incident_id).plan
    apply(services, url, plan.plan_id, batch_size=3)
    results = {r.name: r for r in run_verify(services.settings, services.db)}
    assert results["fix_plans"].ok and results["fix_plans"].checked == 1 + 2
    assert all(r.ok for r in results.values()), [r.problems for r in results.values()]
    with sqlite3.connect(services.settings.db_path) as conn:
        conn.execute("DROP TRIGGER fix_plans_no_update")
        conn.execute("UPDATE fix_plans SET body = replace(body, 'dup_all', 'dup_alL')")
    fix = {r.name: r for r in run_verify(services.settings, services.db)}["fix_plans"]
    assert fix.problems == ["FIX-0001: its content no longer matches its sha256"]
