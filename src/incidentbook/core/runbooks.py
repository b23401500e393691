"""Runbooks: Markdown files, front matter optional, linked to alerts in the order of DESIGN §6.

Runbooks come from the workspace's ``runbooks/**/*.md`` and from the shipped runbooks; a
workspace file wins over a shipped one with the same id. Runbooks written for other tools (no
front matter, a ``# KubePodCrashLooping`` title, Meaning / Impact / Diagnosis / Mitigation
sections) load, index and link like any other.

Linking order (``match_runbooks``):

1. ``alerts:`` matchers in front matter: an alert name, or label matchers such as
   ``check=balance_mismatch,currency=EUR`` (``=``, ``!=``, ``=~``, ``!~``);
2. the alert's ``runbook_url`` / ``runbook`` annotation, resolved to a local file by path, or by
   its last URL segment compared case-insensitively with file names, ids and slugs;
3. a runbook whose file name or first heading equals the alert name;
4. full-text suggestions from the search index, labelled as suggestions with their score.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from incidentbook.errors import UsageError
from incidentbook.frontmatter import split_lenient
from incidentbook.text import as_str_list, slugify

if TYPE_CHECKING:
    from incidentbook.settings import Settings
    from incidentbook.storage.db import Database

HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.M)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
DIAGNOSIS_WORDS = ("diagnos", "investigat", "triage", "check", "symptom", "verify", "meaning")
MITIGATION_WORDS = ("mitigat", "remediat", "resolution", "resolv", "fix", "recover", "respon")
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
    """The Markdown headings of a body (level, text), fenced code blocks skipped."""
    out: list[tuple[int, str]] = []
    in_fence = False
    for line in body.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        found = HEADING.match(line)
        if found:
            out.append((len(found.group(1)), found.group(2).strip()))
    return out


def section_text(body: str, names: tuple[str, ...]) -> str | None:
    """The text under the first heading whose title starts with one of ``names``."""
    lines = body.splitlines()
    start: int | None = None
    level = 0
    for index, line in enumerate(lines):
        found = HEADING.match(line)
        if not found:
            continue
        if start is not None and len(found.group(1)) <= level:
            return "\n".join(lines[start:index]).strip()
        title = found.group(2).strip().lower()
        if start is None and any(title.startswith(n) for n in names):
            start, level = index + 1, len(found.group(1))
    return "\n".join(lines[start:]).strip() if start is not None else None


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


def runbook_roots(settings: Settings) -> list[tuple[Path, str]]:
    """(directory, source) in precedence order: workspace first, then shipped."""
    from incidentbook.resources import shipped_dir

    roots: list[tuple[Path, str]] = [(settings.runbooks_dir, "workspace")]
    shipped = shipped_dir("runbooks")
    try:
        same = shipped.resolve() == settings.runbooks_dir.resolve()
    except OSError:
        same = False
    if not same:
        roots.append((shipped, "shipped"))
    return roots


def runbook_files(settings: Settings) -> list[tuple[Path, Path, str]]:
    """(file, root, source) for every runbook file, workspace first, sorted within a root."""
    out: list[tuple[Path, Path, str]] = []
    for root, source in runbook_roots(settings):
        if root.is_dir():
            out.extend((p, root, source) for p in sorted(root.rglob("*.md")) if p.is_file())
    return out


@dataclass
class RunbookSet:
    runbooks: list[Runbook]
    shadowed: list[Runbook]  # shipped runbooks replaced by a workspace one with the same id
    duplicates: list[tuple[Runbook, Runbook]]  # same id twice within one source

    def get(self, ref: str) -> Runbook | None:
        """By id, relative path, file name or slug (case-insensitive)."""
        key = ref.strip()
        lowered = key.lower().removesuffix(".md")
        for rb in self.runbooks:
            if rb.id == key or rb.rel_path == key or str(rb.path) == key:
                return rb
        for rb in self.runbooks:
            if lowered in (
                rb.id.lower(),
                rb.rel_path.lower().removesuffix(".md"),
                rb.slug,
                rb.path.stem.lower(),
            ):
                return rb
        return None


def load_runbooks(settings: Settings) -> RunbookSet:
    by_id: dict[str, Runbook] = {}
    shadowed: list[Runbook] = []
    duplicates: list[tuple[Runbook, Runbook]] = []
    for path, root, source in runbook_files(settings):
        try:
            rb = parse_runbook(path, root, source)
        except OSError:
            continue
        existing = by_id.get(rb.id)
        if existing is None:
            by_id[rb.id] = rb
        elif existing.source == rb.source:
            duplicates.append((existing, rb))
        else:
            shadowed.append(rb)
    runbooks = sorted(by_id.values(), key=lambda r: (r.id.lower(), r.rel_path))
    return RunbookSet(runbooks, shadowed, duplicates)


# -- matching ------------------------------------------------------------------------------


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


def _annotation_target(value: str) -> tuple[str, str]:
    """(path part, last segment without .md) of a runbook_url or runbook annotation."""
    parsed = urlparse(value.strip())
    path = unquote(parsed.path if parsed.scheme or parsed.netloc else value.strip())
    path = path.split("#", 1)[0].split("?", 1)[0]
    segment = path.rstrip("/").rsplit("/", 1)[-1]
    if not segment and parsed.fragment:
        segment = parsed.fragment
    return path, re.sub(r"\.(md|markdown|html?)$", "", segment, flags=re.I)


def _resolve_annotation(
    settings: Settings, runbooks: RunbookSet, value: str
) -> tuple[Runbook, str] | None:
    path_part, segment = _annotation_target(value)
    if not path_part and not segment:
        return None
    # By path: relative to the workspace, to a runbooks root, or absolute.
    candidates: list[Path] = []
    raw = Path(path_part)
    if raw.is_absolute():
        candidates.append(raw)
    else:
        candidates.append(settings.workspace / raw)
        candidates.extend(root / raw for root, _ in runbook_roots(settings))
        parts = raw.parts
        if parts and parts[0] == "runbooks":
            candidates.extend(
                root / Path(*parts[1:]) for root, _ in runbook_roots(settings) if len(parts) > 1
            )
    for candidate in candidates:
        try:
            resolved = candidate.resolve()
        except OSError:
            continue
        for rb in runbooks.runbooks:
            if rb.path.resolve() == resolved:
                return rb, f"annotation {value!r} is the file {rb.rel_path}"
    wanted = segment.lower()
    if not wanted:
        return None
    for rb in runbooks.runbooks:
        names = {rb.path.stem.lower(), rb.id.lower(), rb.slug, slugify(rb.title)}
        if wanted in names or slugify(wanted) in names:
            return rb, f"annotation {value!r}: last segment {segment!r} names {rb.rel_path}"
    return None


def match_runbooks(
    settings: Settings,
    alert_name: str,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    *,
    summary: str = "",
    suggestions: int = 3,
    runbooks: RunbookSet | None = None,
    db: Database | None = None,
) -> list[RunbookMatch]:
    """Every runbook linked to an alert, best first, each with the rule and reason that linked
    it. Suggestions (rule ``suggestion``) come last and only from the full-text index."""
    labels = dict(labels or {})
    annotations = dict(annotations or {})
    rbs = runbooks if runbooks is not None else load_runbooks(settings)
    found: list[RunbookMatch] = []
    seen: set[str] = set()

    def add(match: RunbookMatch) -> None:
        if match.runbook.id not in seen:
            seen.add(match.runbook.id)
            found.append(match)

    for rb in rbs.runbooks:
        for matcher in rb.alerts:
            if matcher.matches(alert_name, labels):
                add(RunbookMatch(rb, "alerts", f"front matter alerts: {matcher.raw!r} matches"))
                break
    for key in ("runbook_url", "runbook"):
        value = annotations.get(key)
        if value:
            resolved = _resolve_annotation(settings, rbs, value)
            if resolved is not None:
                add(RunbookMatch(resolved[0], "annotation", resolved[1]))
    wanted = norm_name(alert_name)
    if wanted:
        for rb in rbs.runbooks:
            if norm_name(rb.path.stem) == wanted:
                add(RunbookMatch(rb, "name", f"file name {rb.path.name} is the alert name"))
            elif rb.first_heading and norm_name(rb.first_heading) == wanted:
                add(
                    RunbookMatch(
                        rb, "name", f"first heading {rb.first_heading!r} is the alert name"
                    )
                )
    if suggestions > 0:
        for rb, score, why in _suggest(settings, rbs, alert_name, labels, summary, db, suggestions):
            add(RunbookMatch(rb, "suggestion", why, score))
    return found


def _suggest(
    settings: Settings,
    rbs: RunbookSet,
    alert_name: str,
    labels: dict[str, str],
    summary: str,
    db: Database | None,
    limit: int,
) -> list[tuple[Runbook, float, str]]:
    words = " ".join(
        [
            re.sub(r"([a-z])([A-Z])", r"\1 \2", alert_name).replace("_", " "),
            summary,
            *labels.values(),
        ]
    )
    terms = sorted({w.lower() for w in re.findall(r"[A-Za-z][A-Za-z0-9]{2,}", words)})
    if not terms:
        return []
    try:
        from incidentbook.core import search as search_mod

        hits = search_mod.search_terms(settings, terms, kind="runbook", limit=limit + 5, db=db)
    except Exception:  # suggestions are a bonus: a missing/locked index must not hide rules 1-3
        return []
    out: list[tuple[Runbook, float, str]] = []
    for hit in hits:
        rb = rbs.get(hit.doc_id)
        if rb is not None:
            out.append((rb, hit.score, f"suggestion: full-text relevance {hit.score:.2f}"))
        if len(out) >= limit:
            break
    return out


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


# -- lint ----------------------------------------------------------------------------------


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


def _has_section(heads: list[tuple[int, str]], words: tuple[str, ...]) -> bool:
    return any(any(w in title.lower() for w in words) for _lvl, title in heads)


def lint_runbooks(
    settings: Settings, db: Database | None = None, *, now: datetime | None = None
) -> list[LintFinding]:
    rbs = load_runbooks(settings)
    moment = now or settings.clock()
    max_age = int(settings.section("runbooks").get("review_max_age_days", 90))
    findings: list[LintFinding] = []
    for first, second in rbs.duplicates:
        findings.append(
            LintFinding(
                "duplicate_id",
                f"id {first.id!r} is also used by {first.rel_path}; this file is ignored",
                second.id,
                str(second.path),
            )
        )
    for rb in rbs.runbooks:
        where = str(rb.path)
        for problem in rb.problems:
            findings.append(LintFinding("front_matter", problem, rb.id, where))
        heads = sections(rb.body)
        if not _has_section(heads, DIAGNOSIS_WORDS):
            findings.append(
                LintFinding(
                    "missing_section",
                    "no Diagnosis section (or Investigation/Triage/Checks)",
                    rb.id,
                    where,
                )
            )
        if not _has_section(heads, MITIGATION_WORDS):
            findings.append(
                LintFinding(
                    "missing_section",
                    "no Mitigation section (or Remediation/Resolution/Fix)",
                    rb.id,
                    where,
                )
            )
        if rb.last_reviewed is not None:
            age = (moment.date() - rb.last_reviewed).days
            if age > max_age:
                findings.append(
                    LintFinding(
                        "stale",
                        f"last_reviewed {rb.last_reviewed.isoformat()} is {age} days ago "
                        f"(more than {max_age})",
                        rb.id,
                        where,
                    )
                )
        for target in LINK.findall(_strip_code(rb.body)):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("#"):
                continue
            local = unquote(target.split("#", 1)[0])
            if not local:
                continue
            if not (rb.path.parent / local).exists():
                findings.append(
                    LintFinding("broken_link", f"link to {target} does not resolve", rb.id, where)
                )
    if db is not None:
        findings.extend(_uncovered_alerts(settings, db, rbs, moment))
    return findings


def _strip_code(body: str) -> str:
    return re.sub(r"```.*?```|`[^`\n]*`", "", body, flags=re.S)


def _uncovered_alerts(
    settings: Settings, db: Database, rbs: RunbookSet, moment: datetime
) -> list[LintFinding]:
    import json

    from sqlmodel import col, select

    from incidentbook.clock import to_iso
    from incidentbook.storage.models import AlertRow

    since = to_iso((moment if moment.tzinfo else moment.replace(tzinfo=UTC)) - timedelta(days=30))
    with db.read() as session:
        rows = session.exec(
            select(AlertRow).where(col(AlertRow.last_seen) >= since).order_by(col(AlertRow.name))
        ).all()
    checked: dict[str, bool] = {}
    out: list[LintFinding] = []
    for row in rows:
        if checked.get(row.name):
            continue
        labels = json.loads(row.labels or "{}")
        annotations = json.loads(row.annotations or "{}")
        matches = match_runbooks(
            settings, row.name, labels, annotations, suggestions=0, runbooks=rbs
        )
        if matches:
            checked[row.name] = True
        elif row.name not in checked:
            checked[row.name] = False
    for name, covered in sorted(checked.items()):
        if not covered:
            out.append(
                LintFinding(
                    "uncovered_alert",
                    f"alert {name!r} fired in the last 30 days and no runbook covers it",
                    None,
                    None,
                )
            )
    return out
