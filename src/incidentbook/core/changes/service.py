"""``ChangeService``: record change events (the receiver, ``alerts ingest --format
pagerduty-change``), list them, and the deploy context of an incident: the changes in the
window (``[alerts] change_window``) before its first bad entry, else its first alert.

Where an incident's window ends (its ``Anchor``) is read by the ``anchor_of`` it is given
(wired in ``Services`` to the postmortem facts' ``detection_anchor``), so this package needs
nothing of the incidents or documents.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from incidentbook.clock import parse_iso, to_iso
from incidentbook.context import Context
from incidentbook.core.alerts.formats.common import PayloadError, decode_json
from incidentbook.core.alerts.store import with_lock_retry
from incidentbook.core.changes import store
from incidentbook.core.changes.model import (
    DEFAULT_WINDOW_S,
    Anchor,
    Change,
    ChangeEvent,
    DeployContext,
    changes_before,
    parse_change_event,
)
from incidentbook.obs import log_info
from incidentbook.storage.db import Database

AnchorOf = Callable[[str], Anchor | None]


@dataclass
class ChangeIngestReport:
    """What a file of change events did: lines read, changes new and replayed, lines
    skipped (each with its line number and errors)."""

    lines: int = 0
    new: int = 0
    replayed: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "received": self.new + self.replayed,
            "new": self.new,
            "replayed": self.replayed,
            "skipped": self.skipped,
        }


class ChangeService:
    def __init__(
        self,
        db: Database,
        *,
        window_s: int = DEFAULT_WINDOW_S,
        anchor_of: AnchorOf | None = None,
    ) -> None:
        self.db = db
        self.window_s = window_s
        self.anchor_of = anchor_of
        self._write_lock = threading.Lock()  # the receiver's threads queue here, as alerts do

    def record(self, ctx: Context, event: ChangeEvent) -> tuple[Change, bool]:
        """Store one change (a replay of a stored one changes nothing): (change, new)."""

        def work() -> tuple[Change, bool]:
            with self.db.holding(self._write_lock), self.db.write() as session:
                return store.record_in(session, ctx, event)

        change, new = with_lock_retry(work, attempts=self.db.lock_attempts)
        log_info(
            "changes.recorded", ctx.correlation_id, actor=ctx.actor, change=change.id, new=new
        )
        return change, new

    def ingest_lines(
        self, ctx: Context, lines: Iterable[str], *, on_error: str = "skip"
    ) -> ChangeIngestReport:
        """JSON lines of PagerDuty change events (``routing_key`` optional in a file). With
        ``on_error="abort"`` every line is checked first and nothing is written if one fails."""
        report = ChangeIngestReport()
        parsed: list[ChangeEvent] = []
        problems: list[str] = []
        for number, text in enumerate(lines, start=1):
            report.lines = number
            if not text.strip():
                continue
            try:
                parsed.append(
                    parse_change_event(decode_json(text, "json"), require_routing_key=False)
                )
            except PayloadError as exc:
                report.skipped.append({"line": number, "errors": exc.errors})
                problems.append(f"line {number}: {'; '.join(exc.errors)}")
        if problems and on_error == "abort":
            raise PayloadError(problems)
        for event in parsed:
            _change, new = self.record(ctx, event)
            if new:
                report.new += 1
            else:
                report.replayed += 1
        return report

    def get(self, change_id: str) -> Change | None:
        with self.db.read() as session:
            return store.get_change(session, change_id)

    def list_changes(self, since: str | None = None) -> list[Change]:
        """Every change at or after ``since`` (ISO time), oldest first."""
        bound = to_iso(parse_iso(since)) if since else None
        with self.db.read() as session:
            return store.list_changes(session, since=bound)

    def before(self, anchor: Anchor) -> DeployContext:
        """The changes in the window before ``anchor``."""
        end = parse_iso(anchor.at)
        start = to_iso(end - timedelta(seconds=self.window_s))
        with self.db.read() as session:
            found = store.list_changes(session, since=start, until=to_iso(end))
        return changes_before(found, anchor, self.window_s)

    def for_incident(self, incident_id: str) -> DeployContext | None:
        """The deploy context of an incident, or None when it has no anchor (no alert, no bad
        entry) or no ``anchor_of`` was given."""
        anchor = self.anchor_of(incident_id) if self.anchor_of is not None else None
        return self.before(anchor) if anchor is not None else None
