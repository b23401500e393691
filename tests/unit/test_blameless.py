"""Blameless lint: true positives with line numbers and reframings, and no false positives."""

from __future__ import annotations

from pathlib import Path

import pytest

from incidentbook.core.documents.lint import blame_findings, lint_text
from incidentbook.frontmatter import split
from incidentbook.resources import shipped_dir

FRONT = "---\nid: PM-0001\nkind: postmortem\nauthors: [ana]\n---\n"


def _blame(body: str) -> list[tuple[int, str]]:
    return [(f.line, f.rule) for f in blame_findings(split(FRONT + body))]


@pytest.mark.parametrize(
    ("sentence", "rule"),
    [
        ("Bob broke the deploy on Friday.", "person-as-cause"),
        ("Ana caused the outage by restarting the job.", "person-as-cause"),
        ("@ravi failed to rotate the key.", "person-as-cause"),
        ("user:kim forgot to enable the flag.", "person-as-cause"),
        ("The on-call engineer failed to notice the alert.", "person-as-cause"),
        ("He ignored the warning in the dashboard.", "person-as-cause"),
        ("Ana's deploy caused the duplicates.", "person-as-cause"),
        ("The reviewer should have caught the missing check.", "hindsight"),
        ("We should have known better.", "hindsight"),
        ("This was human error.", "human-error"),
        ("A careless change to the config.", "character"),
        ("The operator was negligent with the rollout.", "character"),
        ("It was sloppy work.", "character"),
        ("The whole team is to blame.", "blame"),
        ("It was Bob's fault.", "blame"),
        ("It was the intern's mistake.", "blame"),
        ("We should've rolled back.", "hindsight"),
    ],
)
def test_blame_is_flagged(sentence: str, rule: str) -> None:
    found = _blame(f"# Title\n\n{sentence}\n")
    assert (8, rule) in found, found


@pytest.mark.parametrize(
    "sentence",
    [
        "The webhook service failed to deduplicate retried deliveries.",
        "The payments service failed to respond within 30 seconds.",
        "Postgres failed to accept connections after the failover.",
        "The retry path caused every timeout to apply the balance change twice.",
        "Processor latency broke the handler's assumption that writes finish in a second.",
        "The deploy at 14:05 removed the check; nothing in the pipeline flagged it.",
        "It could have been worse: the processor keeps webhooks for 72 hours.",
        "We added fault injection and blameless reviews to the checklist.",
        "Run `git blame` to see when the line changed.",
        "The reconciler missed nothing: every mismatch was found.",
    ],
)
def test_neutral_sentences_are_not_blame(sentence: str) -> None:
    assert _blame(f"# Title\n\n{sentence}\n") == []


def test_line_numbers_count_the_front_matter_and_columns_point_at_the_phrase() -> None:
    text = FRONT + "# T\n\nAll fine here.\nThen Bob broke it.\n"
    (finding,) = blame_findings(split(text))
    assert finding.line == 9
    assert text.split("\n")[finding.line - 1] == "Then Bob broke it."
    assert finding.column == len("Then ") + 1
    assert finding.suggestion.startswith("Name the action and its conditions")


def test_each_rule_suggests_a_reframing() -> None:
    body = "# T\n\nWe should have paged.\nHuman error.\nCareless.\nBob's fault.\nBob broke it.\n"
    findings = blame_findings(split(FRONT + body))
    assert {f.rule for f in findings} == {
        "hindsight",
        "human-error",
        "character",
        "blame",
        "person-as-cause",
    }
    assert all(f.suggestion for f in findings)


def test_code_and_template_comments_are_not_linted() -> None:
    body = (
        "# T\n\n<!-- Do not write 'Bob broke it' or 'human error'. -->\n"
        "```\nbob broke the build  # a log line\n```\n"
        "<!-- a comment\nthat says careless\n-->\n"
    )
    assert _blame(body) == []


