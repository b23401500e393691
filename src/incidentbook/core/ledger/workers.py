"""Scan workers: processes that run reconciler tasks on the same SQLite snapshot, in parallel.

Why processes: Debian's SQLite is built with a global allocation mutex, so two scans in two
threads of one process slow each other down about threefold; two processes do not.

Why one snapshot still holds: each worker opens its own read transaction, and the pool checks
with ``PRAGMA data_version`` on a separate connection that nothing was committed between the
moment before the coordinator (re)opened its snapshot and the moment after the last worker
opened its own ("changes committed by any other connection in the interim", SQLite's docs).
If something was, everyone opens again; after a few tries the run goes on in one process.

The protocol is JSON lines over the worker's stdin and stdout; a worker exits when its stdin
closes, so a coordinator killed with ``kill -9`` leaves no worker behind for long (one task
at most). Workers import only the checks and ``sqlite3``, never SQLAlchemy or Textual.
"""

from __future__ import annotations

import contextlib
import json
import selectors
import sqlite3
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from incidentbook.core.ledger.checks import Finding
from incidentbook.core.ledger.contract import LedgerError, Snapshot
from incidentbook.core.ledger.tasks import ScanOptions, Task, TaskResult, run_task

AGREE_ATTEMPTS = 25


class PoolBroken(RuntimeError):
    """No worker is left; the caller finishes the remaining tasks itself."""


