"""A child process for the kill -9 tests: ``python fix_apply_child.py WORKSPACE LEDGER_URL PLAN
BATCH [MAX_RATE]`` applies a plan with a FIXED clock (every reading the same instant), so an
interrupted-then-resumed apply and an uninterrupted one stamp the same times.

``INCIDENTBOOK_TEST_KILL_AFTER_LEDGER_BATCH=N``: SIGKILL itself right after the N-th batch's
ledger transaction committed, before its checkpoint (the narrowest window of an apply)."""

from __future__ import annotations

import os
import signal
import sys
from datetime import timedelta
from typing import Any


def main(argv: list[str]) -> int:
    from incidentbook.core.fixes import ledger as ledger_io
    from incidentbook.core.ledger.contract import open_ledger
    from incidentbook.services import make_services
    from incidentbook.settings import load_settings
    from incidentbook.testing.clocks import FakeClock

    workspace, url, plan_id, batch = argv[:4]
    max_rate = float(argv[4]) if len(argv) > 4 else None
    kill_after = int(os.environ.get("INCIDENTBOOK_TEST_KILL_AFTER_LEDGER_BATCH", "0"))
    if kill_after:
        write_batch = ledger_io.write_batch
        seen = [0]

        def killing(*args: Any, **kwargs: Any) -> Any:
            result = write_batch(*args, **kwargs)
            seen[0] += 1
            if seen[0] == kill_after:
                os.kill(os.getpid(), signal.SIGKILL)
            return result

        ledger_io.write_batch = killing  # type: ignore[assignment]
    clock = FakeClock(step=timedelta(0))
    services = make_services(load_settings(workspace, actor="user:test", clock=clock))
    ledger = open_ledger(url, writable=True)
    try:
        report = services.fixes.apply(
            services.context("kill test"),
            plan_id,
            ledger,
            batch_size=int(batch),
            max_rate=max_rate,
        )
    finally:
        ledger.dispose()
    print(report.batches_run, report.batches_total, report.totals.conflicts)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
