"""The reconciler: every check of DESIGN §4 over one ledger snapshot, in resumable batches.

A run goes through phases; every batch commits its findings, its checkpoint row and the run's
cursor in ONE state-database transaction, so ``kill -9`` at any moment loses at most the
batches in flight and the next invocation (``--resume`` or a plain run) finishes the run:

1. ``scan``     — the run's planned tasks (``tasks``: account ranges, external-ref ranges,
   entry-id ranges, reversal ranges; or the incremental scope), in any order, on
   ``--jobs`` worker processes that share the run's snapshot (``workers``), or in this
   process. A task is done when its checkpoint is committed; a resumed run runs the rest;
2. ``publish``  — findings become alerts (source ``reconciler``, name = check, fingerprint =
   the contract's) through ``AlertService.ingest_many_in``, a page of findings at a time,
   each page committed with the cursor past it (so no finding is offered twice, and no
   receipt keys are needed);
3. ``resolve``  — firing reconciler alerts whose finding is gone are resolved, the same way;
   an incremental run resolves only the account checks of the accounts it looked at;
4. ``complete`` — the summary is stored on the run and one ``reconcile.completed`` event
   records it; then the ledger's complete runs beyond ``[reconciler] keep_runs`` let go of
   their findings and checkpoints (``prune_runs``), keeping their summaries.

Nothing reaches the alerts before the scan is over, so a ledger error found mid-scan (say a
non-integer amount) aborts the run and removes its staging rows: nothing written.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from incidentbook.clock import parse_iso, to_iso
from incidentbook.core.batches import chunks, collector_spares_the_old, marks
from incidentbook.core.events.model import encode_sorted
from incidentbook.core.ledger.checks import ACCOUNT_CHECKS, CHECKS, SEVERITY, Finding
from incidentbook.core.ledger.contract import (
    Ledger,
    LedgerError,
    Snapshot,
    open_ledger,
    scan_capabilities,
    sqlite_path,
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
from incidentbook.errors import UsageError
from incidentbook.money import format_minor

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from incidentbook.context import Context
    from incidentbook.core.ledger.workers import WorkerPool
    from incidentbook.services import Services
    from incidentbook.storage.db import Database

SOURCE = "reconciler"
ACTOR = "reconciler"
LEGACY_SCAN_PHASES = ("accounts", "entries", "reversals")  # runs left by releases before tasks
PUBLISH_BATCH = 2000
# a run's own rows besides its reconcile_runs row (deleted when it is discarded or pruned)
RUN_TABLES = (
    "reconcile_findings",
    "reconcile_checkpoints",
    "reconcile_scope",
    "reconcile_resolved",
)
MAX_AUTO_JOBS = 4
COMMIT_EVERY_S = 0.5  # how long a finished scan task may wait for its checkpoint

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class ReconcileOptions:
    ledger_url: str | None = None
    mode: str = "auto"  # auto | full | incremental
    resume: bool = False
    batch: int = 50_000
    max_rate: float | None = None  # accounts per second
    progress: Progress | None = None
    jobs: int | None = None  # scan processes; None: one per core (up to 4) on SQLite full runs


@dataclass
class RunSummary:
    run_id: str
    mode: str
    ledger: str
    status: str
    resumed: bool
    batches: int
    started_at: str
    finished_at: str | None
    checks: dict[str, dict[str, int]] = field(default_factory=dict)
    jobs: int = 1  # scan processes this invocation used
    worker_peak_rss_mb: float | None = None  # the largest scan worker's peak memory

    @property
    def found(self) -> int:
        return sum(c["found"] for c in self.checks.values())

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "found": self.found}


@dataclass
class _Run:
    run_id: str
    mode: str
    phase: str
    cursor: dict[str, Any]
    batch: int
    options: dict[str, Any]
    watermark: dict[str, Any]
    started_at: str
    batches: int
    resumed: bool


def _conn(session: Any) -> Connection:
    connection: Connection = session.connection()
    return connection


TEN_YEARS_S = 10 * 365 * 86_400


@dataclass(frozen=True)
class _Setting:
    default: float
    low: float
    high: float
    whole: bool = False  # an integer, not any number


# incidentbook.toml's [reconciler] settings (``init`` writes them with these defaults)
RECONCILER_SETTINGS: dict[str, _Setting] = {
    # clock_skew: how far back a recorded_at may step before it is a finding
    "clock_skew_tolerance_s": _Setting(300, 1, TEN_YEARS_S),
    # incremental runs: accounts updated this long before the last run are looked at again
    "overlap_window_s": _Setting(600, 0, TEN_YEARS_S),
    # incremental runs: entry ids re-read below the last run's highest
    "entry_overlap": _Setting(1000, 0, 10**12, whole=True),
    # complete runs of a ledger whose findings are kept (older ones keep their summary)
    "keep_runs": _Setting(20, 1, 100_000, whole=True),
}


def _reconciler_settings(services: Services) -> dict[str, float]:
    """The workspace's [reconciler] section, checked. A key this release does not know, or a
    value out of range (TOML has nan and inf), is refused, not ignored: a misspelt tolerance
    would silently change findings."""
    config = services.settings.config
    if "reconcile" in config:
        raise UsageError(
            "incidentbook.toml: the section is [reconciler], not [reconcile]; nothing in"
            " [reconcile] is read"
        )
    cfg = config.get("reconciler", {})
    if not isinstance(cfg, dict):
        raise UsageError("incidentbook.toml: reconciler must be a section ([reconciler])")
    unknown = sorted(set(cfg) - set(RECONCILER_SETTINGS))
    if unknown:
        raise UsageError(
            f"incidentbook.toml: unknown setting reconciler.{unknown[0]}"
            f" (known: {', '.join(RECONCILER_SETTINGS)})"
        )
    values: dict[str, float] = {}
    for key, setting in RECONCILER_SETTINGS.items():
        raw = cfg.get(key, setting.default)
        kinds = (int,) if setting.whole else (int, float)
        # bool is an int to Python; nan fails every comparison, so it is out of range too
        if isinstance(raw, bool) or not isinstance(raw, kinds) or not (
            setting.low <= raw <= setting.high
        ):
            what = "a whole number" if setting.whole else "a number"
            raise UsageError(
                f"incidentbook.toml: reconciler.{key} must be {what} from {int(setting.low):,}"
                f" to {int(setting.high):,}, not {raw!r}"
            )
        values[key] = float(raw)
    return values


def _settings_options(values: dict[str, float]) -> dict[str, Any]:
    """The settings a run stores in its options, under the names runs left by earlier
    releases resume with."""
    return {
        "clock_skew_tolerance_s": values["clock_skew_tolerance_s"],
        "overlap_s": values["overlap_window_s"],
        "entry_overlap": int(values["entry_overlap"]),
    }


def run_reconcile(services: Services, ctx: Context, options: ReconcileOptions) -> RunSummary:
    """Run (or finish) a reconcile of the configured or given ledger; see the module doc."""
    if options.mode not in ("auto", "full", "incremental"):
        raise UsageError(f"unknown mode {options.mode!r}")
    if options.batch < 1:
        raise UsageError("--batch must be at least 1")
    if options.max_rate is not None and options.max_rate <= 0:
        raise UsageError("--max-rate must be positive")
    if options.jobs is not None and options.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    configured = _reconciler_settings(services)  # a bad setting stops the run before it starts
    settings_opts = _settings_options(configured)
    ledger = open_ledger(options.ledger_url or services.settings.ledger_url)
    db = services.db
    run: _Run | None = None
    keeper = None
    try:
        with _one_at_a_time(services), collector_spares_the_old():
            keeper = db.keep_open()  # a commit per batch must not checkpoint the WAL each time
            with ledger.snapshot() as snap:
                run = _unfinished(db, ledger.display_url)
                if run is not None and run.phase in LEGACY_SCAN_PHASES:
                    _discard(db, run.run_id)  # its batches are not tasks; nothing was published
                    run = None
                since = _last_complete(db, ledger.display_url) if run is None else None
                mode = run.mode if run is not None else _mode(options, since)
                scanning = run is None or run.phase == "scan"
                pool = _spawn_pool(ledger, options, mode) if scanning else None
                try:
                    if run is None:
                        run = _create(db, ctx, snap, ledger, options, mode, since, settings_opts)
                    if pool is not None:
                        # the workers' snapshots and this one are made equal again (a later
                        # state than the plan's: the plan's ranges cover any state, and the
                        # watermark only says where the next incremental run starts)
                        pool = _ready_pool(pool, ctx, snap, run)
                    runner = _Runner(services, ctx, ledger, snap, run, options, pool)
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
            summary = runner.complete()
            prune_runs(db, ctx, ledger.display_url, int(configured["keep_runs"]))
            return summary
    except LedgerError:
        if run is not None and run.phase == "scan":
            _discard(db, run.run_id)
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
    from incidentbook.core.ledger.workers import WorkerPool

    try:
        return WorkerPool(path, jobs)
    except OSError:
        return None


def _ready_pool(pool: WorkerPool, ctx: Context, snap: Snapshot, run: _Run) -> WorkerPool | None:
    """Open the ledger in every worker on one snapshot with ``snap``; None (and the pool
    closed) when they cannot, or the ledger keeps changing while they try."""
    from incidentbook.core.ledger.workers import PoolBroken
    from incidentbook.obs import log_info

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


def _run_scan_options(run: _Run) -> ScanOptions:
    return ScanOptions.from_json(run.options["scan"])


@contextmanager
def _one_at_a_time(services: Services) -> Iterator[None]:
    """One reconcile per workspace at a time (an OS file lock: released even by kill -9)."""
    import fcntl

    path = services.settings.state_dir / "reconcile.lock"
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(
                "another reconcile is running in this workspace; wait for it or run again"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _unfinished(db: Database, display_url: str) -> _Run | None:
    with db.read() as session:
        row = (
            _conn(session)
            .execute(
                text(
                    "SELECT run_id, mode, phase, cursor, batch_size, options, watermark,"
                    " started_at, batches FROM reconcile_runs"
                    " WHERE status = 'running' AND ledger = :ledger"
                    " ORDER BY started_at DESC LIMIT 1"
                ),
                {"ledger": display_url},
            )
            .first()
        )
    if row is None:
        return None
    return _Run(
        run_id=row[0],
        mode=row[1],
        phase=row[2],
        cursor=json.loads(row[3] or "{}"),
        batch=int(row[4]),
        options=json.loads(row[5]),
        watermark=json.loads(row[6]),
        started_at=row[7],
        batches=int(row[8]),
        resumed=True,
    )


def _last_complete(db: Database, display_url: str) -> dict[str, Any] | None:
    with db.read() as session:
        row = (
            _conn(session)
            .execute(
                text(
                    "SELECT watermark FROM reconcile_runs WHERE status = 'complete'"
                    " AND ledger = :ledger ORDER BY finished_at DESC LIMIT 1"
                ),
                {"ledger": display_url},
            )
            .first()
        )
    return json.loads(row[0]) if row else None


def _watermark(snap: Snapshot) -> dict[str, Any]:
    from incidentbook.core.ledger.contract import iso

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
) -> _Run:
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
    run = _Run(
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
    with db.write() as session:
        conn = _conn(session)
        conn.execute(
            text(
                "INSERT INTO reconcile_runs (run_id, mode, ledger, status, phase, cursor,"
                " batch_size, options, watermark, batches, started_at, actor, correlation_id)"
                " VALUES (:run_id, :mode, :ledger, 'running', :phase, :cursor, :batch, :options,"
                " :watermark, 0, :started_at, :actor, :correlation_id)"
            ),
            {
                "run_id": run.run_id,
                "mode": run.mode,
                "ledger": ledger.display_url,
                "phase": run.phase,
                "cursor": json.dumps(run.cursor),
                "batch": run.batch,
                "options": json.dumps(run.options, sort_keys=True),
                "watermark": json.dumps(run.watermark, sort_keys=True),
                "started_at": run.started_at,
                "actor": ctx.actor,
                "correlation_id": ctx.correlation_id,
            },
        )
        if scope:
            conn.execute(
                text(
                    "INSERT INTO reconcile_scope (run_id, position, account_id)"
                    " VALUES (:run_id, :position, :account_id)"
                ),
                [
                    {"run_id": run.run_id, "position": i, "account_id": a}
                    for i, a in enumerate(scope)
                ],
            )
    from incidentbook.obs import log_info

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


def _discard(db: Database, run_id: str) -> None:
    """A run aborted by bad ledger data leaves nothing behind."""
    with db.write() as session:
        conn = _conn(session)
        for table in (*RUN_TABLES, "reconcile_runs"):
            conn.execute(text(f"DELETE FROM {table} WHERE run_id = :r"), {"r": run_id})


class _Runner:
    def __init__(
        self,
        services: Services,
        ctx: Context,
        ledger: Ledger,
        snap: Snapshot,
        run: _Run,
        options: ReconcileOptions,
        pool: WorkerPool | None = None,
    ) -> None:
        self.services = services
        self.db = services.db
        self.ctx = ctx
        self.ledger = ledger
        self.snap = snap
        self.run = run
        self.pool = pool
        self.progress = options.progress
        self.max_rate = options.max_rate
        self.rate_start = time.monotonic()
        self.rate_units = 0.0
        self.jobs = 1
        self.worker_peak_rss_mb: float | None = None

    # -- bookkeeping ---------------------------------------------------------------------

    def _commit_batches(
        self,
        batches: list[tuple[Task, TaskResult]],
        next_phase: str,
        cursor: dict[str, Any] | None,
    ) -> None:
        """Finished tasks' findings, their checkpoints (one per task, numbered in commit
        order) and the run's counters, in one transaction."""
        run = self.run
        seq = run.batches
        findings_rows: list[tuple[Any, ...]] = []
        checkpoint_rows: list[tuple[Any, ...]] = []
        at = to_iso(self.ctx.clock())
        for task, result in batches:
            seq += 1
            _, lo, hi = task.key()
            findings_rows.extend(
                (run.run_id, f.fingerprint, f.check, f.account_id, f.currency, f.entry_id,
                 f.delta_minor, encode_sorted(f.details), seq)
                for f in result.findings
            )  # fmt: skip
            checkpoint_rows.append(
                (run.run_id, seq, task.track, lo, hi, result.items, len(result.findings), at)
            )
        with self.db.write() as session:
            conn = _conn(session)
            # positional rows, not named: a scan's thousands of findings go through the
            # driver's executemany without a parameter dict each
            if findings_rows:
                conn.exec_driver_sql(
                    "INSERT INTO reconcile_findings (run_id, fingerprint, check_name, account_id,"
                    " currency, entry_id, delta_minor, details, seq)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    findings_rows,
                )
            if checkpoint_rows:
                conn.exec_driver_sql(
                    "INSERT INTO reconcile_checkpoints (run_id, seq, phase, lo, hi, items,"
                    " findings, committed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    checkpoint_rows,
                )
            self._move(conn, next_phase, cursor, seq)
        run.batches = seq
        run.phase = next_phase
        if cursor is not None:
            run.cursor = cursor

    def _move(
        self, conn: Connection, phase: str, cursor: dict[str, Any] | None, batches: int
    ) -> None:
        """Advance the run; ``cursor`` None keeps the stored one (the scan's plan)."""
        conn.execute(
            text(
                "UPDATE reconcile_runs SET phase = :phase, batches = :batches,"
                " cursor = COALESCE(:cursor, cursor) WHERE run_id = :run_id"
            ),
            {
                "phase": phase,
                "cursor": None if cursor is None else json.dumps(cursor),
                "batches": batches,
                "run_id": self.run.run_id,
            },
        )

    def _throttle(self, units: float) -> None:
        if self.max_rate is None:
            return
        self.rate_units += units
        due = self.rate_units / self.max_rate - (time.monotonic() - self.rate_start)
        if due > 0:
            time.sleep(due)

    def _report(self, phase: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(phase, done, total)

    # -- scanning ------------------------------------------------------------------------

    def _done_keys(self) -> set[tuple[str, str | None, str | None]]:
        with self.db.read() as session:
            return {
                (str(r[0]), r[1], r[2])
                for r in _conn(session).execute(
                    text("SELECT phase, lo, hi FROM reconcile_checkpoints WHERE run_id = :r"),
                    {"r": self.run.run_id},
                )
            }

    def _scope(self) -> list[str]:
        with self.db.read() as session:
            return [
                str(r[0])
                for r in _conn(session).execute(
                    text(
                        "SELECT account_id FROM reconcile_scope WHERE run_id = :r ORDER BY position"
                    ),
                    {"r": self.run.run_id},
                )
            ]

    def scan(self) -> None:
        """Run every planned task without a checkpoint; commit each as it finishes."""
        run = self.run
        if run.phase != "scan":
            return
        plan = [Task.from_json(t) for t in run.cursor["plan"]]
        done = self._done_keys()
        todo = [t for t in plan if t.key() not in done]
        totals = Counter(t.track for t in plan)
        finished = Counter(t.track for t in plan if t.key() in done)
        scope = self._scope() if run.mode == "incremental" else []
        options = _run_scan_options(run)
        left = len(todo)

        def results() -> Iterable[tuple[Task, TaskResult] | None]:
            """Finished tasks, with None now and then (a moment to commit what is held)."""
            remaining = list(todo)
            if self.pool is not None:
                from incidentbook.core.ledger.workers import PoolBroken

                self.jobs = len(self.pool.workers)
                completed: set[tuple[str, str | None, str | None]] = set()
                try:
                    for item in self.pool.run(remaining, tick=COMMIT_EVERY_S):
                        if item is not None:
                            completed.add(item[0].key())
                        yield item
                    return
                except PoolBroken as exc:
                    from incidentbook.obs import log_info

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
                self._move(_conn(session), "publish", {"after": None}, run.batches)
            run.phase, run.cursor = "publish", {"after": None}

    # -- alerts --------------------------------------------------------------------------

    def _alert(self, row: Any) -> Any:
        from incidentbook.core.alerts.model import NativeAlert

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
        with self.db.read() as session:
            total = int(
                _conn(session)
                .execute(
                    text("SELECT COUNT(*) FROM reconcile_findings WHERE run_id = :r"),
                    {"r": run.run_id},
                )
                .scalar_one()
            )
        done = 0
        self._report("publish", done, total)
        while run.phase == "publish":
            after = run.cursor.get("after")
            with self.db.write() as session:
                conn = _conn(session)
                rows = conn.execute(
                    text(
                        "SELECT fingerprint, check_name, account_id, currency, entry_id,"
                        " delta_minor, details FROM reconcile_findings WHERE run_id = :r"
                        " AND fingerprint > :after ORDER BY fingerprint LIMIT :n"
                    ),
                    # '' sorts before every fingerprint (none is empty)
                    {"r": run.run_id, "after": after or "", "n": PUBLISH_BATCH},
                ).all()
                batch = [self._alert(row) for row in rows]
                outcomes: list[str] = []
                self._ingest(session, batch, outcomes)
                self._record_outcomes(conn, [a.fingerprint for a in batch], outcomes)
                if len(rows) < PUBLISH_BATCH:
                    phase, cursor = "resolve", {"after": None}
                else:
                    phase, cursor = "publish", {"after": rows[-1][0]}
                self._move(conn, phase, cursor, run.batches)
            run.phase, run.cursor = phase, cursor
            done += len(rows)
            self._report("publish", done, total)

    def _ingest(self, session: Any, batch: list[Any], outcomes: list[str] | None = None) -> None:
        """A page of the reconciler's alerts through the shared ingest, in one batch (a few
        statements, joins included). No receipt keys: the page commits together with the
        cursor past it, so nothing is offered twice (receipts would only grow by every run's
        findings). Every changed alert's group is queued for the index: a repeated finding's
        new figures, like a resolution, change the group's text."""
        from incidentbook.core.alerts.model import IngestResult

        self.services.alerts.ingest_many_in(
            session,
            self.ctx,
            batch,
            [None] * len(batch),
            IngestResult(),
            outcomes=outcomes,
            queue_every_group=True,
        )

    def _record_outcomes(
        self, conn: Connection, fingerprints: list[str], outcomes: list[str]
    ) -> None:
        """What publishing did to each finding's alert, one UPDATE per outcome and slice
        (a batch's outcomes are mostly one: all new, or all repeated)."""
        by_outcome: dict[str, list[str]] = {}
        for fingerprint, outcome in zip(fingerprints, outcomes, strict=True):
            by_outcome.setdefault(outcome, []).append(fingerprint)
        for outcome, members in by_outcome.items():
            for chunk in chunks(members):
                conn.exec_driver_sql(
                    "UPDATE reconcile_findings SET outcome = ? WHERE run_id = ?"
                    f" AND fingerprint IN ({marks(chunk)})",
                    (outcome, self.run.run_id, *chunk),
                )

    def resolve(self) -> None:
        from incidentbook.core.alerts.model import NativeAlert

        run = self.run
        if run.phase != "resolve":
            return
        scoped = run.mode == "incremental"
        checks_sql = ", ".join(f"'{c}'" for c in ACCOUNT_CHECKS)
        scope_sql = (
            f" AND a.name IN ({checks_sql}) AND json_extract(a.labels, '$.account_id') IN"
            " (SELECT account_id FROM reconcile_scope WHERE run_id = :r)"
            if scoped
            else ""
        )
        while run.phase == "resolve":
            with self.db.write() as session:
                conn = _conn(session)
                rows = conn.execute(
                    text(
                        "SELECT a.fingerprint, a.name, a.severity, a.summary, a.labels,"
                        " a.annotations, a.starts_at FROM alerts a"
                        " WHERE a.source = :source AND a.status = 'firing'"
                        " AND a.fingerprint NOT IN"
                        " (SELECT fingerprint FROM reconcile_findings WHERE run_id = :r)"
                        f"{scope_sql} ORDER BY a.fingerprint LIMIT :n"
                    ),
                    {"source": SOURCE, "r": run.run_id, "n": PUBLISH_BATCH},
                ).all()
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
                    conn.execute(
                        text(
                            "INSERT OR IGNORE INTO reconcile_resolved"
                            " (run_id, fingerprint, check_name, account_id)"
                            " VALUES (:r, :f, :c, :a)"
                        ),
                        [
                            {
                                "r": run.run_id,
                                "f": a.fingerprint,
                                "c": a.name,
                                "a": a.labels.get("account_id", ""),
                            }
                            for a in closing
                        ],
                    )
                if len(rows) < PUBLISH_BATCH:
                    self._move(conn, "complete", {}, run.batches)
                    run.phase = "complete"

    def complete(self) -> RunSummary:
        from incidentbook.core.events.store import append

        run = self.run
        summary = run_summary(self.db, run.run_id)
        summary.resumed = run.resumed
        summary.jobs = self.jobs
        summary.worker_peak_rss_mb = self.worker_peak_rss_mb
        if summary.status == "complete":
            return summary
        finished = to_iso(self.ctx.clock())
        with self.db.write() as session:
            conn = _conn(session)
            conn.execute(
                text(
                    "UPDATE reconcile_runs SET status = 'complete', phase = 'complete',"
                    " finished_at = :at, summary = :summary"
                    " WHERE run_id = :r AND status = 'running'"
                ),
                {"at": finished, "summary": json.dumps(summary.checks), "r": run.run_id},
            )
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
        from incidentbook.obs import log_info

        log_info(
            "reconcile.completed",
            self.ctx.correlation_id,
            run_id=run.run_id,
            mode=run.mode,
            found=summary.found,
            resumed=run.resumed,
        )
        return summary


def run_summary(db: Database, run_id: str) -> RunSummary:
    """Per check: found, new (new or re-fired alerts), resolved. Stable across resumes."""
    with db.read() as session:
        conn = _conn(session)
        row = conn.execute(
            text(
                "SELECT run_id, mode, ledger, status, batches, started_at, finished_at, summary"
                " FROM reconcile_runs WHERE run_id = :r"
            ),
            {"r": run_id},
        ).first()
        if row is None:
            from incidentbook.errors import NotFoundError

            raise NotFoundError(f"no reconcile run {run_id}")
        checks = _stored_checks(row[7]) if row[7] else _counted_checks(conn, run_id)
    return RunSummary(
        run_id=row[0],
        mode=row[1],
        ledger=row[2],
        status=row[3],
        resumed=False,
        batches=int(row[4]),
        started_at=row[5],
        finished_at=row[6],
        checks=checks,
    )


def _counted_checks(conn: Connection, run_id: str) -> dict[str, dict[str, int]]:
    """Per check: found, new (new or re-fired alerts), resolved, counted from the run's rows."""
    checks = {c: {"found": 0, "new": 0, "resolved": 0} for c in CHECKS}
    for check, found, new in conn.execute(
        text(
            "SELECT check_name, COUNT(*), SUM(outcome IN ('new', 'refired'))"
            " FROM reconcile_findings WHERE run_id = :r GROUP BY check_name"
        ),
        {"r": run_id},
    ):
        checks[check]["found"] = int(found)
        checks[check]["new"] = int(new or 0)
    for check, resolved in conn.execute(
        text(
            "SELECT check_name, COUNT(*) FROM reconcile_resolved WHERE run_id = :r"
            " GROUP BY check_name"
        ),
        {"r": run_id},
    ):
        if check in checks:
            checks[check]["resolved"] = int(resolved)
    return checks


def _stored_checks(summary_json: str) -> dict[str, dict[str, int]]:
    stored = json.loads(summary_json)
    empty = {"found": 0, "new": 0, "resolved": 0}
    return {c: {**empty, **stored.get(c, {})} for c in CHECKS}


def prune_runs(db: Database, ctx: Context, ledger: str, keep: int) -> int:
    """Let go of the findings, checkpoints, scope and resolutions of a ledger's complete runs
    older than its newest ``keep``: a run's summary stays on its row (counted first for runs
    from before summaries were stored), and its alerts and their events stay. One transaction
    per run, so a run is either whole or pruned, and running this again does nothing more.
    Returns the runs pruned."""
    with db.read() as session:
        old = [
            str(r[0])
            for r in _conn(session).execute(
                text(
                    "SELECT run_id FROM reconcile_runs WHERE ledger = :l AND status = 'complete'"
                    " AND pruned_at IS NULL AND run_id NOT IN (SELECT run_id FROM reconcile_runs"
                    " WHERE ledger = :l AND status = 'complete'"
                    " ORDER BY finished_at DESC, run_id DESC LIMIT :keep)"
                ),
                {"l": ledger, "keep": keep},
            )
        ]
    rows = 0
    for run_id in old:
        with db.write() as session:
            conn = _conn(session)
            row = conn.execute(
                text("SELECT summary FROM reconcile_runs WHERE run_id = :r AND pruned_at IS NULL"),
                {"r": run_id},
            ).first()
            if row is None:  # another caller pruned it since the list was read
                continue
            summary = row[0]
            if not summary:
                summary = json.dumps(_counted_checks(conn, run_id))
            for table in RUN_TABLES:
                rows += conn.execute(
                    text(f"DELETE FROM {table} WHERE run_id = :r"), {"r": run_id}
                ).rowcount
            conn.execute(
                text("UPDATE reconcile_runs SET summary = :s, pruned_at = :at WHERE run_id = :r"),
                {"s": summary, "at": to_iso(ctx.clock()), "r": run_id},
            )
    if old:
        from incidentbook.obs import log_info

        log_info("reconcile.pruned", ctx.correlation_id, ledger=ledger, runs=len(old),
                 rows=rows, kept=keep)  # fmt: skip
    return len(old)


def findings(db: Database, run_id: str) -> list[Finding]:
    """The findings of one run, sorted by fingerprint."""
    with db.read() as session:
        rows = (
            _conn(session)
            .execute(
                text(
                    "SELECT check_name, fingerprint, account_id, currency, entry_id, delta_minor,"
                    " details FROM reconcile_findings WHERE run_id = :r ORDER BY fingerprint"
                ),
                {"r": run_id},
            )
            .all()
        )
    return [Finding(r[0], r[1], r[2], r[3], r[4], int(r[5]), json.loads(r[6])) for r in rows]


# -- presentation ------------------------------------------------------------------------

def summary_text(
    check: str, account_id: str, currency: str, delta: int, details: dict[str, Any]
) -> str:
    if check == "balance_mismatch":
        return (
            f"{account_id}: stored {format_minor(details['stored_minor'], currency)} ≠ derived "
            f"{format_minor(details['derived_minor'], currency)} "
            f"(Δ {format_minor(delta, currency)})"
        )
    if check == "duplicate_posting":
        return (
            f"{account_id}: {details['external_ref']} posted {details['copies']}× "
            f"({details['kind']} {format_minor(details['amount_minor'], currency)})"
        )
    if check == "currency_mismatch":
        return (
            f"{account_id}: entry in {details['entry_currency']} on a "
            f"{details['account_currency']} account"
        )
    if check == "orphan_entry":
        return f"entry for unknown account {account_id} ({format_minor(delta, currency)})"
    if check == "invalid_reversal":
        return f"{account_id}: reversal of {details['reverses_entry_id']}: " + ", ".join(
            p.replace("_", " ") for p in details["problems"]
        )
    if check == "clock_skew":
        return f"recorded {details['skew_seconds']:g}s before the previous entry"
    return f"{check} {account_id}"


@dataclass(frozen=True)
class IncidentCandidate:
    """One check's firing findings, as an incident candidate on the Triage screen."""

    check: str
    severity: str
    alerts: int
    accounts: int
    delta_by_currency: dict[str, int]
    first_seen: str
    last_seen: str
    incident_id: str | None

    def line(self, timezone: str = "UTC") -> str:
        """'balance_mismatch: 4,812 accounts, Δ −1,204,331.17 EUR since 02:14'"""
        from zoneinfo import ZoneInfo

        deltas = ", ".join(
            format_minor(v, c) for c, v in sorted(self.delta_by_currency.items()) if v
        )
        since = parse_iso(self.first_seen).astimezone(ZoneInfo(timezone)).strftime("%H:%M")
        noun = "account" if self.accounts == 1 else "accounts"
        money = f", Δ {deltas}" if deltas else ""
        return f"{self.check}: {self.accounts:,} {noun}{money} since {since}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "line": self.line()}


def incident_candidates(db: Database) -> list[IncidentCandidate]:
    """Firing reconciler alerts grouped by check: accounts affected, total delta per currency,
    first and last seen. Worst severity first, then most accounts."""
    with db.read() as session:
        rows = (
            _conn(session)
            .execute(
                text(
                    "SELECT name, severity, labels, annotations, first_seen, last_seen,"
                    " incident_id FROM alerts WHERE source = :s AND status = 'firing'"
                ),
                {"s": SOURCE},
            )
            .all()
        )
    grouped: dict[str, dict[str, Any]] = {}
    for name, severity, labels, notes_json, first, last, incident in rows:
        label_map = json.loads(labels)
        notes = json.loads(notes_json)
        g = grouped.setdefault(
            name,
            {"severity": severity, "alerts": 0, "accounts": set(), "delta": {}, "first": first,
             "last": last, "incident": incident},
        )  # fmt: skip
        g["alerts"] += 1
        g["accounts"].add(label_map.get("account_id", ""))
        currency = label_map.get("currency", "")
        try:
            delta = int(notes.get("delta_minor", "0"))
        except ValueError:
            delta = 0
        g["delta"][currency] = g["delta"].get(currency, 0) + delta
        g["first"] = min(g["first"], first)
        g["last"] = max(g["last"], last)
        g["incident"] = g["incident"] or incident
    order = ("critical", "error", "warning", "info")
    out = [
        IncidentCandidate(
            check=name,
            severity=g["severity"],
            alerts=g["alerts"],
            accounts=len(g["accounts"]),
            delta_by_currency=dict(sorted(g["delta"].items())),
            first_seen=g["first"],
            last_seen=g["last"],
            incident_id=g["incident"],
        )
        for name, g in grouped.items()
    ]
    return sorted(out, key=lambda c: (order.index(c.severity), -c.accounts, c.check))


def affected_accounts(db: Database, check: str | None = None, limit: int = 1000) -> list[str]:
    """Accounts with firing reconciler alerts (of one check), for the Triage/Incident screens."""
    with db.read() as session:
        rows = (
            _conn(session)
            .execute(
                text(
                    "SELECT DISTINCT json_extract(labels, '$.account_id') AS account FROM alerts"
                    " WHERE source = :s AND status = 'firing' AND (:c IS NULL OR name = :c)"
                    " ORDER BY account LIMIT :n"
                ),
                {"s": SOURCE, "c": check, "n": limit},
            )
            .all()
        )
    return [str(r[0]) for r in rows if r[0]]


def verify_checkpoints(_settings: Any, db: Database) -> Any:
    """``incidentbook verify``: reconciler checkpoints agree with the findings they committed.

    Per run: checkpoint seqs are 1..batches without a gap; each checkpoint's finding count is
    the number of findings committed with it; a complete run has every finding published."""
    from incidentbook.core.events.projection import CheckResult

    result = CheckResult("reconciler_checkpoints")
    with db.read() as session:
        conn = _conn(session)
        runs = conn.execute(
            text(
                "SELECT run_id, status, batches, finished_at, pruned_at, summary"
                " FROM reconcile_runs"
            )
        ).all()
        for run_id, status, batches, finished, pruned, summary in runs:
            result.checked += 1
            if pruned:
                left = sum(
                    conn.execute(
                        text(f"SELECT COUNT(*) FROM {table} WHERE run_id = :r"), {"r": run_id}
                    ).scalar_one()
                    for table in RUN_TABLES
                )
                if left or not summary or status != "complete":
                    result.problems.append(
                        f"run {run_id}: pruned, but {left} rows left, summary "
                        f"{'kept' if summary else 'missing'}, status {status}"
                    )
                continue
            seqs = conn.execute(
                text(
                    "SELECT c.seq, c.findings, (SELECT COUNT(*) FROM reconcile_findings f"
                    " WHERE f.run_id = c.run_id AND f.seq = c.seq)"
                    " FROM reconcile_checkpoints c WHERE c.run_id = :r ORDER BY c.seq"
                ),
                {"r": run_id},
            ).all()
            if [s[0] for s in seqs] != list(range(1, len(seqs) + 1)) or len(seqs) != batches:
                result.problems.append(
                    f"run {run_id}: checkpoints {[s[0] for s in seqs][:10]} do not match "
                    f"{batches} batches"
                )
            for seq, claimed, actual in seqs:
                if claimed != actual:
                    result.problems.append(
                        f"run {run_id}: batch {seq} committed {claimed} findings, "
                        f"{actual} are stored"
                    )
            orphans = conn.execute(
                text(
                    "SELECT COUNT(*) FROM reconcile_findings f WHERE f.run_id = :r AND NOT EXISTS"
                    " (SELECT 1 FROM reconcile_checkpoints c WHERE c.run_id = f.run_id"
                    " AND c.seq = f.seq)"
                ),
                {"r": run_id},
            ).scalar_one()
            if orphans:
                result.problems.append(f"run {run_id}: {orphans} findings without a checkpoint")
            if status == "complete":
                unpublished = conn.execute(
                    text(
                        "SELECT COUNT(*) FROM reconcile_findings WHERE run_id = :r"
                        " AND outcome IS NULL"
                    ),
                    {"r": run_id},
                ).scalar_one()
                if unpublished or not finished:
                    result.problems.append(
                        f"run {run_id}: complete but {unpublished} findings never published"
                    )
    return result


def health_panels(services: Services) -> list[tuple[str, str]]:
    """The Health screen's reconciler panels: last run and its age (lag), an unfinished run's
    progress, findings per check over the last runs."""
    from incidentbook.clock import humanize_age

    db = services.db
    now = services.settings.clock()
    with db.read() as session:
        conn = _conn(session)
        runs = conn.execute(
            text(
                "SELECT run_id, mode, status, phase, batches, started_at, finished_at"
                " FROM reconcile_runs ORDER BY started_at DESC LIMIT 8"
            )
        ).all()
        pruned = int(
            conn.execute(
                text("SELECT COUNT(*) FROM reconcile_runs WHERE pruned_at IS NOT NULL")
            ).scalar_one()
        )
    if not runs:
        return [("Reconciler", "never run\n\nincidentbook reconcile")]
    lines = []
    last_done = next((r for r in runs if r[2] == "complete"), None)
    if last_done is not None:
        age = humanize_age((now - parse_iso(last_done[6])).total_seconds())
        lines.append(f"last run {last_done[0]} ({last_done[1]})\nfinished {age} ago")
    running = next((r for r in runs if r[2] == "running"), None)
    if running is not None:
        lines.append(f"unfinished {running[0]}: {running[3]}, {running[4]} batches\n(--resume)")
    if pruned:
        lines.append(f"{pruned} older runs kept as summaries\n([reconciler] keep_runs)")
    trend = []
    for run in runs:
        if run[2] != "complete":
            continue
        summary = run_summary(db, run[0])
        counts = " ".join(f"{v['found']}" for v in summary.checks.values())
        trend.append(f"{run[5][5:16]} {run[1][:4]} {counts}")
    return [
        ("Reconciler", "\n".join(lines)),
        ("Findings per run (" + " ".join(c[:4] for c in CHECKS) + ")", "\n".join(trend)),
    ]


def incident_accounts(db: Database, incident_id: str, limit: int = 1000) -> list[str]:
    """Accounts affected by an incident: those of the reconciler alerts linked to it."""
    with db.read() as session:
        rows = (
            _conn(session)
            .execute(
                text(
                    "SELECT DISTINCT json_extract(labels, '$.account_id') AS account FROM alerts"
                    " WHERE source = :s AND incident_id = :i ORDER BY account LIMIT :n"
                ),
                {"s": SOURCE, "i": incident_id, "n": limit},
            )
            .all()
        )
    return [str(r[0]) for r in rows if r[0]]
