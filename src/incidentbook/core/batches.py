"""Long lists cut into slices for SQL ``IN (...)`` lists (SQLite before 3.32 binds at most 999
values per statement). No imports beyond typing: the reconciler's scan workers use it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

IN_LIST_SIZE = 500

T = TypeVar("T")


def chunks(items: Sequence[T], size: int = IN_LIST_SIZE) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
