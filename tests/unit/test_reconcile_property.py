"""Property tests: random ledgers with random injected faults of every check; the reconciler
finds exactly the injected set (and the matching alerts fire), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from incidentbook.core.ledger.reconcile.model import ReconcileOptions
from incidentbook.core.ledger.reconcile.runs import findings
from incidentbook.services import Services
from incidentbook.testing.synth import FAULT_KINDS, faulted_ledger, write_ledger

fault_counts = st.fixed_dictionaries({kind: st.integers(0, 3) for kind in FAULT_KINDS})
PROPERTY = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def firing(services: Services) -> set[str]:
    with services.db.read() as session:
        rows = session.connection().execute(
            text("SELECT fingerprint FROM alerts WHERE source = 'reconciler' AND status = 'firing'")
        )
        return {str(r[0]) for r in rows}


def check_exact(services: Services, url: str, expected: set[str], batch: int) -> None:
    ctx = services.context("property", actor="reconciler")
    summary = services.reconciler.run(
        ctx, ReconcileOptions(ledger_url=url, mode="full", batch=batch)
    )
    found = {f.fingerprint for f in findings(services.db, summary.run_id)}
    assert found == expected, (sorted(found - expected), sorted(expected - found))
    assert summary.found == len(expected)
    # alerts mirror the findings exactly: earlier examples' alerts were resolved by this run
    assert firing(services) == expected


@PROPERTY
@given(
    seed=st.integers(0, 10**6),
    accounts=st.integers(3, 40),
    faults=fault_counts,
    batch=st.integers(1, 9),
)
def test_sqlite_finds_exactly_the_injected_faults(
    services: Services, seed: int, accounts: int, faults: dict[str, int], batch: int
) -> None:
    rows, expected = faulted_ledger(seed, accounts, faults)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'ledger.sqlite'}"
        write_ledger(url, rows, indexes=bool(seed % 2))
        check_exact(services, url, expected, batch)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 10**6),
    accounts=st.integers(3, 30),
    faults=fault_counts,
    batch=st.integers(1, 9),
)
def test_postgres_finds_exactly_the_injected_faults(
    services: Services, pg_url: str, seed: int, accounts: int, faults: dict[str, int], batch: int
) -> None:
    rows, expected = faulted_ledger(seed, accounts, faults)
    write_ledger(pg_url, rows, indexes=bool(seed % 2))
    check_exact(services, pg_url, expected, batch)


def test_every_check_is_exercised_with_details(services: Services, tmp_path: Path) -> None:
    """One ledger with two faults of each kind: fingerprints and deltas are the contract's."""
    rows, expected = faulted_ledger(42, 25, dict.fromkeys(FAULT_KINDS, 2), decoys=6)
    url = f"sqlite:///{tmp_path / 'l.sqlite'}"
    write_ledger(url, rows)
    check_exact(services, url, expected, 4)
    by_check: dict[str, int] = {}
    for fp in expected:
        by_check[fp.split("/")[0]] = by_check.get(fp.split("/")[0], 0) + 1
    assert set(by_check) == set(FAULT_KINDS)
    alert = services.alerts.get(sorted(f for f in expected if f.startswith("balance"))[0])
    assert alert.source == "reconciler" and alert.name == "balance_mismatch"
    assert set(alert.labels) == {"check", "account_id", "currency"}
    stored = int(json.loads(json.dumps(alert.annotations))["stored_minor"])
    derived = int(alert.annotations["derived_minor"])
    assert int(alert.annotations["delta_minor"]) == stored - derived != 0