def test_authors_and_owners_are_recognised_as_people() -> None:
    text = (
        "---\nid: PM-1\nkind: postmortem\nauthors: [Zanzibar Quux]\n---\n# T\n\n"
        "Zanzibar missed the alert.\n\n## Action items\n\n"
        "- [ ] prevent: Add a check (Ondine, 2026-12-01)\n\nOndine forgot the flag.\n"
    )
    rules = [(f.line, f.rule) for f in blame_findings(split(text))]
    assert (8, "person-as-cause") in rules
    assert (14, "person-as-cause") in rules


def test_structure_and_action_items_are_checked() -> None:
    text = FRONT + (
        "# T\n\n## Summary\n\nShort.\n\n## Impact\n\n<!-- only a comment -->\n\n"
        "## Action items\n\n- [ ] prevent: Add the key (ana, 2026-12-01)\n"
        "- [ ] Add a test\n- [ ] mitigate: Page sooner (ana, soon)\n- [] broken box\n"
    )
    findings = lint_text(text)
    messages = {(f.line, f.rule, f.message) for f in findings}
    assert (12, "empty-section", "section 'Impact' is empty") in messages
    assert any(f.rule == "missing-section" and "Lessons" in f.message for f in findings)
    assert (19, "action-item", "action item: no owner, no due date") in messages
    assert (19, "action-type", "action item has no type") in messages
    assert (20, "action-item", "action item: due date 'soon' is not YYYY-MM-DD") in messages
    assert (21, "action-item", "malformed action item") in messages
    assert not any(f.line == 18 for f in findings)


def test_shipped_examples_pass_lint(cli) -> None:
    files = sorted(str(p) for p in shipped_dir("postmortems").glob("*.md"))
    kinds = {split(Path(f).read_text(encoding="utf-8")).kind for f in files}
    assert kinds == {"postmortem", "premortem"}
    result = cli("postmortem", "lint", *files)
    assert result.exit_code == 0, result.output
    assert all(f.severity != "error" for f in lint_text(Path(files[0]).read_text()))


def test_cli_lint_exits_1_with_file_line_and_suggestion(cli, tmp_path: Path) -> None:
    doc = tmp_path / "pm.md"
    doc.write_text(FRONT + "# T\n\nBob broke the deploy.\n", encoding="utf-8")
    result = cli("postmortem", "lint", str(doc))
    assert result.exit_code == 1
    assert f"{doc}:8:1: error: 'Bob broke': names a person as the cause" in result.stdout
    assert "suggestion:" in result.stdout
    data = cli("postmortem", "lint", str(doc), "--json")
    assert data.exit_code == 1
    import json

    (entry,) = json.loads(data.stdout)
    assert any(f["rule"] == "person-as-cause" and f["line"] == 8 for f in entry["findings"])


def test_cli_lint_missing_file_is_exit_2(cli, tmp_path: Path) -> None:
    result = cli("postmortem", "lint", str(tmp_path / "nope.md"))
    assert result.exit_code == 2
    assert "no such file" in result.stderr


def test_the_title_heading_does_not_count_as_a_section() -> None:
    text = "---\nid: PRE-1\nkind: premortem\n---\n# Pre-mortem: Launch: payouts\n\nIntro.\n"
    messages = [f.message for f in lint_text(text)]
    assert "missing section 'The launch'" in messages
    assert "missing section 'Failure modes'" in messages


def test_premortem_risks_need_likelihood_impact_detection_response() -> None:
    text = (
        "---\nid: PRE-1\nkind: premortem\n---\n# P\n\n## Failure modes\n\n"
        "### Risk 1: Double payouts\n- Likelihood: medium\n- Impact: high\n"
        "- Detection: reconciler\n- Response: pause\n\n"
        "### Risk 2: Bank rejects\n- Likelihood: low\n\n### Risk 2: Again\n"
    )
    risk = [(f.line, f.severity, f.message) for f in lint_text(text) if f.rule == "risk"]
    assert risk == [
        (15, "warning", "risk 2 has no impact, detection, response"),
        (18, "error", "risk 2 is numbered twice"),
        (18, "warning", "risk 2 has no likelihood, impact, detection, response"),
    ]
