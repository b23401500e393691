"""One reconcile run through its phases (see the package doc): plan a new run or pick up an
unfinished one, scan (here or on worker processes), publish findings as alerts, resolve the
alerts whose finding is gone, complete. The run's rows go through ``runs``."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from incidentbook.clock import parse_iso, to_iso
from incidentbook.context import Context
from incidentbook.core.alerts.model import IngestResult, NativeAlert
from incidentbook.core.alerts.service import AlertService
from incidentbook.core.batches import Pacer, collector_spares_the_old
from incidentbook.core.events.store import append
from incidentbook.core.ledger.checks import SEVERITY
from incidentbook.core.ledger.contract import (
    Ledger,
    LedgerError,
    Snapshot,
    iso,
    open_ledger,
    scan_capabilities,
    sqlite_path,
)
from incidentbook.core.ledger.reconcile import runs
from incidentbook.core.ledger.reconcile.model import (
    SOURCE,
    ReconcileOptions,
    Run,
    RunSummary,
    summary_text,
)
from incidentbook.core.ledger.tasks import (
    ScanOptions,
    Task,
    TaskResult,
    entry_id_extreme,
    plan_full,
    plan_incremental,
    run_task,
)
from incidentbook.core.ledger.workers import PoolBroken, WorkerPool
from incidentbook.fs import exclusive_lock
from incidentbook.obs import log_info
from incidentbook.storage.db import Database

PUBLISH_BATCH = 2000
MAX_AUTO_JOBS = 4
COMMIT_EVERY_S = 0.5  # how long a finished scan task may wait for its checkpoint

# What a run does once its findings are published and it is complete, with the ledger it read
# (wired in ``Services`` to ``EvidenceService.freeze_pending``).
AfterPublish = Callable[[Context, Ledger], object]


@dataclass(frozen=True)
class RunSetup:
    """What a run works with besides its options: the state database, the alerts its
    findings become, the ledger to use when the options name none, the settings it stores
    (``settings.run_options``), how many complete runs keep their findings, the lock file,
    and what runs after the run completed (``after_publish``: the evidence freeze)."""

    db: Database
    alerts: AlertService
    ledger_url: str
    settings_options: dict[str, Any]
    keep_runs: int
    lock_path: Path
    after_publish: AfterPublish | None = None


def run_reconcile(setup: RunSetup, ctx: Context, options: ReconcileOptions) -> RunSummary:
    """Run (or finish) a reconcile of the configured or given ledger; see the package doc."""
    ledger = open_ledger(options.ledger_url or setup.ledger_url)
    db = setup.db
    run: Run | None = None
    keeper = None
    try:
        with one_at_a_time(setup.lock_path), collector_spares_the_old():
            keeper = db.keep_open()  # a commit per batch must not checkpoint the WAL each time
            with ledger.snapshot() as snap:
                run = runs.unfinished_run(db, ledger.display_url)
                if run is not None and run.phase in runs.LEGACY_SCAN_PHASES:
                    # its batches are not tasks; nothing was published
                    runs.discard_run(db, run.run_id)
                    run = None
                since = (
                    runs.last_complete_watermark(db, ledger.display_url) if run is None else None
                )
                mode = run.mode if run is not None else _mode(options, since)
                scanning = run is None or run.phase == "scan"
                pool = _spawn_pool(ledger, options, mode) if scanning else None
                try:
                    if run is None:
                        run = _create(
                            db, ctx, snap, ledger, options, mode, since, setup.settings_options
                        )
                    if pool is not None:
                        # the workers' snapshots and this one are made equal again (a later
                        # state than the plan's: the plan's ranges cover any state, and the
                        # watermark only says where the next incremental run starts)
                        pool = _ready_pool(pool, ctx, snap, run)
                    runner = Runner(db, setup.alerts, ctx, ledger, snap, run, options, pool)
                    runner.scan()
                except BaseException:
                    if pool is not None:  # the run failed: its workers' tasks are moot
                        pool.close(abort=True)
                    raise
                else:
                    if pool is not None:
                        pool.close()
                if pool is not None:
                    runner.worker_peak_rss_mb = round(pool.peak_rss_kb / 1024, 1)
            # the snapshot is released before alerts are written
            runner.publish()
            runner.resolve()
            runner.retitle()
            summary = runner.complete()
            if setup.after_publish is not None:
                setup.after_publish(ctx, ledger)
            runs.prune_runs(db, ctx, ledger.display_url, setup.keep_runs)
            return summary
    except LedgerError:
        if run is not None and run.phase == "scan":
            runs.discard_run(db, run.run_id)
        raise
    finally:
        if keeper is not None:
            keeper.close()
        ledger.dispose()


def _mode(options: ReconcileOptions, since: dict[str, Any] | None) -> str:
    # A full run is the default the first time; after that, incremental unless --full.
    return "full" if since is None or options.mode == "full" else "incremental"


def _spawn_pool(ledger: Ledger, options: ReconcileOptions, mode: str) -> WorkerPool | None:
    """Scan worker processes for a full run of a SQLite ledger (None when one process is
    asked for or fits better); they start while the run is planned."""
    jobs = options.jobs
    if jobs is None:
        # --max-rate spares a production database: one scan at a time unless asked
        jobs = 1 if options.max_rate is not None else min(os.cpu_count() or 1, MAX_AUTO_JOBS)
    path = sqlite_path(ledger.url) if ledger.is_sqlite else None
    if jobs < 2 or mode != "full" or path is None:
        return None
    try:
        return WorkerPool(path, jobs)
    except OSError:
        return None


def _ready_pool(pool: WorkerPool, ctx: Context, snap: Snapshot, run: Run) -> WorkerPool | None:
    """Open the ledger in every worker on one snapshot with ``snap``; None (and the pool
    closed) when they cannot, or the ledger keeps changing while they try."""
    jobs = len(pool.workers)
    try:
        pool.start(_run_scan_options(run))
        attempts = pool.agree(snap)
    except PoolBroken as exc:
        pool.close(abort=True)
        log_info("reconcile.parallel_unavailable", ctx.correlation_id, error=str(exc))
        return None
    if not attempts:
        pool.close()
        log_info("reconcile.parallel_fallback", ctx.correlation_id, jobs=jobs,
                 reason="the ledger kept changing while the workers opened it")  # fmt: skip
        return None
    log_info("reconcile.parallel", ctx.correlation_id, jobs=jobs, agree_attempts=attempts)
    return pool


def _run_scan_options(run: Run) -> ScanOptions:
    return ScanOptions.from_json(run.options["scan"])


def one_at_a_time(path: Path) -> AbstractContextManager[None]:
    """One reconcile per workspace at a time (an OS file lock: released even by kill -9)."""
    return exclusive_lock(
        path, "another reconcile is running in this workspace; wait for it or run again"
    )


# -- planning --------------------------------------------------------------------------


def _watermark(snap: Snapshot) -> dict[str, Any]:
    updated = snap.one("SELECT MAX(updated_at) FROM ledger_accounts")
    return {
        "max_entry_id": entry_id_extreme(snap, "MAX"),
        "max_updated_at": iso(updated[0]) if updated and updated[0] is not None else None,
    }


def _scope(snap: Snapshot, since: dict[str, Any], opts: dict[str, Any]) -> list[str]:
    """Accounts with entries or an ``updated_at`` change since the last complete run."""
    accounts: set[str] = set()
    first_entry = max(0, int(since["max_entry_id"]) - int(opts["entry_overlap"]))
    # no DISTINCT: it would scan an account index; a range of entry ids is cheap
    accounts.update(
        str(r[0])
        for r in snap.rows(
            "SELECT account_id FROM ledger_entries WHERE entry_id > ?", (first_entry,)
        )
    )
    if since.get("max_updated_at"):
        after = parse_iso(since["max_updated_at"]) - timedelta(seconds=float(opts["overlap_s"]))
        accounts.update(
            str(r[0])
            for r in snap.rows(
                "SELECT account_id FROM ledger_accounts WHERE updated_at >= ?", (snap.ts(after),)
            )
        )
    return sorted(accounts)


def _create(
    db: Database,
    ctx: Context,
    snap: Snapshot,
    ledger: Ledger,
    options: ReconcileOptions,
    mode: str,
    since: dict[str, Any] | None,
    opts: dict[str, Any],
) -> Run:
    caps = scan_capabilities(snap)
    scan = ScanOptions(
        float(opts["clock_skew_tolerance_s"]), caps["entry_rowid"], caps["reverses_index"]
    )
    scope: list[str] = []
    if mode == "incremental" and since is not None:
        scope = _scope(snap, since, opts)
        entries_after = max(0, int(since.get("max_entry_id", 0)) - int(opts["entry_overlap"]))
        tasks = plan_incremental(snap, options.batch, len(scope), entries_after)
    else:
        tasks = plan_full(snap, options.batch, caps["ref_index"])
    run = Run(
        run_id=uuid.uuid4().hex[:12],
        mode=mode,
        phase="scan",
        cursor={"plan": [t.to_json() for t in tasks]},
        batch=options.batch,
        options={**opts, "since": since, "scan": scan.to_json()},
        watermark=_watermark(snap),
        started_at=to_iso(ctx.clock()),
        batches=0,
        resumed=False,
    )
    runs.insert_run(db, ctx, run, ledger.display_url, scope)
    log_info(
        "reconcile.started",
        ctx.correlation_id,
        run_id=run.run_id,
        mode=run.mode,
        ledger=ledger.display_url,
        scope=len(scope),
        tasks=len(tasks),
    )
    return run


# -- the phases ------------------------------------------------------------------------


class Runner:
    def __init__(
        self,
        db: Database,
        alerts: AlertService,
        ctx: Context,
        ledger: Ledger,
        snap: Snapshot,
        run: Run,
        options: ReconcileOptions,
        pool: WorkerPool | None = None,
    ) -> None:
        self.db = db
        self.alerts = alerts
        self.ctx = ctx
        self.ledger = ledger
        self.snap = snap
        self.run = run
        self.pool = pool
        self.progress = options.progress
        self.pacer = Pacer(options.max_rate)
        self.jobs = 1
        self.worker_peak_rss_mb: float | None = None

    # -- bookkeeping ---------------------------------------------------------------------

    def _commit_batches(
        self,
        batches: list[tuple[Task, TaskResult]],
        next_phase: str,
        cursor: dict[str, Any] | None,
    ) -> None:
        runs.commit_tasks(self.db, self.run, batches, next_phase, cursor, to_iso(self.ctx.clock()))

    def _throttle(self, units: float) -> None:
        self.pacer.wait(units)

    def _report(self, phase: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(phase, done, total)

    # -- scanning ------------------------------------------------------------------------

    def scan(self) -> None:
        """Run every planned task without a checkpoint; commit each as it finishes."""
        run = self.run
        if run.phase != "scan":
            return
        plan = [Task.from_json(t) for t in run.cursor["plan"]]
        done = runs.done_task_keys(self.db, run.run_id)
        todo = [t for t in plan if t.key() not in done]
        totals = Counter(t.track for t in plan)
        finished = Counter(t.track for t in plan if t.key() in done)
        scope = runs.scope_accounts(self.db, run.run_id) if run.mode == "incremental" else []
        options = _run_scan_options(run)
        left = len(todo)

        def results() -> Iterable[tuple[Task, TaskResult] | None]:
            """Finished tasks, with None now and then (a moment to commit what is held)."""
            remaining = list(todo)
            if self.pool is not None:
                self.jobs = len(self.pool.workers)
                completed: set[runs.TaskKey] = set()
                try:
                    for item in self.pool.run(remaining, tick=COMMIT_EVERY_S):
                        if item is not None:
                            completed.add(item[0].key())
                        yield item
                    return
                except PoolBroken as exc:
                    log_info("reconcile.parallel_broken", self.ctx.correlation_id, error=str(exc))
                    self.jobs = 1
                    remaining = [t for t in remaining if t.key() not in completed]
            for task in remaining:
                yield None
                yield task, run_task(self.snap, task, options, scope)

        buffered: list[tuple[Task, TaskResult]] = []
        held_since = time.monotonic()

        def commit(final: bool) -> None:
            if final:
                self._commit_batches(buffered, "publish", {"after": None})
            else:
                self._commit_batches(buffered, "scan", None)
            for done_task, _ in buffered:
                finished[done_task.track] += 1
                self._report(done_task.track, finished[done_task.track], totals[done_task.track])
            buffered.clear()

        # Checkpoints go in groups (a commit per small task would cost more than the task):
        # a finished task waits at most COMMIT_EVERY_S (in one process: or until the task
        # after it ends) before its checkpoint is committed.
        for item in results():
            if item is not None:
                task, result = item
                left -= 1
                if not buffered:
                    held_since = time.monotonic()
                buffered.append((task, result))
                self._throttle(result.units(task.track))
                if not left:
                    commit(final=True)
                    continue
            if buffered and time.monotonic() - held_since >= COMMIT_EVERY_S:
                commit(final=False)
        if not todo:  # every task was done before (a resume after the last checkpoint)
            with self.db.write() as session:
                runs.advance(
                    runs.connection(session), run.run_id, "publish", {"after": None}, run.batches
                )
            run.phase, run.cursor = "publish", {"after": None}

    # -- alerts --------------------------------------------------------------------------

    def _alert(self, row: Any) -> NativeAlert:
        fingerprint, check, account_id, currency, entry_id, delta, details_json = row
        details = json.loads(details_json)
        # no run id: a finding unchanged since the last run repeats with an empty change set
        annotations = {"delta_minor": str(delta)}
        if entry_id is not None:
            annotations["entry_id"] = str(entry_id)
        for key, value in details.items():
            annotations[key] = (
                ",".join(str(v) for v in value) if isinstance(value, list) else str(value)
            )
        return NativeAlert(
            source=SOURCE,
            name=check,
            fingerprint=fingerprint,
            status="firing",
            severity=SEVERITY[check],
            summary=summary_text(check, account_id, currency, int(delta), details),
            labels={"check": check, "account_id": account_id, "currency": currency},
            annotations=annotations,
            starts_at=self.run.started_at,
        )

    def publish(self) -> None:
        run = self.run
        if run.phase != "publish":
            return
        total = runs.count_findings(self.db, run.run_id)
        done = 0
        self._report("publish", done, total)
        while run.phase == "publish":
            after = run.cursor.get("after")
            with self.db.write() as session:
                conn = runs.connection(session)
                rows = runs.findings_page(conn, run.run_id, after, PUBLISH_BATCH)
                batch = [self._alert(row) for row in rows]
                outcomes: list[str] = []
                self._ingest(session, batch, outcomes)
                runs.record_outcomes(conn, run.run_id, [a.fingerprint for a in batch], outcomes)
                if len(rows) < PUBLISH_BATCH:
                    phase, cursor = "resolve", {"after": None}
                else:
                    phase, cursor = "publish", {"after": rows[-1][0]}
                runs.advance(conn, run.run_id, phase, cursor, run.batches)
            run.phase, run.cursor = phase, cursor
            done += len(rows)
            self._report("publish", done, total)

    def _ingest(
        self, session: Any, batch: list[NativeAlert], outcomes: list[str] | None = None
    ) -> None:
        """A page of the reconciler's alerts through the shared ingest, in one batch (a few
        statements, joins included). No receipt keys: the page commits together with the
        cursor past it, so nothing is offered twice (receipts would only grow by every run's
        findings). Every changed alert's group is queued for the index: a repeated finding's
        new figures, like a resolution, change the group's text."""
        self.alerts.ingest_many_in(
            session,
            self.ctx,
            batch,
            [None] * len(batch),
            IngestResult(),
            outcomes=outcomes,
            queue_every_group=True,
        )

    def resolve(self) -> None:
        run = self.run
        if run.phase != "resolve":
            return
        scoped = run.mode == "incremental"
        while run.phase == "resolve":
            with self.db.write() as session:
                conn = runs.connection(session)
                rows = runs.firing_without_finding(conn, run.run_id, scoped, PUBLISH_BATCH)
                closing = [
                    NativeAlert(
                        source=SOURCE,
                        name=name,
                        fingerprint=fingerprint,
                        status="resolved",
                        severity=severity,
                        summary=summary,
                        labels=json.loads(labels),
                        annotations=json.loads(annotations),
                        starts_at=starts,
                        ends_at=run.started_at,
                    )
                    for fingerprint, name, severity, summary, labels, annotations, starts in rows
                ]
                self._ingest(session, closing)
                if closing:
                    runs.record_resolved(
                        conn,
                        run.run_id,
                        [(a.fingerprint, a.name, a.labels.get("account_id", "")) for a in closing],
                    )
                if len(rows) < PUBLISH_BATCH:
                    runs.advance(conn, run.run_id, "complete", {}, run.batches)
                    run.phase = "complete"

    def retitle(self) -> None:
        """Once per run, after its publish and resolve pages (not per page or alert): the
        incidents opened from the reconciler's groups get a new title where their group's
        impact changed (one event each; none when it did not, so a resumed run adds none)."""
        retitled = self.alerts.retitle_group_incidents(self.ctx)
        if retitled:
            log_info("reconcile.retitled", self.ctx.correlation_id, run_id=self.run.run_id,
                     incidents=retitled)  # fmt: skip

    def complete(self) -> RunSummary:
        run = self.run
        summary = runs.run_summary(self.db, run.run_id)
        summary.resumed = run.resumed
        summary.jobs = self.jobs
        summary.worker_peak_rss_mb = self.worker_peak_rss_mb
        if summary.status == "complete":
            return summary
        finished = to_iso(self.ctx.clock())
        with self.db.write() as session:
            runs.mark_complete(runs.connection(session), run.run_id, finished, summary.checks)
            append(
                session,
                self.ctx,
                f"reconcile:{run.run_id}",
                "reconcile.completed",
                {
                    "run_id": run.run_id,
                    "mode": run.mode,
                    "ledger": self.ledger.display_url,
                    "checks": summary.checks,
                    "batches": run.batches,
                },
                idempotency_key=f"reconcile:{run.run_id}:completed",
            )
        summary.status = "complete"
        summary.finished_at = finished
        log_info(
            "reconcile.completed",
            self.ctx.correlation_id,
            run_id=run.run_id,
            mode=run.mode,
            found=summary.found,
            resumed=run.resumed,
        )
        return summary
