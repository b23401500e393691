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
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr
).encode
_string = json.encoder.encode_basestring  # a JSON string as that encoder writes one

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
    """The hash of one event: ``content`` is its values in ``CHAIN_COLUMNS`` order.

    The canonical text is the JSON object of ``CHAIN_COLUMNS`` and ``prev_hash``, keys sorted,
    no spaces, non-ASCII as UTF-8: what ``json`` writes with ``sort_keys=True,
    separators=(",", ":"), ensure_ascii=False``. Rows as the store writes them (text, an int
    seq, nulls) are spelt out below with json's own string encoder, at half the cost of a
    dict through the encoder (appends pay for it, the alerts' batches most); any other value
    (a tampered row) goes through the encoder itself."""
    seq, event_id, stream, type_, data, actor, reason, correlation_id, recorded_at, key = content
    try:
        if type(seq) is not int:
            raise TypeError(seq)
        # _string raises TypeError for anything but a str
        text = (
            f'{{"actor":{_string(actor)},"correlation_id":{_string(correlation_id)},'
            f'"data":{_string(data)},"event_id":{_string(event_id)},'
            f'"idempotency_key":{"null" if key is None else _string(key)},'
            f'"prev_hash":{"null" if prev_hash is None else _string(prev_hash)},'
            f'"reason":{"null" if reason is None else _string(reason)},'
            f'"recorded_at":{_string(recorded_at)},'
            f'"seq":{seq},"stream":{_string(stream)},"type":{_string(type_)}}}'
        )
    except TypeError:
        canonical = dict(zip(CHAIN_COLUMNS, content, strict=True))
        canonical["prev_hash"] = prev_hash
        text = _encode_canonical(canonical)
    # surrogatepass: a tampered row must hash (and fail the check), never crash it
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


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
