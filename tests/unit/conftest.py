"""Unit-test fixtures: a real PostgreSQL server for the ledger tests (session-scoped)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.pg import PgServer, pg_bin_dir, start_postgres


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    if pg_bin_dir() is None:
        pytest.fail(
            "PostgreSQL server binaries are not installed (make system installs them)",
            pytrace=False,
        )
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """A fresh empty PostgreSQL database for one test."""
    return pg_server.create_database()
