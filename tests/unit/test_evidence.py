"""Evidence frozen at detection (issue 13): the hashes equal those the test computes from the
rows it wrote; a freeze is idempotent, batched (5,000 accounts in one snapshot, a bounded number
of queries), heals after an unreadable ledger, grows when accounts join; corrections, later
runs and pruning never change it; verify catches an edited body or set; SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from incidentbook.context import Context
from incidentbook.core.evidence import service as evidence_service
from incidentbook.core.health.verify import CHECKS, run_verify
from incidentbook.core.ledger import contract
from incidentbook.core.ledger.contract import open_ledger
from incidentbook.core.ledger.reconcile import runs
from incidentbook.core.ledger.reconcile.model import ReconcileOptions
from incidentbook.services import Services
from incidentbook.testing.synth import LedgerRows, write_ledger
from tests.support import ledgers
from tests.support.accounts import T0, accounts_ledger, findings_from_rows
from tests.support.evidence import (
    edit_past_triggers,
    evidence_rows,
    evidence_sets,
    expected_body,
    expected_set,
    expected_sha,
    stored_by_currency,
)


def reconcile(services: Services, url: str) -> None:
    ctx = services.context("test", actor="reconciler")
    services.reconciler.run(ctx, ReconcileOptions(ledger_url=url, mode="full", batch=4))


def dup_accounts(rows: LedgerRows) -> set[str]:
    return {a for a, t in findings_from_rows(rows).items() if t["dups"]}


@pytest.fixture
def ledger(services: Services, tmp_path: Path) -> tuple[LedgerRows, str]:
    rows = accounts_ledger()
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    write_ledger(url, rows)
    reconcile(services, url)
    return rows, url


def test_ack_freezes_the_groups_accounts_with_hashes_of_the_rows(
    services: Services, ctx: Context, ledger: tuple[LedgerRows, str]
) -> None:
    rows, url = ledger
    outcome = services.alerts.acknowledge_group(ctx, "duplicate_posting", ledger_url=url)
    assert outcome.warnings == ()
    inc = outcome.incident.id
    accounts = dup_accounts(rows)
    stored = evidence_rows(services.db.path, inc)
    assert set(stored) == accounts
    for account, (sha, body) in stored.items():
        assert body.encode() == expected_body(rows, account)
        assert sha == expected_sha(rows, account)
    sets = evidence_sets(services.db.path, inc)
    assert sets == [(1, len(accounts), expected_set(rows, accounts))]
    report = services.evidence.report(inc)
    assert report is not None and report.set_sha256 == expected_set(rows, accounts)
    assert report.balance_minor_by_currency == stored_by_currency(rows, accounts)
    assert {a.account_id: a.entries for a in report.accounts} == {
        a: sum(1 for e in rows.entries if e[1] == a) for a in accounts
    }
    assert services.evidence.verify() == []


def test_a_second_freeze_adds_nothing(
    services: Services, ctx: Context, ledger: tuple[LedgerRows, str]
) -> None:
    rows, url = ledger
    inc = services.alerts.acknowledge_group(ctx, "duplicate_posting", ledger_url=url).incident.id
    before = evidence_rows(services.db.path, inc), evidence_sets(services.db.path, inc)
    again = services.alerts.acknowledge_group(ctx, "duplicate_posting", ledger_url=url)
    assert again.incident.id == inc and not again.changed
    led = open_ledger(url)
    try:
        assert services.evidence.freeze(ctx, inc, led, dup_accounts(rows)).added == 0
        assert services.evidence.freeze_pending(ctx, led) == []
    finally:
        led.dispose()
    reconcile(services, url)
    assert (evidence_rows(services.db.path, inc), evidence_sets(services.db.path, inc)) == before


def test_orphan_is_frozen_with_no_account_and_its_entries(
    services: Services, ctx: Context, tmp_path: Path
) -> None:
    rows = ledgers.rows()
    url = f"sqlite:///{tmp_path / 'audit.sqlite'}"
    write_ledger(url, rows)
    inc = services.incidents.open(ctx, "by hand", "error").incident.id
    led = open_ledger(url)
    try:
        result = services.evidence.freeze(ctx, inc, led, ["acc_1", "ghost"])
    finally:
        led.dispose()
    assert (result.added, result.orphans, result.set_number) == (2, 1, 1)
    assert result.set_sha256 == expected_set(rows, ["acc_1", "ghost"])
    stored = evidence_rows(services.db.path, inc)
    assert stored["ghost"][1].encode() == expected_body(rows, "ghost")
    assert '"account":null' in stored["ghost"][1] and '"entry_id":5' in stored["ghost"][1]
    report = services.evidence.report(inc)
    assert report is not None and report.orphans == 1
    assert report.balance_minor_by_currency == {"EUR": 1_000 + 250 - 40 + 5}


def test_unreadable_ledger_warns_then_the_next_run_freezes(
    services: Services, ctx: Context, ledger: tuple[LedgerRows, str], tmp_path: Path
) -> None:
    rows, url = ledger
    missing = f"sqlite:///{tmp_path / 'nowhere.sqlite'}"
    outcome = services.alerts.acknowledge_group(ctx, "balance_mismatch", ledger_url=missing)
    (warning,) = outcome.warnings
    assert "evidence not frozen" in warning and "\n" not in warning
    inc = outcome.incident.id
    assert outcome.incident.status == "acknowledged"
    assert services.evidence.report(inc) is None
    reconcile(services, url)
    bal = {a for a, t in findings_from_rows(rows).items() if t["balance"]}
    stored = evidence_rows(services.db.path, inc)
    assert {a: s for a, (s, _b) in stored.items()} == {a: expected_sha(rows, a) for a in bal}


def test_accounts_that_join_later_are_added_in_a_new_set(
    services: Services, ctx: Context, ledger: tuple[LedgerRows, str], tmp_path: Path
) -> None:
    rows, url = ledger
    inc = services.alerts.acknowledge_group(ctx, "balance_mismatch", ledger_url=url).incident.id
    first = set(evidence_rows(services.db.path, inc))
    # a new account fails balance_mismatch: its alert joins the open incident on the next run
    rows.accounts.append(("eur_late", "EUR", 999, T0, T0 - timedelta(days=1)))
    write_ledger(url, rows)
    reconcile(services, url)
    everyone = first | {"eur_late"}
    assert set(evidence_rows(services.db.path, inc)) == everyone
    sets = evidence_sets(services.db.path, inc)
    assert sets == [(1, len(first), expected_set(rows, first)),
                    (2, len(everyone), expected_set(rows, everyone))]  # fmt: skip
    assert services.evidence.verify() == []


def test_corrections_runs_and_pruning_never_touch_evidence(
    services: Services, ctx: Context, ledger: tuple[LedgerRows, str], tmp_path: Path
) -> None:
    _rows, url = ledger
    inc = services.alerts.acknowledge_group(ctx, "duplicate_posting", ledger_url=url).incident.id
    frozen = evidence_rows(services.db.path, inc), evidence_sets(services.db.path, inc)
    # a correction of the ledger: every stored balance set to its history
    conn = sqlite3.connect(tmp_path / "ledger.sqlite")
    conn.execute(
        "UPDATE ledger_accounts SET balance_minor = (SELECT COALESCE(SUM(amount_minor), 0)"
        " FROM ledger_entries e WHERE e.account_id = ledger_accounts.account_id)"
    )
    conn.commit()
    conn.close()
    for _ in range(3):
        reconcile(services, url)
    led = open_ledger(url)
    try:
        display = led.display_url
    finally:
        led.dispose()
    pruned = runs.prune_runs(services.db, ctx, display, keep=0)
    assert pruned >= 1  # pruning ran and let old runs go
    assert (evidence_rows(services.db.path, inc), evidence_sets(services.db.path, inc)) == frozen
    assert services.evidence.verify() == []


def test_verify_names_an_edited_body_and_an_edited_set(
    services: Services, ctx: Context, ledger: tuple[LedgerRows, str]
) -> None:
    _rows, url = ledger
    inc = services.alerts.acknowledge_group(ctx, "duplicate_posting", ledger_url=url).incident.id
    assert CHECKS[-1].__name__ == "check_evidence"
    result = {r.name: r for r in run_verify(services.settings, services.db)}["evidence"]
    assert result.ok and result.checked == len(evidence_rows(services.db.path, inc)) + 1
    edit_past_triggers(
        services.db.path,
        "evidence_accounts",
        "UPDATE evidence_accounts SET body = replace(body, '\"kind\":\"payment\"',"
        " '\"kind\":\"refund\"') WHERE incident_id = ? AND account_id = 'eur_all_a'",
        (inc,),
    )
    problems = services.evidence.verify()
    assert problems == [f"evidence {inc} account eur_all_a: body does not match its sha256"
                        " (edited after it was frozen)"]  # fmt: skip
    # the append-only trigger is back
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        edit = sqlite3.connect(services.db.path)
        try:
            edit.execute("DELETE FROM evidence_sets")
        finally:
            edit.close()
    edit_past_triggers(
        services.db.path, "evidence_sets",
        "UPDATE evidence_sets SET sha256 = ? WHERE incident_id = ?", ("0" * 64, inc),
    )  # fmt: skip
    got = {r.name: r for r in run_verify(services.settings, services.db)}["evidence"]
    assert f"evidence {inc} set 1: its sha256 is not that of the" in got.problems[-1]
    assert len(got.problems) == 2


def test_5000_accounts_freeze_in_one_snapshot_and_few_queries(
    services: Services, ctx: Context, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = LedgerRows()
    for i in range(5000):
        account = f"acc_{i:05d}"
        rows.accounts.append((account, "EUR" if i % 3 else "JPY", i * 7, T0, T0))
        for j in range(1 + i % 2):
            entry_id = len(rows.entries) + 1
            rows.entries.append(
                (entry_id, account, i * 7 if j == 0 else 0, rows.accounts[-1][1], "payment",
                 T0, T0, f"evt_{entry_id}", f"idem_{entry_id}", "system:api", None, None, None)
            )  # fmt: skip
    url = f"sqlite:///{tmp_path / 'big.sqlite'}"
    write_ledger(url, rows)
    snapshots = 0
    queries = 0
    real_snapshot = contract.Ledger.snapshot
    real_rows = contract.Snapshot.rows

    def counting_snapshot(self: contract.Ledger):  # type: ignore[no-untyped-def]
        nonlocal snapshots
        snapshots += 1
        return real_snapshot(self)

    def counting_rows(self: contract.Snapshot, sql: str, params: object = ()):  # type: ignore[no-untyped-def]
        nonlocal queries
        queries += 1
        return real_rows(self, sql, params)  # type: ignore[arg-type]

    monkeypatch.setattr(contract.Ledger, "snapshot", counting_snapshot)
    monkeypatch.setattr(contract.Snapshot, "rows", counting_rows)
    inc = services.incidents.open(ctx, "many", "error").incident.id
    accounts = [a[0] for a in rows.accounts]
    led = open_ledger(url)
    try:
        result = services.evidence.freeze(ctx, inc, led, accounts)
    finally:
        led.dispose()
    assert snapshots == 1
    batches = -(-5000 // evidence_service.BATCH)
    assert batches >= 10 and queries == 2 * batches
    assert result.added == 5000 and result.set_sha256 == expected_set(rows, accounts)
    stored = evidence_rows(services.db.path, inc)
    assert len(stored) == 5000
    for account in accounts[::499]:
        assert stored[account][0] == expected_sha(rows, account)
    report = services.evidence.report(inc)
    assert report is not None
    assert report.balance_minor_by_currency == stored_by_currency(rows, accounts)
    assert services.evidence.verify() == []


def test_postgres_ledger_freezes_the_same_bytes(
    services: Services, ctx: Context, pg_url: str
) -> None:
    rows = accounts_ledger()
    write_ledger(pg_url, rows)
    reconcile(services, pg_url)
    inc = services.alerts.acknowledge_group(ctx, "duplicate_posting", ledger_url=pg_url)
    assert inc.warnings == ()
    accounts = dup_accounts(rows)
    stored = evidence_rows(services.db.path, inc.incident.id)
    assert set(stored) == accounts
    for account, (sha, body) in stored.items():
        assert body.encode() == expected_body(rows, account) and sha == expected_sha(rows, account)
    assert evidence_sets(services.db.path, inc.incident.id)[-1][2] == expected_set(rows, accounts)
