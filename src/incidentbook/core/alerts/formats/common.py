"""What every payload parser shares: ``PayloadError``, JSON decoding, severity words, and the
collector that gathers every field error of a payload."""

from __future__ import annotations

import json
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


def decode_json(body: bytes | str, where: str = "body") -> Any:
    """Decode a request body or a file line; a syntax error names the body and position."""
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        raise PayloadError([f"{where}: not UTF-8 text"]) from None
    except json.JSONDecodeError as exc:
        raise PayloadError([f"{where}: not valid JSON ({exc.msg} at position {exc.pos})"]) from None


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
