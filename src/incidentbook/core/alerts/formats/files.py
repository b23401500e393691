"""JSON lines from files and pipes: one native alert, Alertmanager payload (or v2 API listing)
or PagerDuty event per line, each with a receipt (the hash of the line), and the report of a
file's ingest. Parsing only: ``AlertService.ingest_lines`` stores what this parses."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from incidentbook.core.alerts.formats.alertmanager import (
    AlertmanagerPayload,
    parse_alertmanager,
    parse_alertmanager_api_alerts,
)
from incidentbook.core.alerts.formats.common import PayloadError, decode_json
from incidentbook.core.alerts.formats.native import parse_native
from incidentbook.core.alerts.formats.pagerduty import PagerDutyEvent, parse_pagerduty
from incidentbook.core.alerts.model import IngestResult, NativeAlert
from incidentbook.errors import UsageError

FORMATS = ("native", "alertmanager", "pagerduty")
ON_ERROR = ("skip", "abort")
MAX_LISTED_PROBLEMS = 20

LineValue = NativeAlert | AlertmanagerPayload | PagerDutyEvent
OpenLines = Callable[[], Iterable[str]]


def line_receipt(fmt: str, line: str) -> str:
    """The receipt key of one input line: re-ingesting the same line is a no-op."""
    digest = hashlib.sha256(line.strip().encode("utf-8")).hexdigest()[:40]
    return f"line:{fmt}:{digest}"


@dataclass
class LineError:
    line: int
    errors: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "errors": self.errors}

    def __str__(self) -> str:
        return f"line {self.line}: {'; '.join(self.errors)}"


@dataclass
class FileIngestReport:
    lines: int = 0
    skipped: list[LineError] = field(default_factory=list)
    result: IngestResult | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "skipped": [e.to_dict() for e in self.skipped],
            **(self.result.to_dict() if self.result is not None else {}),
        }


@dataclass(frozen=True)
class ParsedLine:
    """One non-blank input line: its value, or (``error``) why it has none."""

    number: int
    text: str
    value: LineValue | None
    error: LineError | None


def check_options(fmt: str, on_error: str) -> None:
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; choose {', '.join(FORMATS)}")
    if on_error not in ON_ERROR:
        raise UsageError(f"--on-error is skip or abort, not {on_error!r}")


def parse_line(fmt: str, text: str, now: str) -> LineValue:
    raw = decode_json(text, "json")
    if fmt == "native":
        return parse_native(raw)
    if fmt == "alertmanager":
        if isinstance(raw, list):
            return parse_alertmanager_api_alerts(raw, now)
        return parse_alertmanager(raw)
    # A trigger without dedup_key gets a key derived from the line, so a re-run finds it again.
    digest = hashlib.sha256(text.strip().encode("utf-8")).hexdigest()[:32]
    return parse_pagerduty(raw, make_dedup_key=lambda: digest, now=now)


def parse_lines(open_lines: OpenLines, fmt: str, now: str) -> Iterator[ParsedLine]:
    """Every non-blank line of ``open_lines()``, numbered from 1, parsed."""
    for number, text in enumerate(open_lines(), start=1):
        if not text.strip():
            continue
        try:
            yield ParsedLine(number, text, parse_line(fmt, text, now), None)
        except PayloadError as exc:
            yield ParsedLine(number, text, None, LineError(number, exc.errors))


def check_lines(open_lines: OpenLines, fmt: str, now: str) -> None:
    """Validate every line first (``--on-error abort``): ``PayloadError`` lists the invalid
    ones with their line numbers (the first twenty, and how many more)."""
    problems = [p.error for p in parse_lines(open_lines, fmt, now) if p.error is not None]
    if problems:
        raise PayloadError(
            [str(p) for p in problems[:MAX_LISTED_PROBLEMS]]
            + _more(len(problems) - MAX_LISTED_PROBLEMS)
        )


def _more(count: int) -> list[str]:
    return [f"… and {count} more invalid lines"] if count > 0 else []
