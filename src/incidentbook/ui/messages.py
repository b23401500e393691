"""Messages that workers post back to the UI thread (workers never touch widgets)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class DatabaseReady(Message):
    """The state database is open and migrated; screens may load."""

    last_seq: int = 0  # the newest event then: the change poll starts from here


@dataclass
class DatabaseFailed(Message):
    error: str


@dataclass
class DataChanged(Message):
    """Something changed the state (a command in the app, or an outside writer)."""

    source: str = ""


@dataclass
class Reload(Message, bubble=False):
    """From the app to each screen: load your data again."""

    source: str = ""
