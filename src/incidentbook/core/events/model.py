"""The append-only event log's value types: an event, its id, and the JSON text it stores.

Pure: no SQL (``store`` reads and writes events). Every change incidentbook makes to its own
state is one ``Event``; projections are folds of them.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any

# JSON text as incidentbook stores it, one encoder each made once (json.dumps with options
# builds a new encoder per call, and alert batches encode thousands): an event's data, and
# the sorted maps kept in other columns (alert labels and annotations, finding details).
encode_data = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode
encode_sorted = json.JSONEncoder(sort_keys=True).encode


@dataclass(frozen=True)
class Event:
    seq: int
    stream: str
    type: str
    data: dict[str, Any]
    actor: str
    reason: str | None
    correlation_id: str
    recorded_at: str
    idempotency_key: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "stream": self.stream,
            "type": self.type,
            "data": self.data,
            "actor": self.actor,
            "reason": self.reason,
            "correlation_id": self.correlation_id,
            "recorded_at": self.recorded_at,
        }


def new_event_id() -> str:
    """A UUIDv7 (RFC 9562 §5.7) as 32 hex digits: Unix milliseconds, then 74 random bits.

    Ordered by the millisecond (ids of the same millisecond in any order), so a batch's ids
    land together at the end of the unique ``event_id`` index; random (v4) ids spread every
    batch over the whole index, and a reconcile of thousands of findings wrote ever more of
    it as the log grew. Python 3.14's ``uuid.uuid7`` replaces this."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    value = value & ~(0xF << 76) | 0x7 << 76  # version 7
    value = value & ~(0x3 << 62) | 0x2 << 62  # RFC 9562 variant
    return f"{value:032x}"
