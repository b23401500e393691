"""What every payload parser shares: ``PayloadError``, JSON decoding, severity words, and the
collector that gathers every field error of a payload."""

from __future__ import annotations

import json
import math
from typing import Any

from incidentbook.clock import parse_iso, to_iso
from incidentbook.errors import UsageError

DEDUP_KEY_MAX = 255

# Prometheus rules use many severity words; map them onto the four incidentbook knows.
SEVERITY_WORDS: dict[str, str] = {
    "critical": "critical",
    "crit": "critical",
    "page": "critical",
    "emergency": "critical",
    "fatal": "critical",
    "high": "critical",
    "p1": "critical",
    "error": "error",
    "err": "error",
    "major": "error",
    "p2": "error",
    "warning": "warning",
    "warn": "warning",
    "minor": "warning",
    "medium": "warning",
    "p3": "warning",
    "info": "info",
    "informational": "info",
    "low": "info",
    "none": "info",
    "notice": "info",
    "p4": "info",
    "p5": "info",
}


class PayloadError(UsageError):
    """An invalid payload: every problem found, each naming its field."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors or ["invalid payload"]
        super().__init__("; ".join(self.errors))


# Bounds on what a sender may send, so that one poison value is a 400 naming its field, not a
# crash deep in the store: nesting depth, and integers as SQLite (and most JSON readers) hold.
MAX_DEPTH = 32
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
_INT_DIGITS_MAX = 20  # longer digit strings are refused before int() sees them


class _HugeInt(str):
    """An integer literal too long to convert; reported, with its field, by ``_check``."""


def _parse_int(digits: str) -> int | _HugeInt:
    return _HugeInt(digits) if len(digits.lstrip("-")) > _INT_DIGITS_MAX else int(digits)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def decode_json(body: bytes | str, where: str = "body") -> Any:
    """Decode a request body or a file line. A syntax error names the body and position; a
    value no store can hold (nesting deeper than ``MAX_DEPTH``, an integer outside 64 bits, NaN
    or Infinity, a string with a lone surrogate such as ``"\\ud800"``) is a ``PayloadError``
    naming its field (``alerts[0].labels.team``)."""
    try:
        raw = json.loads(body, parse_int=_parse_int, parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise PayloadError([f"{where}: not UTF-8 text"]) from None
    except json.JSONDecodeError as exc:
        raise PayloadError([f"{where}: not valid JSON ({exc.msg} at position {exc.pos})"]) from None
    except RecursionError:
        raise PayloadError([f"{where}: nested deeper than {MAX_DEPTH} levels"]) from None
    except ValueError as exc:  # NaN, Infinity
        raise PayloadError([f"{where}: {exc}"]) from None
    errors: list[str] = []
    _check(raw, "", 0, errors, where)
    if errors:
        raise PayloadError(errors[:20])
    return raw


def top_level_text(body: bytes | str, key: str) -> str | None:
    """The string at ``key`` of a JSON object body, read leniently (no checks beyond syntax)
    and never raising: how a PagerDuty sender's ``routing_key`` is read to authenticate it
    before the body is validated."""
    try:
        raw = json.loads(body, parse_int=_parse_int, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError too
        return None
    value = raw.get(key) if isinstance(raw, dict) else None
    return value if isinstance(value, str) and not isinstance(value, _HugeInt) else None


def _field(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _check(value: Any, path: str, depth: int, errors: list[str], root: str) -> None:
    """Walk a decoded value, collecting what no store can hold (``MAX_DEPTH`` bounds the
    recursion); ``root`` names the whole value."""
    where = path or root
    if isinstance(value, _HugeInt):
        errors.append(f"{where}: integer of {len(value.lstrip('-'))} digits is out of range")
    elif isinstance(value, str):
        if not _is_text(value):
            errors.append(f"{where}: not valid Unicode text (a lone surrogate)")
    elif isinstance(value, bool):
        pass
    elif isinstance(value, int):
        if not INT_MIN <= value <= INT_MAX:
            errors.append(f"{where}: integer {value} is out of range (64 bits)")
    elif isinstance(value, float):
        if not math.isfinite(value):
            errors.append(f"{where}: number is out of range")
    elif isinstance(value, dict | list):
        if depth >= MAX_DEPTH:
            errors.append(f"{where}: nested deeper than {MAX_DEPTH} levels")
            return
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(key, str) and not _is_text(key):
                errors.append(f"{where}: a key is not valid Unicode text (a lone surrogate)")
                continue
            _check(item, _field(path, key), depth + 1, errors, root)


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def map_severity(value: str | None) -> str:
    if not value:
        return "warning"
    return SEVERITY_WORDS.get(value.strip().lower(), "warning")


class Collector:
    """Collects field errors so one response lists every problem, not just the first."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def fail(self, where: str, message: str) -> None:
        self.errors.append(f"{where}: {message}")

    def text(
        self, obj: dict[str, Any], key: str, where: str, *, required: bool = True
    ) -> str | None:
        value = obj.get(key)
        if value is None or value == "":
            if required:
                self.fail(where, "is required")
            return None
        if not isinstance(value, str):
            self.fail(where, f"must be a string, not {kind_of(value)}")
            return None
        return value

    def mapping(self, obj: dict[str, Any], key: str, where: str) -> dict[str, str]:
        value = obj.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(where, f"must be an object, not {kind_of(value)}")
            return {}
        out: dict[str, str] = {}
        for k, v in value.items():
            if isinstance(v, str):
                out[str(k)] = v
            elif v is None or isinstance(v, bool | int | float):
                out[str(k)] = "" if v is None else json.dumps(v)
            else:
                out[str(k)] = json.dumps(v, sort_keys=True)
        return out

    def time(self, value: str | None, where: str) -> str | None:
        if value is None:
            return None
        try:
            return to_iso(parse_iso(value))
        except ValueError:
            self.fail(where, f"is not an RFC 3339 time: {value!r}")
            return None


def kind_of(value: Any) -> str:
    """A JSON value's kind, for messages ("an object", "a number", "null")."""
    return {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }.get(type(value), "null" if value is None else type(value).__name__)
