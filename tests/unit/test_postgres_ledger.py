"""The same ledger on SQLite and on a real PostgreSQL server: identical findings, identical
audit answers; PostgreSQL contract errors in one line."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from incidentbook.core.ledger.audit import Auditor
from incidentbook.core.ledger.contract import LedgerError, open_ledger
from incidentbook.core.ledger.reconcile.model import ReconcileOptions
from incidentbook.core.ledger.reconcile.runs import findings
from incidentbook.services import Services
from incidentbook.settings import Settings
from incidentbook.testing.synth import FAULT_KINDS, faulted_ledger, write_ledger
from tests.support.cli import Cli


def _dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def test_sqlite_and_postgres_agree(services: Services, pg_url: str, tmp_path: Path) -> None:
    rows, expected = faulted_ledger(77, 60, dict.fromkeys(FAULT_KINDS, 2), decoys=8)
    sqlite_url = f"sqlite:///{tmp_path / 'same.sqlite'}"
    write_ledger(sqlite_url, rows)
    write_ledger(pg_url, rows)
    ctx = services.context("compare", actor="reconciler")
    results = {}
    for name, url in (("sqlite", sqlite_url), ("postgres", pg_url)):
        summary = services.reconciler.run(ctx, ReconcileOptions(ledger_url=url, batch=7))
        results[name] = [f.to_dict() for f in findings(services.db, summary.run_id)]
    assert {f["fingerprint"] for f in results["sqlite"]} == expected
    assert results["sqlite"] == results["postgres"]

    lite, pg = Auditor.open(sqlite_url), Auditor.open(pg_url)
    accounts = sorted({r[0] for r in rows.accounts})[:12] + ["ghost_0"] * any(
        e[1] == "ghost_0" for e in rows.entries
    )
    for account in accounts:
        assert lite.account(account).to_dict() == pg.account(account).to_dict()
        moment = rows.entries[len(rows.entries) // 2][6]
        assert (
            lite.account(account, at=moment).to_dict() == pg.account(account, at=moment).to_dict()
        )
        day = moment.date()
        assert lite.account(account, on=day).to_dict() == pg.account(account, on=day).to_dict()
    corr = next(e[11] for e in rows.entries if str(e[11]).startswith("trf-"))
    assert [e.to_dict() for e in lite.correlation(corr)] == [
        e.to_dict() for e in pg.correlation(corr)
    ]
    lite.close()
    pg.close()


def test_postgres_contract_errors(pg_url: str, cli: Cli) -> None:
    with psycopg.connect(_dsn(pg_url), autocommit=True) as conn:
        conn.execute("CREATE TABLE ledger_accounts (account_id TEXT PRIMARY KEY)")
    with pytest.raises(LedgerError, match="ledger_accounts has no column currency"):
        open_ledger(pg_url)
    rows, _ = faulted_ledger(1, 5, {})
    write_ledger(pg_url, rows)
    with psycopg.connect(_dsn(pg_url), autocommit=True) as conn:
        conn.execute("ALTER TABLE ledger_entries ALTER COLUMN amount_minor TYPE NUMERIC(20, 2)")
    result = cli("reconcile", "--ledger", pg_url)
    assert result.exit_code == 2
    assert "ledger_entries.amount_minor is NUMERIC(20, 2), not an integer type" in result.stderr
    wrong_db = pg_url.rsplit("/", 1)[0] + "/does_not_exist"
    result = cli("audit", "acc_001", "--ledger", wrong_db)
    assert result.exit_code == 2 and "does_not_exist" in result.stderr
    assert result.stderr.count("\n") == 1


def test_postgres_reconcile_reads_in_a_repeatable_read_snapshot(
    pg_url: str, settings: Settings
) -> None:
    rows, _ = faulted_ledger(2, 5, {})
    write_ledger(pg_url, rows)
    ledger = open_ledger(pg_url)
    try:
        with ledger.snapshot() as snap:
            level = snap.one("SHOW transaction_isolation")
            read_only = snap.one("SHOW transaction_read_only")
            before = snap.one("SELECT COUNT(*) FROM ledger_entries")
            with psycopg.connect(_dsn(pg_url), autocommit=True) as conn:
                conn.execute("DELETE FROM ledger_entries")
            after = snap.one("SELECT COUNT(*) FROM ledger_entries")
    finally:
        ledger.dispose()
    assert level == ("repeatable read",) and read_only == ("on",)
    assert before == after and before is not None and before[0] > 0
