"""``postmortem lint``: structure, action items and blameless language, with line numbers.

Blameless rules look for blame, not for failure: "the webhook consumer failed to deduplicate
retries" is a description of a system and is fine; "Ana broke the deploy", "the on-call
engineer should have noticed", "human error" and "careless" are flagged with a reframing.
People are recognised as ``@handles``, ``user:`` actors, pronouns, roles (engineer, operator,
on-call …), the document's authors and action-item owners, and common first names; a
capitalised product or vendor name ("Postgres failed to …") is not a person.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from incidentbook.core.documents import actions as act
from incidentbook.core.documents.risks import parse_risks
from incidentbook.frontmatter import Document, split

ERROR = "error"
WARNING = "warning"

POSTMORTEM_SECTIONS: list[tuple[str, tuple[str, ...]]] = [
    ("Summary", ("summary",)),
    ("Impact", ("impact",)),
    ("Detection", ("detection",)),
    ("Timeline", ("timeline",)),
    ("Root cause and contributing factors", ("root cause",)),
    ("What went well", ("went well",)),
    ("What went poorly", ("went poorly", "went wrong", "went badly")),
    ("Where we got lucky", ("lucky",)),
    ("Action items", ("action item",)),
    ("Lessons", ("lesson",)),
]
PREMORTEM_SECTIONS: list[tuple[str, tuple[str, ...]]] = [
    ("The launch", ("launch",)),
    ("Failure modes", ("failure mode",)),
    ("What has bitten us before", ("bitten",)),
    ("Go/no-go checklist", ("go/no-go", "go / no-go", "go-no-go", "go no-go")),
]

BLAME_VERBS = (
    r"caused|causes|broke|breaks|broken|failed\s+to|fails\s+to|forgot|neglected|ignored|"
    r"missed|overlooked|messed\s+up|screwed\s+up|didn't|did\s+not|was\s+responsible|"
    r"were\s+responsible|is\s+responsible|pushed\s+a\s+bad|deployed\s+a\s+bad|"
    r"made\s+a\s+mistake|made\s+an\s+error|introduced\s+the\s+bug|wrote\s+the\s+bug"
)
ROLES = (
    r"engineers?|developers?|devs?|operators?|on-?call(?:\s+engineer)?|on\s+call(?:\s+engineer)?|"
    r"admins?|administrators?|sres?|interns?|contractors?|someone|somebody|team\s+member|"
    r"reviewers?|he|she|him|her|i|you"
)
_FIRST_NAMES = """
    aaron adam alex alice amir ana andrea andrew anna ben bob carlos carol charlie chen chris
    daniel dave david diego elena emily emma eric eva fatima frank george hana hannah
    ivan james jane jason jen jenny jessica jim joe john jon jose josh julia kate kevin
    kim laura leo lina lisa luca lucas maria marta matt mei michael mike mikkel
    mohammed nina noah olga omar paul pedro peter priya raj rachel ravi robert sam sara
    sarah sofia steve tom tim wei yuki zoe
