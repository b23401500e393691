"""Helpers for long batch jobs: long lists cut into slices for SQL ``IN (...)`` lists (SQLite
before 3.32 binds at most 999 values per statement), and a collector that leaves the job's
long-lived objects alone. Standard library only: the reconciler's scan workers use it."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

IN_LIST_SIZE = 500

T = TypeVar("T")


def chunks(items: Sequence[T], size: int = IN_LIST_SIZE) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def marks(values: Sequence[object]) -> str:
    """One ``?`` per value, for an ``IN (...)`` list or a ``VALUES (...)`` row."""
    return ", ".join("?" * len(values))


class Pacer:
    """``--max-rate``: after each unit of work, sleep as long as it takes to keep the job at
    no more than ``max_rate`` units per second since it started (None: no limit)."""

    def __init__(self, max_rate: float | None) -> None:
        self.max_rate = max_rate
        self.start = time.monotonic()
        self.units = 0.0

    def wait(self, units: float) -> None:
        if self.max_rate is None:
            return
        self.units += units
        due = self.units / self.max_rate - (time.monotonic() - self.start)
        if due > 0:
            time.sleep(due)


@contextmanager
def collector_spares_the_old() -> Iterator[None]:
    """Run a batch job with everything alive at its start kept out of the cyclic collector.

    A job that builds thousands of short-lived objects per batch sets off the collector many
    times; each full pass traces every object of the process again (all of SQLAlchemy, the
    settings, the app) and found nothing to free there. Frozen, they are skipped; garbage
    the job itself makes is still collected, and unfreezing hands the old objects back."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
