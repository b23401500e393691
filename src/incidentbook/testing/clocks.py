"""Deterministic clocks for tests and benchmarks: ``FakeClock`` and its default start ``T0``."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

T0 = datetime(2026, 10, 17, 2, 14, 0, tzinfo=UTC)


class FakeClock:
    """Deterministic UTC time: each reading advances by ``step`` (default one second)."""

    def __init__(self, start: datetime = T0, step: timedelta = timedelta(seconds=1)) -> None:
        self.now = start
        self.step = step
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            current = self.now
            self.now = current + self.step
            return current

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self.now += delta
