"""Messages that workers post back to the UI thread (workers never touch widgets)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message
from textual.screen import Screen


@dataclass
class DatabaseReady(Message):
    """The state database is open and migrated; screens may load."""

    last_seq: int = 0  # the newest event then: the change poll starts from here


@dataclass
class WorkFailed(Message):
    """A worker's work raised: ``error`` is the text to show (``workers.failure_text``);
    ``subject`` is what the work was about (a query, an id), so a receiver can drop a stale
    failure. Every receiver stops it: a failure is reported once, where the work was started."""

    error: str
    subject: str = ""


@dataclass
class DataChanged(Message):
    """Something changed the state (a command in the app, or an outside writer)."""

    source: str = ""


@dataclass
class Reload(Message, bubble=False):
    """From the app to each screen: load your data again."""

    source: str = ""


@dataclass
class ScreenRequested(Message):
    """From a worker to the app (it bubbles up): push this screen."""

    screen: Screen[Any]
