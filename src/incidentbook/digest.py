"""The one canonical serialisation that incidentbook hashes (fix plans, frozen evidence):
JSON with sorted keys, no spaces, non-ASCII as is; and its SHA-256 in hex."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(data: str | bytes) -> str:
    """SHA-256 of the bytes (text is hashed as its UTF-8)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()
