"""Forward-only migrations: the kept 0001 database upgrades with nothing lost."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import inspect

from incidentbook.core.health.verify import run_verify
from incidentbook.core.incidents.service import IncidentService
from incidentbook.errors import WorkspaceError
from incidentbook.settings import Settings
from incidentbook.storage.db import Database, make_engine
from incidentbook.storage.migrations import SCHEMA_HEAD, current_revision, known_revisions

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _rows(path: Path, table: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
    finally:
        conn.close()


def test_schema_head_constant_matches_alembic() -> None:
    revisions = known_revisions()
    assert revisions[0] == SCHEMA_HEAD  # walk_revisions starts at head
    assert revisions[-1] == "0001"


def test_oldest_fixture_upgrades_with_nothing_lost(tmp_path: Path) -> None:
    db_path = tmp_path / "state.sqlite"
    shutil.copy(FIXTURES / "state-0001.sqlite", db_path)
    before = {t: _rows(db_path, t) for t in ("events", "incidents", "alerts", "alert_receipts")}
    assert before["events"] and before["incidents"] and before["alerts"]
    db = Database(db_path)
    _ = db.engine  # upgrades
    assert current_revision(db.engine) == SCHEMA_HEAD
    after = {t: _rows(db_path, t) for t in before}
    for table, rows in before.items():
        # Later migrations may add columns; every old value is still there, in order.
        assert [r[: len(rows[0])] if rows else r for r in after[table]] == rows, table
    # The upgraded database still verifies and still works.
    settings = Settings(workspace=tmp_path, config={})
    results = run_verify(settings, db)
    assert all(r.ok for r in results), [r.problems for r in results if not r.ok]
    incidents = IncidentService(db)
    assert [i.id for i in incidents.list_incidents(include_resolved=True)][:1]
    db.dispose()


def test_upgrade_is_idempotent(tmp_path: Path) -> None:
    db = Database(tmp_path / "state.sqlite")
    _ = db.engine
    db.dispose()
    schema = sorted(_rows(tmp_path / "state.sqlite", "sqlite_master"))
    db2 = Database(tmp_path / "state.sqlite")
    _ = db2.engine
    db2.dispose()
    assert sorted(_rows(tmp_path / "state.sqlite", "sqlite_master")) == schema


def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    db = Database(path)
    _ = db.engine
    db.dispose()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.commit()
    conn.close()
    with pytest.raises(WorkspaceError, match="newer than this incidentbook"):
        _ = Database(path).engine


def test_models_match_the_migrated_schema(tmp_path: Path) -> None:
    """SQLModel classes and Alembic migrations describe the same columns."""
    from sqlmodel import SQLModel

    import incidentbook.storage.models  # noqa: F401  (registers the tables)

    engine = make_engine(tmp_path / "state.sqlite")
    db = Database(tmp_path / "state.sqlite")
    _ = db.engine
    inspector = inspect(engine)
    for table in SQLModel.metadata.sorted_tables:
        if table.name not in inspector.get_table_names():
            continue
        db_columns = {c["name"] for c in inspector.get_columns(table.name)}
        assert {c.name for c in table.columns} == db_columns, table.name
    engine.dispose()
    db.dispose()