"""
COMMON_FIRST_NAMES = frozenset(_FIRST_NAMES.split())

WORD_RULES: list[tuple[str, str, str, str]] = [
    (
        "hindsight",
        r"\b(?:should(?:n't| not)?|ought to)\s+have\b|\bshould(?:n't)?'ve\b",
        "hindsight: 'should have' judges a past decision with knowledge nobody had then",
        "Say what made the action make sense at the time and what would make the right one "
        "easy, e.g. 'The runbook did not mention X, so Y looked safe.'",
    ),
    (
        "human-error",
        r"\bhuman[\s-]+errors?\b|\boperator\s+errors?\b|\buser\s+errors?\b",
        "'human error' ends the inquiry where it should start",
        "Ask what let the mistake happen, e.g. 'The tool allowed X without a confirmation step.'",
    ),
    (
        "character",
        r"\b(?:careless(?:ly|ness)?|negligen(?:t|ce|tly)|sloppy|sloppiness|incompeten(?:t|ce)|"
        r"lazy|laziness|reckless(?:ly|ness)?|stupid|dumb|idiot(?:ic)?|inattentive|irresponsible)\b",
        "judges a person's character instead of describing conditions",
        "Describe the conditions instead (time pressure, a missing safeguard, an unclear signal).",
    ),
    (
        "blame",
        r"\bblam(?:e|ed|es|ing)\b|\bat fault\b|\b(?:his|her|their|my|your)\s+fault\b|"
        r"\bfault of\b|\b\w+'s (?:fault|mistake|error)\b|\bdropped the ball\b|"
        r"\bscrewed up\b|\bmessed up\b",
        "assigns fault to someone",
        "Describe what happened and which safeguard was missing, not whose fault it was.",
    ),
]

PERSON_SUGGESTION = (
    "Name the action and its conditions, not the person, e.g. 'A deploy at 14:02 removed the "
    "check; nothing in the pipeline flagged it.'"
)


@dataclass
class Finding:
    line: int
    column: int
    severity: str
    rule: str
    message: str
    suggestion: str = ""
    excerpt: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def format(self, path: str) -> str:
        text = f"{path}:{self.line}:{self.column}: {self.severity}: {self.message} [{self.rule}]"
        return text + (f"\n    suggestion: {self.suggestion}" if self.suggestion else "")


def _people(doc: Document, items: list[act.ActionItem]) -> set[str]:
    names = {n.lower() for n in COMMON_FIRST_NAMES}
    for author in doc.str_list("authors"):
        names.update(_name_parts(author))
    for item in items:
        if item.owner:
            names.update(_name_parts(item.owner))
    return {n for n in names if len(n) >= 2}


def _name_parts(raw: str) -> set[str]:
    cleaned = raw.strip().lstrip("@")
    cleaned = cleaned.split(":", 1)[1] if ":" in cleaned else cleaned
    parts = {p.lower() for p in re.split(r"[\s._<>]+", cleaned) if p and "@" not in p}
    return {p for p in parts if p.isalpha()}


def _person_regex(names: set[str]) -> re.Pattern[str]:
    alternatives = [r"@[\w.-]+", r"user:[\w.-]+", rf"(?:the\s+)?(?:{ROLES})"]
    if names:
        alternatives.append("|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)))
    person = "|".join(alternatives)
    return re.compile(
        rf"(?<![\w@:-])(?P<who>{person})(?:'s)?(?:\s+\w+){{0,2}}?\s+(?P<verb>{BLAME_VERBS})\b",
        re.IGNORECASE,
    )


def _strip_code(line: str) -> str:
    """Inline code spans become spaces so columns stay right and code is not linted."""
    return re.sub(r"`[^`]*`", lambda m: " " * len(m.group(0)), line)


def blame_findings(doc: Document) -> list[Finding]:
    items = act.parse_items(doc.body, doc.body_offset)
    person_re = _person_regex(_people(doc, items))
    word_res = [
        (rule, re.compile(rx, re.IGNORECASE), msg, sug) for rule, rx, msg, sug in WORD_RULES
    ]
    findings: list[Finding] = []
    in_fence = False
    in_comment = False
    for index, raw in enumerate(doc.body.split("\n")):
        number = index + doc.body_offset
        stripped = raw.strip()
        if stripped.startswith(("```", "~~~")):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        line = _strip_code(raw)
        # Template guidance lives in HTML comments; they are not part of the document's prose.
        line, in_comment = act.strip_comments(line, in_comment)
        if not line.strip():
            continue
        for rule, regex, message, suggestion in word_res:
            for match in regex.finditer(line):
                findings.append(
                    Finding(
                        number,
                        match.start() + 1,
                        ERROR,
                        rule,
                        f"'{match.group(0)}': {message}",
                        suggestion,
                        stripped,
                    )
                )
        for match in person_re.finditer(line):
            findings.append(
                Finding(
                    number,
                    match.start() + 1,
                    ERROR,
                    "person-as-cause",
                    f"'{' '.join(match.group(0).split())}': names a person as the cause",
                    PERSON_SUGGESTION,
                    stripped,
                )
            )
    findings.sort(key=lambda f: (f.line, f.column))
    return findings


def _meaningful(lines: list[tuple[int, str]]) -> bool:
    in_comment = False
    for _number, line in lines:
        text, in_comment = act.strip_comments(line, in_comment)
        if text.strip():
            return True
    return False


def structure_findings(doc: Document) -> list[Finding]:
    required = POSTMORTEM_SECTIONS if doc.kind != "premortem" else PREMORTEM_SECTIONS
    findings: list[Finding] = []
    all_sections = act.sections(doc.body, doc.body_offset)
    for label, keys in required:
        index = next(
            (
                i
                for i, s in enumerate(all_sections)
                # The document's own title (level 1) names the subject, not a section.
                if s.level >= 2 and any(k in s.title.lower() for k in keys)
            ),
            None,
        )
        if index is None:
            findings.append(
                Finding(doc.body_offset, 1, ERROR, "missing-section", f"missing section '{label}'")
            )
            continue
        section = all_sections[index]
        content = list(section.body)
        for child in all_sections[index + 1 :]:
            if child.level <= section.level:
                break
            content.extend(child.body)
        if not _meaningful(content):
            findings.append(
                Finding(
                    section.line,
                    1,
                    ERROR,
                    "empty-section",
                    f"section '{section.title}' is empty",
                    "Write it, or say in one line why it does not apply.",
                )
            )
    if doc.kind == "premortem":
        findings.extend(risk_findings(doc))
    if not doc.id:
        findings.append(Finding(1, 1, WARNING, "front-matter", "front matter has no 'id'"))
    if doc.kind not in ("postmortem", "premortem"):
        findings.append(
            Finding(
                1, 1, WARNING, "front-matter", "front matter 'kind' is not postmortem|premortem"
            )
        )
    return findings


def risk_findings(doc: Document) -> list[Finding]:
    """Each pre-mortem risk should say how likely, how bad, how we would see it, what we do."""
    findings: list[Finding] = []
    seen: set[int] = set()
    for risk in parse_risks(doc.body, doc.body_offset):
        if risk.number in seen:
            findings.append(
                Finding(risk.line, 1, ERROR, "risk", f"risk {risk.number} is numbered twice")
            )
        seen.add(risk.number)
        missing = [
            name
            for name in ("likelihood", "impact", "detection", "response")
            if not getattr(risk, name)
        ]
        if missing:
            findings.append(
                Finding(
                    risk.line,
                    1,
                    WARNING,
                    "risk",
                    f"risk {risk.number} has no {', '.join(missing)}",
                    "Add '- Likelihood:', '- Impact:', '- Detection:' and '- Response:' lines.",
                )
            )
    return findings


def action_findings(doc: Document) -> list[Finding]:
    findings: list[Finding] = []
    for number, line in act.malformed_checkboxes(doc.body, doc.body_offset):
        findings.append(
            Finding(
                number,
                1,
                ERROR,
                "action-item",
                "malformed action item",
                "Write it as '- [ ] prevent: what to do (owner, YYYY-MM-DD)'.",
                line.strip(),
            )
        )
    for item in act.parse_items(doc.body, doc.body_offset):
        if item.dropped:
            continue
        problems: list[str] = []
        if not item.owner:
            problems.append("no owner")
        if not item.due:
            problems.append("no due date")
        elif not act.is_date(item.due):
            problems.append(f"due date {item.due!r} is not YYYY-MM-DD")
        if problems:
            findings.append(
                Finding(
                    item.line,
                    1,
                    ERROR,
                    "action-item",
                    f"action item: {', '.join(problems)}",
                    "End it with '(owner, YYYY-MM-DD)'.",
                    item.text,
                )
            )
        if item.type is None:
            findings.append(
                Finding(
                    item.line,
                    1,
                    WARNING,
                    "action-type",
                    "action item has no type",
                    "Start it with 'mitigate:', 'prevent:' or 'process:'.",
                    item.text,
                )
            )
    return findings


def lint_document(doc: Document, *, blame_only: bool = False) -> list[Finding]:
    """All findings; ``blame_only`` checks just the language (for other Markdown, such as a
    runbook opened in the editor)."""
    findings = blame_findings(doc)
    if not blame_only:
        findings += structure_findings(doc) + action_findings(doc)
    findings.sort(key=lambda f: (f.line, f.column, f.rule))
    return findings


def lint_text(text: str, *, source: str = "document", blame_only: bool = False) -> list[Finding]:
    return lint_document(split(text, source=source), blame_only=blame_only)


def has_errors(findings: list[Finding]) -> bool:
    return any(f.severity == ERROR for f in findings)