def _open_ro(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 10000")
    return conn


# -- the worker process ------------------------------------------------------------------------


def serve(stdin: IO[str], stdout: IO[str]) -> None:
    """One worker: ``open`` a ledger, ``begin`` a snapshot, run ``task``s until stdin closes."""
    snap: Snapshot | None = None
    options: ScanOptions | None = None

    def reply(message: dict[str, Any]) -> None:
        stdout.write(json.dumps(message) + "\n")
        stdout.flush()

    for line in stdin:
        message = json.loads(line)
        op = message["op"]
        try:
            if op == "open":
                snap = Snapshot(_open_ro(message["path"]), sqlite=True)
                options = ScanOptions.from_json(message["options"])
                reply({"ok": True})
            elif op == "begin":
                assert snap is not None
                snap.restart()
                reply({"ok": True})
            elif op == "bye":
                reply({"ok": True, "peak_rss_kb": _peak_rss_kb()})
                return
            elif op == "probe":
                assert snap is not None
                reply({"ok": True, "state": snapshot_state(snap)})
            elif op == "task":
                assert snap is not None and options is not None
                result = run_task(snap, Task.from_json(message["task"]), options)
                reply({"id": message["id"], "items": result.items,
                       "findings": [f.to_dict() for f in result.findings]})  # fmt: skip
            else:
                reply({"id": message.get("id"), "error": f"unknown op {op!r}", "fatal": True})
        except LedgerError as exc:
            reply({"id": message.get("id"), "error": str(exc)})
        except Exception as exc:  # reported to the coordinator, which carries on without us
            reply({"id": message.get("id"), "error": f"{type(exc).__name__}: {exc}",
                   "fatal": True})  # fmt: skip
            return


def _peak_rss_kb() -> int:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def snapshot_state(snap: Snapshot) -> list[Any]:
    """A cheap fingerprint of what a snapshot sees (entry count, last entry id, sum of stored
    balances): equal in every process that shares one snapshot."""
    row = snap.one(
        "SELECT (SELECT COUNT(*) FROM ledger_entries), (SELECT MAX(entry_id) FROM ledger_entries),"
        " (SELECT SUM(balance_minor) FROM ledger_accounts)"
    )
    return list(row or ())


def main() -> None:
    serve(sys.stdin, sys.stdout)


# -- the pool, in the coordinator --------------------------------------------------------------


@dataclass
class _Worker:
    proc: subprocess.Popen[str]
    task: tuple[int, Task] | None = None

    @property
    def stdin(self) -> IO[str]:
        assert self.proc.stdin is not None
        return self.proc.stdin

    @property
    def stdout(self) -> IO[str]:
        assert self.proc.stdout is not None
        return self.proc.stdout

    def send(self, message: dict[str, Any]) -> None:
        self.stdin.write(json.dumps(message) + "\n")
        self.stdin.flush()

    def receive(self) -> dict[str, Any] | None:
        line = self.stdout.readline()
        return json.loads(line) if line else None


class WorkerPool:
    """``count`` worker processes on the SQLite ledger at ``path``."""

    def __init__(self, path: Path, count: int) -> None:
        """Start the processes (their interpreters load while the caller plans); ``start``
        then opens the ledger in each."""
        self.path = str(path)
        self.workers: list[_Worker] = []
        self.peak_rss_kb = 0
        try:
            for _ in range(count):
                proc = subprocess.Popen(
                    [sys.executable, "-m", "incidentbook.core.ledger.workers"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    text=True,
                    bufsize=1,
                )
                self.workers.append(_Worker(proc))
        except OSError:
            self.close(abort=True)
            raise

    def _send_all(self, message: dict[str, Any]) -> None:
        for worker in self.workers:
            try:
                worker.send(message)
            except OSError as exc:  # it exited: e.g. this interpreter cannot import us
                raise PoolBroken(f"a scan worker is gone ({exc})") from None

    def start(self, options: ScanOptions) -> None:
        self._send_all({"op": "open", "path": self.path, "options": options.to_json()})
        self._expect_ok()

    def _expect_ok(self) -> None:
        for worker in self.workers:
            try:
                answer = worker.receive()
            except (OSError, ValueError) as exc:
                raise PoolBroken(f"a scan worker did not answer: {exc}") from None
            if not answer or not answer.get("ok"):
                raise PoolBroken(f"a scan worker did not start: {answer}")

    def agree(self, snap: Snapshot) -> int:
        """Put the coordinator's snapshot and every worker's on one committed state. Returns
        the attempts it took, 0 if the ledger kept changing (then use one process)."""
        monitor = _open_ro(self.path)
        try:
            for attempt in range(1, AGREE_ATTEMPTS + 1):
                before = monitor.execute("PRAGMA data_version").fetchone()[0]
                snap.restart()
                self._send_all({"op": "begin"})
                self._expect_ok()
                if monitor.execute("PRAGMA data_version").fetchone()[0] == before:
                    return attempt
                time.sleep(0.001 * attempt)  # let a burst of commits pass
            return 0
        finally:
            monitor.close()

    def probe(self) -> list[list[Any]]:
        """Every worker's ``snapshot_state`` (to see, and test, that they agree)."""
        self._send_all({"op": "probe"})
        states = []
        for worker in self.workers:
            answer = worker.receive()
            if not answer or not answer.get("ok"):
                raise PoolBroken(f"a scan worker did not answer: {answer}")
            states.append(answer["state"])
        return states

    def run(
        self,
        tasks: Sequence[Task],
        before_dispatch: Callable[[], None] | None = None,
        tick: float | None = None,
    ) -> Iterator[tuple[Task, TaskResult] | None]:
        """Results as they come, and None every ``tick`` seconds without one (so the caller
        can commit what it holds). The next task goes out before a result is handed over, so
        workers keep scanning while the caller commits. A ledger error ends the run; a worker
        that dies has its task handed to another."""
        pending: deque[tuple[int, Task]] = deque(enumerate(tasks))
        selector = selectors.DefaultSelector()
        for worker in self.workers:
            selector.register(worker.stdout, selectors.EVENT_READ, worker)

        def lost(worker: _Worker, why: object) -> None:
            """A worker died: its task goes back to the queue, the others carry on."""
            if worker.task is not None:
                pending.appendleft(worker.task)
                worker.task = None
            selector.unregister(worker.stdout)
            self._retire(worker)
            if not self.workers:
                raise PoolBroken(f"scan workers failed: {why}")

        def dispatch(worker: _Worker) -> None:
            if not pending:
                return
            if before_dispatch is not None:
                before_dispatch()
            worker.task = pending.popleft()
            try:
                worker.send({"op": "task", "id": worker.task[0], "task": worker.task[1].to_json()})
            except OSError as exc:
                lost(worker, exc)
                for other in self.workers:
                    if other.task is None:
                        dispatch(other)

        try:
            for worker in list(self.workers):
                if worker in self.workers and worker.task is None:
                    dispatch(worker)
            while any(w.task is not None for w in self.workers):
                ready = selector.select(tick)
                if not ready:
                    yield None
                for key, _ in ready:
                    worker = key.data
                    if worker not in self.workers or worker.task is None:
                        continue
                    try:
                        answer = worker.receive()
                    except (OSError, ValueError) as exc:
                        answer = {"fatal": True, "error": str(exc)}
                    if answer is None or answer.get("fatal"):
                        lost(worker, answer)
                        for other in list(self.workers):
                            if other.task is None:
                                dispatch(other)
                        continue
                    if "error" in answer:
                        raise LedgerError(str(answer["error"]))
                    task = worker.task
                    worker.task = None
                    dispatch(worker)
                    yield (
                        task[1],
                        TaskResult(
                            int(answer["items"]), [Finding.from_dict(f) for f in answer["findings"]]
                        ),
                    )
        finally:
            selector.close()

    def _retire(self, worker: _Worker) -> None:
        self.workers.remove(worker)
        worker.proc.kill()
        worker.proc.wait()

    def close(self, *, abort: bool = False) -> None:
        """Stop every worker; ``peak_rss_kb`` is then the largest worker's peak memory.
        ``abort`` (the run failed): kill them, without waiting for their tasks."""
        if abort:
            for worker in self.workers:
                worker.proc.kill()
        for worker in self.workers:
            if not abort:
                with contextlib.suppress(OSError):
                    worker.send({"op": "bye"})
            with contextlib.suppress(OSError):
                worker.stdin.close()
        for worker in self.workers if not abort else []:
            # a worker still busy with a task answers the task first
            with contextlib.suppress(OSError, ValueError):
                while (answer := worker.receive()) is not None:
                    if "peak_rss_kb" in answer:
                        self.peak_rss_kb = max(self.peak_rss_kb, int(answer["peak_rss_kb"]))
                        break
        for worker in self.workers:
            try:
                worker.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                worker.proc.kill()
                worker.proc.wait()
            if worker.proc.stdout is not None:
                worker.proc.stdout.close()
        self.workers = []


if __name__ == "__main__":
    main()
