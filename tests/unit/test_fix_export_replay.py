"""``fix export --sql`` (issue 13): the SQL replayed with the ledger owner's own tool on a copy
of the ledger (sqlite3's executescript; psycopg on PostgreSQL) gives the balances and the
reversals ``fix apply`` gives (entry ids and times aside); replaying it again, or on the
ledger ``fix apply`` already corrected, writes nothing."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import psycopg

from incidentbook.testing.synth import write_ledger
from tests.support.cli import Cli
from tests.support.fix_random import (
    balances,
    dump,
    entry_hashes,
    fix_ledger,
    histories,
    plan_by_cli,
)
from tests.support.pg import PgServer

REVERSAL_COLUMNS = (
    "SELECT account_id, amount_minor, currency, kind, external_ref, idempotency_key, actor,"
    " reason, correlation_id, reverses_entry_id FROM ledger_entries"
    " WHERE idempotency_key LIKE 'incidentbook-fix:%' ORDER BY idempotency_key"
)


def _sqlite_rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return [tuple(r) for r in conn.execute(sql)]
    finally:
        conn.close()


def _replay_sqlite(path: Path, script: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.executescript(script)
    finally:
        conn.close()


def test_sqlite_export_replays_as_apply(cli: Cli, tmp_path: Path) -> None:
    made = fix_ledger(31, 40, dup_all=5, dup_one=4, mismatch=4, others={"clock_skew": 1})
    path, copy = tmp_path / "ledger.sqlite", tmp_path / "copy.sqlite"
    write_ledger(f"sqlite:///{path}", made.rows)
    _incident, plan = plan_by_cli(cli, f"sqlite:///{path}")
    shutil.copyfile(path, copy)
    originals = entry_hashes(f"sqlite:///{copy}")
    out = tmp_path / "fix.sql"
    result = cli("fix", "export", plan, "--sql", str(out), "--batch", "4")
    assert result.exit_code == 0, result.stderr
    script = out.read_text(encoding="utf-8")
    assert script.count("BEGIN IMMEDIATE;") == script.count("COMMIT;") == 4  # 13 accounts

    applied = cli("fix", "apply", plan, "--yes", "--ledger", f"sqlite:///{path}")
    assert applied.exit_code == 0, applied.stderr
    _replay_sqlite(copy, script)

    lite, copied = f"sqlite:///{path}", f"sqlite:///{copy}"
    assert balances(copied) == balances(lite)
    assert _sqlite_rows(copy, REVERSAL_COLUMNS) == _sqlite_rows(path, REVERSAL_COLUMNS)
    assert len(_sqlite_rows(copy, REVERSAL_COLUMNS)) == made.extra_copies
    for account, truth in made.truth.items():
        assert balances(copied)[account] == histories(copied)[account] == truth
    hashes = entry_hashes(copied)
    assert {i: hashes[i] for i in originals} == originals

    # replayed again on the copy, and on the ledger fix apply corrected: nothing new
    for target in (copy, path):
        before = dump(f"sqlite:///{target}")
        _replay_sqlite(target, script)
        assert dump(f"sqlite:///{target}") == before


def _dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _replay_pg(url: str, script: str) -> None:
    with psycopg.connect(_dsn(url), autocommit=True) as conn:
        conn.execute(script.encode())  # no parameters: the simple protocol runs every statement


def test_postgres_export_replays_as_apply(cli: Cli, pg_url: str, pg_server: PgServer) -> None:
    made = fix_ledger(32, 30, dup_all=4, dup_one=3, mismatch=3, others={"orphan_entry": 1})
    copy = pg_server.create_database()
    write_ledger(pg_url, made.rows)
    write_ledger(copy, made.rows)
    _incident, plan = plan_by_cli(cli, pg_url)
    out = cli.workspace.parent / "fix.sql"
    assert cli("fix", "export", plan, "--sql", str(out), "--batch", "3").exit_code == 0
    script = out.read_text(encoding="utf-8")
    assert "LOCK TABLE ledger_entries" in script
    applied = cli("fix", "apply", plan, "--yes", "--ledger", pg_url)
    assert applied.exit_code == 0, applied.stderr
    _replay_pg(copy, script)

    def reversal_rows(url: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(_dsn(url)) as conn:
            return [tuple(r) for r in conn.execute(REVERSAL_COLUMNS)]

    assert balances(copy) == balances(pg_url)
    assert reversal_rows(copy) == reversal_rows(pg_url)
    assert len(reversal_rows(copy)) == made.extra_copies
    for account, truth in made.truth.items():
        assert balances(copy)[account] == histories(copy)[account] == truth
    for target in (copy, pg_url):
        before = dump(target)
        _replay_pg(target, script)
        assert dump(target) == before
