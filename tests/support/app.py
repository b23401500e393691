"""Waiting for the app the honest way: until its workers are done, never by sleeping."""

from __future__ import annotations

from typing import Any

from textual.app import App
from textual.pilot import Pilot
from textual.worker import WorkerCancelled, WorkerState


async def settle(pilot: Pilot[None], rounds: int = 50) -> None:
    """Let messages flow and workers finish (exclusive workers may replace each other)."""
    app: App[None] = pilot.app
    quiet = 0
    for _ in range(rounds):
        await pilot.pause()
        try:
            await app.workers.wait_for_complete()
        except WorkerCancelled:
            quiet = 0
            continue
        await pilot.pause()
        busy = [w for w in app.workers if w.state in (WorkerState.PENDING, WorkerState.RUNNING)]
        # A worker's result can start another through a chain of messages (the screen's
        # outcome, the app's DataChanged, the screen's Reload): quiet twice in a row.
        quiet = 0 if busy else quiet + 1
        if quiet == 2:
            # what the last worker's message changed is laid out (scrollbars included) on
            # the next refresh, not this one
            await pilot.wait_for_scheduled_animations()
            await pilot.pause()
            return
    raise AssertionError("the app did not settle")


def record_notifications(app: App[None]) -> list[str]:
    """Every notification the app shows from now on, in order (they are shown as well)."""
    messages: list[str] = []
    original = app.notify

    def notify(message: str, *args: Any, **kwargs: Any) -> None:
        messages.append(str(message))
        original(message, *args, **kwargs)

    app.notify = notify  # type: ignore[method-assign]
    return messages
