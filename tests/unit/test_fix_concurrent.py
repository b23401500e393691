"""A live writer during ``fix apply`` (issue 13): between two batches (the progress callback
runs after each one), another writer, on its own connection, posts new entries (with or
without the balance update a live ledger makes) to planned accounts the apply has not reached.
Those accounts become conflicts in the apply's result, none of the writer's rows is lost or
changed, the rest is corrected to the truth; a fresh plan after a reconcile corrects them."""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from incidentbook.core.ledger.contract import open_ledger
from incidentbook.testing.synth import write_ledger
from tests.support.cli import Cli
from tests.support.fix_random import (
    ack_fixable,
    balances,
    fix_ledger,
    fresh_services,
    histories,
    plan_by_cli,
    reconcile,
)

WRITER_AT = datetime(2026, 10, 17, 3, 0, tzinfo=UTC)


class Writer:
    """Posts to the ledger on its own connection, as the ledger's own application would."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite = url.startswith("sqlite")
        self.posted: list[tuple[Any, ...]] = []

    def _connect(self) -> Any:
        if self.sqlite:
            return sqlite3.connect(self.url.removeprefix("sqlite:///"), isolation_level=None)
        import psycopg

        return psycopg.connect(self.url.replace("postgresql+psycopg://", "postgresql://"))

    def post(self, account: str, amount: int, *, update_balance: bool) -> None:
        conn = self._connect()
        mark = "?" if self.sqlite else "%s"
        try:
            if self.sqlite:
                conn.execute("BEGIN IMMEDIATE")
            else:  # ids from MAX(entry_id): writers (the fix among them) take turns
                conn.execute("LOCK TABLE ledger_entries IN SHARE ROW EXCLUSIVE MODE")
            (newest,) = conn.execute("SELECT MAX(entry_id) FROM ledger_entries").fetchone()
            (currency,) = conn.execute(
                f"SELECT currency FROM ledger_accounts WHERE account_id = {mark}", (account,)
            ).fetchone()
            n = len(self.posted)
            moment = WRITER_AT + timedelta(seconds=n)
            when: Any = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if self.sqlite else moment
            row = (int(newest) + 1, account, amount, currency, "payment", when, when,
                   f"live-{n}", f"writer-{n}", "system:api", "live payment", f"req-live-{n}",
                   None)  # fmt: skip
            conn.execute(f"INSERT INTO ledger_entries VALUES ({', '.join([mark] * 13)})", row)
            if update_balance:
                conn.execute(
                    f"UPDATE ledger_accounts SET balance_minor = balance_minor + {mark}"
                    f" WHERE account_id = {mark}",
                    (amount, account),
                )
            conn.execute("COMMIT") if self.sqlite else conn.commit()
        finally:
            conn.close()
        self.posted.append((row[0], account, amount, row[8]))

    def still_there(self) -> list[tuple[Any, ...]]:
        conn = self._connect()
        try:
            return [
                tuple(r)
                for r in conn.execute(
                    "SELECT entry_id, account_id, amount_minor, idempotency_key FROM"
                    " ledger_entries WHERE idempotency_key LIKE 'writer-%' ORDER BY entry_id"
                )
            ]
        finally:
            conn.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_live_writer_makes_conflicts_and_loses_nothing(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'ledger.sqlite'}"
        if backend == "sqlite"
        else str(request.getfixturevalue("pg_url"))
    )
    made = fix_ledger(77, 40, dup_all=4, dup_one=3, mismatch=3, others={"clock_skew": 1})
    write_ledger(url, made.rows)
    services = fresh_services(tmp_path / "ws")
    reconcile(services, url)
    incident = ack_fixable(services)
    ledger = open_ledger(url, writable=True)
    plan = services.fixes.plan(services.context("race"), incident, ledger).plan
    order = [a.account_id for a in plan.accounts]
    assert len(order) == 10
    # after batch 2 (of 1 account each): accounts 5, 7 and 9 of the plan get new entries
    targets = {order[4]: True, order[6]: False, order[8]: True}  # account → balance updated
    writer = Writer(url)
    amounts = {account: 1_000 + 111 * i for i, account in enumerate(targets)}
    calls: list[int] = []

    def between_batches(done: int, total: int) -> None:
        calls.append(done)
        if done == 2:
            for account, with_balance in targets.items():
                writer.post(account, amounts[account], update_balance=with_balance)

    stored_before = balances(url)
    report = services.fixes.apply(
        services.context("race"), plan.plan_id, ledger, batch_size=1, max_rate=200,
        progress=between_batches,
    )  # fmt: skip
    assert calls == list(range(11))
    conflicts = {o.account_id: o for o in report.outcomes if o.status == "conflict"}
    assert set(conflicts) == set(targets)
    assert report.totals.conflicts == 3 and report.totals.corrected == 7
    assert "entries changed" in " ".join(conflicts[order[6]].reasons)
    assert "stored balance changed" in " ".join(conflicts[order[4]].reasons)

    # nothing lost: every row the writer posted is there, unchanged
    assert writer.still_there() == writer.posted
    stored, history = balances(url), histories(url)
    for account, truth in made.truth.items():
        if account in targets:
            assert stored[account] == stored_before[account] + amounts[account] * targets[account]
            posted = sum(e[2] for e in made.rows.entries if e[1] == account)
            assert history[account] == posted + amounts[account]  # no reversal written
        else:
            assert stored[account] == history[account] == truth, account

    # a fresh plan, after a reconcile, picks the conflicts up
    reconcile(services, url)
    again = services.fixes.plan(services.context("race"), incident, ledger).plan
    assert {a.account_id for a in again.accounts} == set(targets)
    second = services.fixes.apply(services.context("race"), again.plan_id, ledger)
    assert second.totals.conflicts == 0 and second.totals.corrected == 3
    stored, history = balances(url), histories(url)
    for account, truth in made.truth.items():
        expected = truth + amounts.get(account, 0)
        assert stored[account] == history[account] == expected, account
    ledger.dispose()
    services.db.dispose()


def test_the_cli_exits_1_and_names_the_conflicts(cli: Cli, tmp_path: Path) -> None:
    """A writer posted to two planned accounts after the plan: ``fix apply --yes`` exits 1,
    its JSON lists exactly those two as conflicts, and corrects the others."""
    made = fix_ledger(78, 30, dup_all=3, dup_one=2, mismatch=2)
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    write_ledger(url, made.rows)
    _incident, plan = plan_by_cli(cli, url)
    planned = [a["account_id"] for a in cli.json("fix", "show", plan)["accounts"]]
    writer = Writer(url)
    writer.post(planned[1], 500, update_balance=True)
    writer.post(planned[3], -70, update_balance=False)
    result = cli("fix", "apply", plan, "--yes", "--ledger", url, "--json")
    assert result.exit_code == 1, result.stderr
    report = json.loads(result.stdout)
    conflicts = [a["account_id"] for a in report["accounts"] if a["status"] == "conflict"]
    assert sorted(conflicts) == sorted([planned[1], planned[3]])
    assert report["totals"]["conflicts"] == 2
    assert report["totals"]["corrected"] == len(made.truth) - 2
    assert writer.still_there() == writer.posted


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_truly_concurrent_writer_loses_nothing(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    """The writer in its own thread and connection, racing the apply (batch 1, --max-rate):
    whichever way each race goes, an account is either a conflict left exactly as the writer
    made it, or corrected with the writer's entry and balance change on top."""
    url = (
        f"sqlite:///{tmp_path / 'ledger.sqlite'}"
        if backend == "sqlite"
        else str(request.getfixturevalue("pg_url"))
    )
    made = fix_ledger(79, 40, dup_all=5, dup_one=4, mismatch=3)
    write_ledger(url, made.rows)
    services = fresh_services(tmp_path / "ws")
    reconcile(services, url)
    incident = ack_fixable(services)
    ledger = open_ledger(url, writable=True)
    plan = services.fixes.plan(services.context("race"), incident, ledger).plan
    order = [a.account_id for a in plan.accounts]
    targets = order[3::2]  # accounts 4, 6, 8, …
    amounts = {account: 700 + 13 * i for i, account in enumerate(targets)}
    # the writer posts to each target when the apply is about to lock that account's batch
    # (a true race) or has just committed it, alternately: both outcomes, whoever wins
    triggers = {order.index(t) + (i % 2): t for i, t in enumerate(targets)}
    stored_before = balances(url)
    done_counts: queue.Queue[int | None] = queue.Queue()
    writer = Writer(url)
    failures: list[BaseException] = []

    def write() -> None:
        try:
            while (done := done_counts.get(timeout=60)) is not None:
                if done in triggers:
                    account = triggers[done]
                    writer.post(account, amounts[account], update_balance=True)
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    thread = threading.Thread(target=write)
    thread.start()
    try:
        report = services.fixes.apply(
            services.context("race"), plan.plan_id, ledger, batch_size=1, max_rate=40,
            progress=lambda done, _total: done_counts.put(done),
        )  # fmt: skip
    finally:
        done_counts.put(None)
        thread.join(timeout=120)
    assert not failures, failures
    assert writer.still_there() == writer.posted and len(writer.posted) == len(targets)
    status = {o.account_id: o.status for o in report.outcomes}
    assert set(status.values()) <= {"corrected", "conflict"}
    assert {a for a, s in status.items() if s == "conflict"} <= set(targets)
    stored, history = balances(url), histories(url)
    for account, truth in made.truth.items():
        extra = amounts.get(account, 0)
        if status[account] == "conflict":
            posted = sum(e[2] for e in made.rows.entries if e[1] == account)
            assert stored[account] == stored_before[account] + extra
            assert history[account] == posted + extra
        else:
            assert stored[account] == history[account] == truth + extra, account
    ledger.dispose()
    services.db.dispose()
