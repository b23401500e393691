"""Runbooks as values: the parsed file, its ``alerts:`` matchers, a match, a lint finding.

A runbook is a Markdown file, front matter optional (DESIGN §6): ``id, title, alerts: [names
or label matchers], severity, owner, tags, last_reviewed``. Runbooks written for other tools (no
front matter, a ``# KubePodCrashLooping`` title, Meaning / Impact / Diagnosis / Mitigation
sections) parse like any other. No database and no search here: ``loader`` finds the files,
``matching`` links alerts to them, ``lint`` checks them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from incidentbook.core.markdown import structure
from incidentbook.errors import UsageError
from incidentbook.frontmatter import split_lenient
from incidentbook.text import as_str_list, slugify

RULES = ("alerts", "annotation", "name", "suggestion")


def norm_name(text: str) -> str:
    """Alert and runbook names compare without case or separators: KubePodCrashLooping,
    kube-pod-crash-looping and kube_pod_crash_looping are the same name."""
    return re.sub(r"[^a-z0-9]+", "", text.lower())


def as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value.strip():
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            return None
    return None


def sections(body: str) -> list[tuple[int, str]]:
    """The Markdown headings of a body (level, text), as markdown-it reads them."""
    return [(h.level, h.title) for h in structure(body).headings]


def section_text(body: str, names: tuple[str, ...]) -> str | None:
    """The text under the first heading whose title starts with one of ``names``, up to the
    next heading of the same or a higher level."""
    lines = body.splitlines()
    heads = structure(body).headings
    for index, head in enumerate(heads):
        if not any(head.title.lower().startswith(n) for n in names):
            continue
        stop = next((h.start for h in heads[index + 1 :] if h.level <= head.level), len(lines))
        return "\n".join(lines[head.end : stop]).strip()
    return None


@dataclass(frozen=True)
class Matcher:
    """One ``alerts:`` entry: an alert name, or label matchers (all must hold)."""

    raw: str
    name: str | None = None
    labels: tuple[tuple[str, str, str], ...] = ()

    @classmethod
    def parse(cls, entry: Any) -> Matcher:
        if isinstance(entry, dict):
            parts = []
            for key, value in entry.items():
                if str(key) in ("name", "alert", "alertname"):
                    parts.append(f"alertname={value}")
                elif str(key) == "labels" and isinstance(value, dict):
                    parts.extend(f"{k}={v}" for k, v in value.items())
                else:
                    parts.append(f"{key}={value}")
            entry = ",".join(parts)
        raw = str(entry).strip()
        if not raw:
            raise ValueError("empty matcher")
        if not re.search(r"[=!]", raw):
            return cls(raw=raw, name=raw)
        labels: list[tuple[str, str, str]] = []
        for part in raw.strip("{}").split(","):
            part = part.strip()
            if not part:
                continue
            found = re.match(r"^([A-Za-z_][A-Za-z0-9_.-]*)\s*(=~|!~|!=|=)\s*(.*)$", part)
            if not found:
                raise ValueError(f"not a label matcher: {part!r}")
            value = found.group(3).strip().strip("\"'")
            op = found.group(2)
            if op in ("=~", "!~"):
                try:
                    re.compile(value)
                except re.error as exc:
                    raise ValueError(f"bad regular expression {value!r}: {exc}") from None
            labels.append((found.group(1), op, value))
        if not labels:
            raise ValueError(f"no label matchers in {raw!r}")
        return cls(raw=raw, labels=tuple(labels))

    def matches(self, alert_name: str, labels: dict[str, str]) -> bool:
        if self.name is not None:
            return norm_name(self.name) == norm_name(alert_name)
        values = {**labels, "alertname": alert_name}
        for key, op, expected in self.labels:
            actual = values.get(key, "")
            if key == "alertname" and op in ("=", "!="):
                same = norm_name(actual) == norm_name(expected)
            else:
                same = actual == expected
            if op == "=" and not same:
                return False
            if op == "!=" and same:
                return False
            if op == "=~" and not re.fullmatch(expected, actual):
                return False
            if op == "!~" and re.fullmatch(expected, actual):
                return False
        return True


@dataclass(frozen=True)
class Runbook:
    id: str
    title: str
    path: Path
    rel_path: str
    body: str
    source: str  # "workspace" | "shipped"
    alerts: tuple[Matcher, ...] = ()
    severity: str | None = None
    owner: str | None = None
    tags: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    last_reviewed: date | None = None
    first_heading: str | None = None
    front_matter: dict[str, Any] = field(default_factory=dict, compare=False)
    problems: tuple[str, ...] = ()

    @property
    def slug(self) -> str:
        return slugify(self.id)

    @property
    def text(self) -> str:
        """The Markdown without front matter, as shown to the operator."""
        return self.body

    def to_dict(self, *, with_body: bool = False) -> dict[str, Any]:
        value: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "path": str(self.path),
            "rel_path": self.rel_path,
            "source": self.source,
            "alerts": [m.raw for m in self.alerts],
            "severity": self.severity,
            "owner": self.owner,
            "tags": list(self.tags),
            "services": list(self.services),
            "last_reviewed": self.last_reviewed.isoformat() if self.last_reviewed else None,
        }
        if with_body:
            value["body"] = self.body
        return value


def parse_runbook(path: Path, root: Path, source: str) -> Runbook:
    text = path.read_text(encoding="utf-8", errors="replace")
    doc, error = split_lenient(text)
    meta, body = doc.meta, doc.body
    problems: list[str] = [error] if error else []
    heads = sections(body)
    first_heading = next((t for lvl, t in heads if lvl == 1), heads[0][1] if heads else None)
    matchers: list[Matcher] = []
    raw_alerts = meta.get("alerts")
    for entry in raw_alerts if isinstance(raw_alerts, list) else as_str_list(raw_alerts):
        try:
            matchers.append(Matcher.parse(entry))
        except ValueError as exc:
            problems.append(f"alerts: {exc}")
    rel = path.relative_to(root).as_posix()
    runbook_id = str(meta.get("id") or path.stem).strip() or path.stem
    if meta.get("last_reviewed") is not None and as_date(meta.get("last_reviewed")) is None:
        problems.append(f"last_reviewed is not a date: {meta.get('last_reviewed')!r}")
    return Runbook(
        id=runbook_id,
        title=str(meta.get("title") or first_heading or path.stem).strip(),
        path=path,
        rel_path=rel,
        body=body,
        source=source,
        alerts=tuple(matchers),
        severity=str(meta["severity"]).lower() if meta.get("severity") else None,
        owner=str(meta["owner"]) if meta.get("owner") else None,
        tags=tuple(t.lower() for t in as_str_list(meta.get("tags"))),
        services=tuple(s.lower() for s in as_str_list(meta.get("services"))),
        last_reviewed=as_date(meta.get("last_reviewed")),
        first_heading=first_heading,
        front_matter=meta,
        problems=tuple(problems),
    )


@dataclass(frozen=True)
class RunbookMatch:
    runbook: Runbook
    rule: str  # one of RULES
    reason: str
    score: float | None = None

    @property
    def suggestion(self) -> bool:
        return self.rule == "suggestion"

    def to_dict(self) -> dict[str, Any]:
        return {
            "runbook": self.runbook.id,
            "title": self.runbook.title,
            "path": str(self.runbook.path),
            "rule": self.rule,
            "reason": self.reason,
            "suggestion": self.suggestion,
            "score": round(self.score, 3) if self.score is not None else None,
        }


@dataclass(frozen=True)
class LintFinding:
    code: str
    message: str
    runbook: str | None = None
    path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "runbook": self.runbook,
            "path": self.path,
            "message": self.message,
        }


def parse_pairs(text: str | None, what: str) -> dict[str, str]:
    """``k=v,k2=v2`` from the command line; a value may contain '=' but not ','."""
    out: dict[str, str] = {}
    if not text:
        return out
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--{what}: expected k=v pairs separated by commas, got {part!r}")
        out[key.strip()] = value.strip()
    return out
