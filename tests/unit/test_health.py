"""Health figures as data (issue 14): discrepancies over full runs (accounts and money per
currency per check, incremental runs left out, pruned runs kept by their summary), the
watermark's lag behind the ledger, the last run's age, open alerts by severity, MTTA/MTTR over
resolved incidents, overdue action items; each against truth built from the rows written."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import text

from incidentbook.context import Context
from incidentbook.core.alerts.model import NativeAlert
from incidentbook.core.ledger.checks import CHECKS
from incidentbook.core.ledger.reconcile.model import stored_checks
from incidentbook.core.ledger.reconcile.runs import prune_runs, run_summary
from incidentbook.services import Services
from incidentbook.testing.clocks import FakeClock
from tests.support.accounts import findings_from_rows
from tests.support.health import (
    first_state,
    reconcile,
    second_state,
    tell_story,
    truth_of,
    write_actions,
)


def _figures(story_truth: dict[str, tuple[int, dict[str, int]]]) -> dict[str, object]:
    return {c: story_truth.get(c, (0, {})) for c in CHECKS}


def test_the_truth_has_both_checks_and_changes_between_states() -> None:
    one, two = truth_of(first_state()), truth_of(second_state(first_state()))
    assert set(one) == set(two) == {"balance_mismatch", "duplicate_posting"}
    assert one["balance_mismatch"] != two["balance_mismatch"]
    assert set(one["duplicate_posting"][1]) == {"EUR", "JPY"}


def test_full_runs_carry_accounts_and_money_per_currency_per_check(services: Services) -> None:
    story = tell_story(services)
    health = services.reconciler.health()
    runs = health.full_runs
    assert [r.run_id for r in runs] == story.full_run_ids  # oldest first, incremental left out
    assert story.incremental_run_id not in {r.run_id for r in runs}
    for run, truth in zip(runs, story.full_truths, strict=True):
        assert run.discrepancies is not None
        got = {c: (d.accounts, d.money) for c, d in run.discrepancies.items()}
        assert got == _figures(truth)
        assert all(type(v) is int for d in run.discrepancies.values() for v in d.money.values())
    final = findings_from_rows(second_state(first_state()))
    assert runs[-1].found["duplicate_posting"] == sum(len(t["dups"]) for t in final.values())
    assert runs[-1].found["balance_mismatch"] == sum(
        t["balance"] is not None for t in final.values()
    )
    assert health.last_found == runs[-1].found


def test_lag_is_the_ledgers_newest_entry_against_the_watermark(services: Services) -> None:
    story = tell_story(services)
    lag = services.reconciler.health().lag
    assert lag is not None and lag.error is None
    newest = max(story.final.entries, key=lambda e: e[0])
    assert lag.newest_entry_id == newest[0]
    assert lag.watermark_entry_id == story.watermark_entry_id
    assert lag.entries_behind == len(story.final.entries) - story.watermark_entry_id == 3
    assert lag.lag_seconds == (newest[6] - story.watermark_at).total_seconds() == 15 * 60


def test_no_lag_when_the_ledger_is_where_the_run_left_it(services: Services) -> None:
    story = tell_story(services)
    assert reconcile(services, story.url, "incremental").status == "complete"
    lag = services.reconciler.health().lag
    assert lag is not None and lag.entries_behind == 0 and lag.lag_seconds == 0.0


def test_an_unreadable_ledger_gives_a_lag_with_its_error(services: Services) -> None:
    story = tell_story(services)
    Path(story.url.removeprefix("sqlite:///")).unlink()
    health = services.reconciler.health()
    assert health.lag is not None and health.lag.error and health.lag.lag_seconds is None
    assert len(health.full_runs) == 2  # the state database's figures are still there


def test_never_reconciled(services: Services) -> None:
    health = services.reconciler.health()
    assert not health.ever_run and health.lag is None and health.full_runs == []


def test_age_and_duration_of_the_last_complete_run(services: Services, clock: FakeClock) -> None:
    clock.step = timedelta(0)
    tell_story(services)
    clock.advance(timedelta(minutes=7))
    health = services.reconciler.health()
    assert health.last_complete is not None and health.last_complete.mode == "full"
    assert health.age_seconds == 7 * 60 and health.duration_seconds == 0


def test_pruned_runs_keep_their_figures_and_old_summaries_are_counted(
    services: Services,
) -> None:
    story = tell_story(services)
    first, second = story.full_run_ids
    with services.db.write() as session:  # a summary as releases before this one wrote it
        conn = session.connection()
        old = json.loads(
            conn.execute(
                text("SELECT summary FROM reconcile_runs WHERE run_id = :r"), {"r": first}
            ).scalar_one()
        )
        del old["discrepancies"]
        conn.execute(
            text("UPDATE reconcile_runs SET summary = :s WHERE run_id = :r"),
            {"s": json.dumps(old), "r": first},
        )
    # not pruned yet: counted from its findings
    (run, _) = services.reconciler.health().full_runs
    assert {c: (d.accounts, d.money) for c, d in run.discrepancies.items()} == _figures(  # type: ignore[union-attr]
        story.full_truths[0]
    )
    # pruned: counted before its findings went, kept in its summary
    ctx = services.context("prune")
    assert prune_runs(services.db, ctx, story.url, keep=1) == 2  # the incremental one too
    health = services.reconciler.health()
    assert health.pruned_runs == 2
    for run, truth in zip(health.full_runs, story.full_truths, strict=True):
        assert run.discrepancies is not None
        assert {c: (d.accounts, d.money) for c, d in run.discrepancies.items()} == _figures(truth)
    assert [r.run_id for r in health.full_runs] == [first, second]


def test_a_run_pruned_before_summaries_kept_figures_has_none(services: Services) -> None:
    story = tell_story(services)
    prune_runs(services.db, services.context("prune"), story.url, keep=1)
    with services.db.write() as session:
        conn = session.connection()
        conn.execute(
            text("UPDATE reconcile_runs SET summary = :s WHERE run_id = :r"),
            {"s": json.dumps({"balance_mismatch": {"found": 4}}), "r": story.full_run_ids[0]},
        )
    first, second = services.reconciler.health().full_runs
    assert first.discrepancies is None and first.found["balance_mismatch"] == 4
    assert second.discrepancies is not None


def _alert(i: int, severity: str, status: str = "firing") -> NativeAlert:
    return NativeAlert.from_dict(
        {"source": "prometheus", "name": f"A{i}", "fingerprint": f"fp-{i}", "status": status,
         "severity": severity, "starts_at": "2026-10-17T01:00:00Z"}
    )  # fmt: skip


def test_open_alerts_by_severity_and_response_times(services: Services, clock: FakeClock) -> None:
    clock.step = timedelta(0)
    ctx = Context(actor="user:t", correlation_id="c", clock=clock)
    plan = ["critical", "critical", "warning", "info", "info", "info"]
    services.alerts.ingest(ctx, [_alert(i, s) for i, s in enumerate(plan)])
    services.alerts.ingest(ctx, [_alert(0, "critical", "resolved")])
    # incidents: (ack after, resolve after) in minutes; None: not done
    timings = [(5, 60), (15, 30), (None, 90), (20, None), (None, None)]
    for n, (ack, resolve) in enumerate(timings):
        start = clock.now
        incident = services.incidents.open(ctx, f"incident {n}", "error").incident.id
        if ack is not None:
            clock.now = start + timedelta(minutes=ack)
            services.incidents.acknowledge(ctx, incident)
        if resolve is not None:
            clock.now = start + timedelta(minutes=resolve)
            services.incidents.resolve(ctx.because("done"), incident)
        clock.now = start + timedelta(hours=3)
    health = services.health.report(lag=False)
    assert health.alerts_open_by_severity == {"critical": 1, "error": 0, "warning": 1, "info": 3}
    assert health.incidents_open_by_severity == {"critical": 0, "error": 2, "warning": 0,
                                                 "info": 0}  # fmt: skip
    resolved = [(a, r) for a, r in timings if r is not None]
    acks = [a for a, _ in resolved if a is not None]
    assert health.stats.resolved_incidents == len(resolved) == 3
    assert health.stats.mtta_seconds == sum(acks) * 60 / len(acks)  # the open one left out
    assert health.stats.mttr_seconds == sum(r for _, r in resolved) * 60 / len(resolved)


def test_overdue_action_items_are_listed_soonest_first(services: Services) -> None:
    write_actions(services)  # the clock says 2026-10-17
    health = services.health.report(lag=False)
    assert [(a.text, a.owner, a.due) for a in health.overdue] == [
        ("Page on doubled fees", "ravi", "2026-09-15"),
        ("Add a run key to the fee job", "ana", "2026-10-01"),
    ]
    assert health.action_items == {"open": 3, "done": 1, "dropped": 0, "overdue": 2}


def test_the_summary_stays_readable_by_the_old_reader(services: Services) -> None:
    """A complete run's summary gains its discrepancies under one key: the per-check counts
    read as before (``stored_checks`` is what releases before this one read), and a run's
    ``checks`` (``reconcile --json``) carry no new key."""
    story = tell_story(services)
    with services.db.read() as session:
        stored = session.connection().execute(
            text("SELECT summary FROM reconcile_runs WHERE run_id = :r"),
            {"r": story.full_run_ids[-1]},
        ).scalar_one()
    data = json.loads(stored)
    assert set(data) == {*CHECKS, "discrepancies"}
    checks = stored_checks(stored)
    assert list(checks) == list(CHECKS) and all(set(c) == {"found", "new", "resolved"}
                                                for c in checks.values())  # fmt: skip
    assert run_summary(services.db, story.full_run_ids[-1]).checks == checks
