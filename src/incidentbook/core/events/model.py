"""The append-only event log's value types: an event, its id, the JSON text it stores, and
the hash chain's one canonical form.

Pure: no SQL (``store`` reads and writes events). Every change incidentbook makes to its own
state is one ``Event``; projections are folds of them.

The hash chain (DESIGN §3): each event's ``hash`` is the SHA-256 of one canonical JSON object
(sorted keys, compact, UTF-8) holding its stored content (``CHAIN_COLUMNS``: its seq, id,
stream, type, data as the stored JSON text, actor, reason, correlation id, recorded_at and
idempotency key) and ``prev_hash``, the previous event's hash (``GENESIS_HASH`` for the
first). ``link_hash`` is the only place that form is written down.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# JSON text as incidentbook stores it, one encoder each made once (json.dumps with options
# builds a new encoder per call, and alert batches encode thousands): an event's data, and
# the sorted maps kept in other columns (alert labels and annotations, finding details).
encode_data = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode
encode_sorted = json.JSONEncoder(sort_keys=True).encode
# The chain's canonical form: one JSON object, sorted keys, no spaces, UTF-8 (not \u escapes).
_encode_canonical = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False
).encode

# An event's chained content, in the order the store reads and writes it. The data is the
# stored JSON text itself (every byte of it counts, and a row whose data is not JSON at all
# still hashes); the idempotency key is content too: rewriting it changes what a replay does.
CHAIN_COLUMNS = (
    "seq",
    "event_id",
    "stream",
    "type",
    "data",
    "actor",
    "reason",
    "correlation_id",
    "recorded_at",
    "idempotency_key",
)
# The previous hash of the first event.
GENESIS_HASH = "0" * 64


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


def link_hash(prev_hash: str | None, content: Sequence[Any]) -> str:
    """The hash of one event: ``content`` is its values in ``CHAIN_COLUMNS`` order."""
    canonical = dict(zip(CHAIN_COLUMNS, content, strict=True))
    canonical["prev_hash"] = prev_hash
    # surrogatepass: a tampered row must hash (and fail the check), never crash it
    return hashlib.sha256(_encode_canonical(canonical).encode("utf-8", "surrogatepass")).hexdigest()


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
