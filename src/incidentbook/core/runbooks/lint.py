"""``incidentbook runbooks lint``: missing Diagnosis / Mitigation sections, stale
``last_reviewed``, broken local links, front-matter problems, duplicate ids, and alerts that
fired in the last 30 days with no runbook covering them (rules 1-3 of ``matching``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import unquote

from incidentbook.clock import to_iso
from incidentbook.core.runbooks.loader import RunbookSet, load_runbooks
from incidentbook.core.runbooks.matching import match_runbooks
from incidentbook.core.runbooks.model import LintFinding, sections
from incidentbook.core.runbooks.store import alerts_seen_since

if TYPE_CHECKING:
    from incidentbook.settings import Settings
    from incidentbook.storage.db import Database

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
DIAGNOSIS_WORDS = ("diagnos", "investigat", "triage", "check", "symptom", "verify", "meaning")
MITIGATION_WORDS = ("mitigat", "remediat", "resolution", "resolv", "fix", "recover", "respon")
UNCOVERED_WINDOW = timedelta(days=30)


def has_section(heads: list[tuple[int, str]], words: tuple[str, ...]) -> bool:
    return any(any(w in title.lower() for w in words) for _lvl, title in heads)


def strip_code(body: str) -> str:
    return re.sub(r"```.*?```|`[^`\n]*`", "", body, flags=re.S)


def lint_runbooks(
    settings: Settings, db: Database | None = None, *, now: datetime | None = None
) -> list[LintFinding]:
    rbs = load_runbooks(settings)
    moment = now or settings.clock()
    max_age = settings.values.runbooks.review_max_age_days
    findings: list[LintFinding] = []
    for path in rbs.outside:
        findings.append(
            LintFinding(
                "outside_workspace",
                "a symlink that leads out of the workspace: not read, not indexed",
                None,
                str(path),
            )
        )
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
        if not has_section(heads, DIAGNOSIS_WORDS):
            findings.append(
                LintFinding(
                    "missing_section",
                    "no Diagnosis section (or Investigation/Triage/Checks)",
                    rb.id,
                    where,
                )
            )
        if not has_section(heads, MITIGATION_WORDS):
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
        for target in LINK.findall(strip_code(rb.body)):
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
        findings.extend(uncovered_alerts(settings, db, rbs, moment))
    return findings


def uncovered_alerts(
    settings: Settings, db: Database, rbs: RunbookSet, moment: datetime
) -> list[LintFinding]:
    """Alerts seen in the last 30 days that no runbook covers by rules 1-3 (suggestions do not
    count as coverage)."""
    since = to_iso((moment if moment.tzinfo else moment.replace(tzinfo=UTC)) - UNCOVERED_WINDOW)
    checked: dict[str, bool] = {}
    out: list[LintFinding] = []
    for alert in alerts_seen_since(db, since):
        if checked.get(alert.name):
            continue
        matches = match_runbooks(
            settings, alert.name, alert.labels, alert.annotations, suggestions=0, runbooks=rbs
        )
        if matches:
            checked[alert.name] = True
        elif alert.name not in checked:
            checked[alert.name] = False
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
