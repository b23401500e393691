"""Linking an alert to runbooks, in the order of DESIGN §6 (``match_runbooks``):

1. ``alerts:`` matchers in front matter: an alert name, or label matchers such as
   ``check=balance_mismatch,currency=EUR`` (``=``, ``!=``, ``=~``, ``!~``);
2. the alert's ``runbook_url`` / ``runbook`` annotation, resolved to a local file by path, or by
   its last URL segment compared case-insensitively with file names, ids and slugs;
3. a runbook whose file name or first heading equals the alert name;
4. full-text suggestions, labelled as suggestions with their score, from the ``Suggester`` the
   caller passes (``incidentbook.core.search.suggest.runbook_suggester`` asks the search
   index); without one there are no suggestions.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import unquote, urlparse

from incidentbook.core.runbooks.loader import RunbookSet, load_runbooks, runbook_roots
from incidentbook.core.runbooks.model import Runbook, RunbookMatch, norm_name
from incidentbook.text import slugify

if TYPE_CHECKING:
    from incidentbook.settings import Settings


class Suggester(Protocol):
    """Runbooks for some words, best first: ``(runbook id, relevance score)``, at most
    ``limit`` of them. It may raise: suggestions are then left out."""

    def __call__(self, terms: list[str], limit: int) -> list[tuple[str, float]]: ...


def annotation_target(value: str) -> tuple[str, str]:
    """(path part, last segment without .md) of a runbook_url or runbook annotation."""
    parsed = urlparse(value.strip())
    path = unquote(parsed.path if parsed.scheme or parsed.netloc else value.strip())
    path = path.split("#", 1)[0].split("?", 1)[0]
    segment = path.rstrip("/").rsplit("/", 1)[-1]
    if not segment and parsed.fragment:
        segment = parsed.fragment
    return path, re.sub(r"\.(md|markdown|html?)$", "", segment, flags=re.I)


def resolve_annotation(
    settings: Settings, runbooks: RunbookSet, value: str
) -> tuple[Runbook, str] | None:
    """The runbook an annotation names, and why; None when it names none of them."""
    path_part, segment = annotation_target(value)
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
    suggester: Suggester | None = None,
) -> list[RunbookMatch]:
    """Every runbook linked to an alert, best first, each with the rule and reason that linked
    it. Suggestions (rule ``suggestion``) come last and only from ``suggester``."""
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
            resolved = resolve_annotation(settings, rbs, value)
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
    if suggestions > 0 and suggester is not None:
        for rb, score, why in _suggest(suggester, rbs, alert_name, labels, summary, suggestions):
            add(RunbookMatch(rb, "suggestion", why, score))
    return found


def suggestion_terms(alert_name: str, labels: dict[str, str], summary: str) -> list[str]:
    """The words a suggester is asked about: the alert name split at case changes and
    underscores, the summary and the label values; lower case, three letters or more."""
    words = " ".join(
        [
            re.sub(r"([a-z])([A-Z])", r"\1 \2", alert_name).replace("_", " "),
            summary,
            *labels.values(),
        ]
    )
    return sorted({w.lower() for w in re.findall(r"[A-Za-z][A-Za-z0-9]{2,}", words)})


def _suggest(
    suggester: Suggester,
    rbs: RunbookSet,
    alert_name: str,
    labels: dict[str, str],
    summary: str,
    limit: int,
) -> list[tuple[Runbook, float, str]]:
    terms = suggestion_terms(alert_name, labels, summary)
    if not terms:
        return []
    try:
        hits = suggester(terms, limit + 5)
    except Exception:  # suggestions are a bonus: a missing/locked index must not hide rules 1-3
        return []
    out: list[tuple[Runbook, float, str]] = []
    for doc_id, score in hits:
        rb = rbs.get(doc_id)
        if rb is not None:
            out.append((rb, score, f"suggestion: full-text relevance {score:.2f}"))
        if len(out) >= limit:
            break
    return out


def matched_runbook(
    settings: Settings,
    alert_name: str,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> str | None:
    """The id of the best runbook the rules (1-3, not suggestions) link to an alert, or None:
    the one ``alerts ack-group`` links to the incident, as ``runbooks match`` ranks them."""
    matches = match_runbooks(settings, alert_name, labels, annotations, suggestions=0)
    return matches[0].runbook.id if matches else None
