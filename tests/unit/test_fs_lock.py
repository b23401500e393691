"""``fs.exclusive_lock``: one job at a time; the holder is recorded; a live holder keeps the
lock, a dead one's lock (kept by a child it forked) is taken over; a directory or a symlink
in the lock's place is replaced, never written through."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from incidentbook.errors import UsageError
from incidentbook.fs import exclusive_lock, lock_holder, process_start
from tests.support.search_damage import hold_flock, release


def test_the_holder_is_recorded_and_a_live_holder_keeps_the_lock(tmp_path: Path) -> None:
    lock = tmp_path / "job.lock"
    with exclusive_lock(lock, "busy"):
        assert lock_holder(lock) == (os.getpid(), process_start(os.getpid()))
        with exclusive_lock(lock, "busy"):  # the same thread again: a no-op
            pass
    other = hold_flock(lock)
    try:
        lock.write_text(f"{other.pid} {process_start(other.pid)}\n")
        with pytest.raises(UsageError, match=r"^busy$"), exclusive_lock(lock, "busy"):
            pass
    finally:
        release(other)


def test_a_dead_holders_lock_is_taken_over(tmp_path: Path) -> None:
    lock = tmp_path / "job.lock"
    orphan = hold_flock(lock)  # the child that outlived its parent, still holding the flock
    try:
        lock.write_text("999999999 1\n")
        with exclusive_lock(lock, "busy"):
            assert lock_holder(lock) == (os.getpid(), process_start(os.getpid()))
    finally:
        release(orphan)


def test_a_directory_or_symlink_in_the_locks_place_is_replaced(tmp_path: Path) -> None:
    lock = tmp_path / "job.lock"
    (lock / "inside").mkdir(parents=True)
    with exclusive_lock(lock, "busy"):
        assert lock.is_file()
    lock.unlink()
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me\n")
    lock.symlink_to(precious)
    with exclusive_lock(lock, "busy"):
        assert not lock.is_symlink()
    assert precious.read_text() == "keep me\n"
