"""The one worker helper: the outcome's message, or WorkFailed with the text people see."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import App
from textual.message import Message

from incidentbook.errors import NotFoundError
from incidentbook.ui.messages import WorkFailed
from incidentbook.ui.workers import failure_text, run_in_worker
from tests.support.app import settle


@dataclass
class Done(Message):
    value: int


class Host(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Message] = []

    def on_done(self, message: Done) -> None:
        self.seen.append(message)

    def on_work_failed(self, message: WorkFailed) -> None:
        self.seen.append(message)


def test_failure_text_keeps_our_errors_as_they_are() -> None:
    assert failure_text(NotFoundError("no incident INC-9")) == "no incident INC-9"
    assert failure_text(ValueError("bad")) == "ValueError: bad"


async def test_run_in_worker_posts_the_outcome_or_the_failure() -> None:
    def boom() -> Done:
        raise ValueError("bad")

    host = Host()
    async with host.run_test() as pilot:
        run_in_worker(host, lambda: Done(1), group="one")
        await settle(pilot)
        run_in_worker(host, boom, group="two", subject="q")
        await settle(pilot)
    assert host.seen == [Done(1), WorkFailed("ValueError: bad", "q")]
