"""Property tests of fix forward (issue 13): random ledgers with duplicates (2–3 copies, the
stored balance counting every copy or one) and pure balance mismatches, plus unrelated faults
of the other checks. After reconcile → ack → plan → apply: every affected account's stored
balance equals its history equals the truth the generator knows; the other checks' findings
are exactly as before; no original entry changed; a second apply and a fresh plan add
nothing; and, after a reconcile, the incident may be resolved. On SQLite and PostgreSQL."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidentbook.core.ledger.contract import open_ledger
from incidentbook.testing.synth import write_ledger
from tests.support.fix_random import (
    FIXABLE_CHECKS,
    OTHER_CHECKS,
    ack_fixable,
    balances,
    dump,
    entry_hashes,
    fix_ledger,
    fresh_services,
    histories,
    reconcile,
    reversals,
)

# (duplicates the stored balance took in full, duplicates it took once, pure mismatches)
fixable_counts = st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)).filter(
    lambda c: sum(c) > 0
)
other_faults = st.fixed_dictionaries({kind: st.integers(0, 2) for kind in OTHER_CHECKS})
PROPERTY = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def others_of(found: dict[str, dict[str, object]]) -> dict[str, dict[str, object]]:
    return {fp: f for fp, f in found.items() if f["check"] not in FIXABLE_CHECKS}


def fix_and_check(
    url: str,
    root: Path,
    seed: int,
    accounts: int,
    counts: tuple[int, int, int],
    others: dict[str, int],
    batch: int,
) -> None:
    dup_all, dup_one, mismatch = counts
    made = fix_ledger(
        seed, accounts, dup_all=dup_all, dup_one=dup_one, mismatch=mismatch, others=others
    )
    write_ledger(url, made.rows, indexes=bool(seed % 2))
    services = fresh_services(root / "ws")
    try:
        before = reconcile(services, url)
        # the generator's faults are exactly what the reconciler finds
        assert set(before) == made.fixable | made.others, sorted(
            set(before) ^ (made.fixable | made.others)
        )
        originals = entry_hashes(url)
        incident = ack_fixable(services)
        ledger = open_ledger(url)
        try:
            result = services.fixes.plan(services.context("fix test"), incident, ledger)
        finally:
            ledger.dispose()
        plan = result.plan
        assert {a.account_id for a in plan.accounts} == set(made.truth)
        assert plan.reversal_count == made.extra_copies
        assert {h.check for h in plan.needs_human} <= set(OTHER_CHECKS)

        writable = open_ledger(url, writable=True)
        try:
            report = services.fixes.apply(
                services.context("fix test"), plan.plan_id, writable, batch_size=batch
            )
            assert report.totals.conflicts == 0
            assert report.totals.corrected == len(made.truth)
            assert report.totals.entries_written == made.extra_copies

            stored, history = balances(url), histories(url)
            for account, truth in made.truth.items():
                assert stored[account] == history[account] == truth, account
            after_hashes = entry_hashes(url)
            assert {i: after_hashes[i] for i in originals} == originals
            assert len(after_hashes) == len(originals) + made.extra_copies
            assert len(reversals(url)) == made.extra_copies

            # a second apply of the plan, and a fresh plan from the still-firing findings
            # (made before any reconcile) applied too: nothing new in the ledger
            snapshot = dump(url)
            again = services.fixes.apply(services.context("fix test"), plan.plan_id, writable)
            assert again.batches_run == 0
            fresh = services.fixes.plan(services.context("fix test"), incident, writable)
            assert fresh.plan.plan_id != plan.plan_id and fresh.plan.accounts == ()
            services.fixes.apply(services.context("fix test"), fresh.plan.plan_id, writable)
            assert dump(url) == snapshot
        finally:
            writable.dispose()

        after = reconcile(services, url)
        assert others_of(after) == others_of(before)
        assert not set(after) & made.fixable
        verified = services.fixes.verify(plan.plan_id, open_ledger(url))
        assert verified.ok, [a for a in verified.accounts if not a.ok]
        resolved = services.incidents.resolve(services.context("fix test"), incident)
        assert resolved.incident.status == "resolved"
    finally:
        services.db.dispose()


@PROPERTY
@given(
    seed=st.integers(0, 10**6),
    accounts=st.integers(8, 40),
    counts=fixable_counts,
    others=other_faults,
    batch=st.integers(1, 4),
)
def test_sqlite_fix_restores_the_truth(
    seed: int, accounts: int, counts: tuple[int, int, int], others: dict[str, int], batch: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'ledger.sqlite'}"
        fix_and_check(url, Path(tmp), seed, accounts, counts, others, batch)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 10**6),
    accounts=st.integers(8, 30),
    counts=fixable_counts,
    others=other_faults,
    batch=st.integers(1, 4),
)
def test_postgres_fix_restores_the_truth(
    pg_url: str,
    seed: int,
    accounts: int,
    counts: tuple[int, int, int],
    others: dict[str, int],
    batch: int,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        fix_and_check(pg_url, Path(tmp), seed, accounts, counts, others, batch)
