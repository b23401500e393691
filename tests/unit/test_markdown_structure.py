"""Issue 16: sections, action items and runbook sections come from markdown-it tokens, so a
document reads the way CommonMark reads it: setext headings count, a fence is closed only by
its own kind of fence, an HTML block or comment is never a heading, and lines stay exact."""

from __future__ import annotations

from incidentbook.core.documents.actions import parse_items, sections
from incidentbook.core.documents.lint import lint_text
from incidentbook.core.runbooks.model import section_text
from incidentbook.core.runbooks.model import sections as runbook_sections

SETEXT = """# Postmortem: retries

Action items
------------

- [ ] prevent: idempotency key on the retry path (ana, 2026-12-01)
- [x] mitigate: pause the consumer (ben, 2026-11-02)

Timeline
--------
nothing here is an item
"""

MIXED_FENCE = """## Summary

```
## Action items
- [ ] prevent: a fake item inside code (eve, 2026-12-01)
~~~
## Still code
```

## Action items

- [ ] process: the real one (ana, 2026-12-05)

<!--
## Not a heading
- [ ] prevent: not an item either (eve, 2026-12-01)
-->

    - [ ] prevent: indented code, not an item (eve, 2026-12-01)
"""


def test_a_setext_heading_is_a_section_and_its_items_are_read() -> None:
    assert [(s.title, s.level) for s in sections(SETEXT)] == [
        ("Postmortem: retries", 1), ("Action items", 2), ("Timeline", 2),
    ]  # fmt: skip
    items = parse_items(SETEXT)
    assert [(i.type, i.checked, i.owner, i.line) for i in items] == [
        ("prevent", False, "ana", 6),
        ("mitigate", True, "ben", 7),
    ]


def test_code_and_html_are_never_headings_or_items() -> None:
    titles = [s.title for s in sections(MIXED_FENCE)]
    assert titles == ["Summary", "Action items"]  # "~~~" does not close a ``` fence
    items = parse_items(MIXED_FENCE)
    assert [(i.text, i.line) for i in items] == [("the real one", 12)]


def test_line_numbers_follow_the_body_offset() -> None:
    items = parse_items(SETEXT, offset=10)
    assert [i.line for i in items] == [15, 16]


def test_lint_finds_a_setext_section() -> None:
    doc = "---\nid: PM-0001\nkind: postmortem\n---\n" + SETEXT
    missing = [f.message for f in lint_text(doc, source="pm.md") if f.rule == "missing-section"]
    assert "missing section 'Action items'" not in missing
    assert "missing section 'Timeline'" not in missing
    assert missing  # the other required sections are still missing


def test_runbook_sections_read_the_same_way() -> None:
    body = (
        "Diagnosis\n=========\n\nrun the audit\n\n```\n# not a heading\n```\n\n"
        "Mitigation\n---\nstop it\n"
    )
    assert runbook_sections(body) == [(1, "Diagnosis"), (2, "Mitigation")]
    assert section_text(body, ("diagnosis",)) == (
        "run the audit\n\n```\n# not a heading\n```\n\nMitigation\n---\nstop it"
    )
    assert section_text(body, ("mitigation",)) == "stop it"
