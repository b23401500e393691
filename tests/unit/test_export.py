"""HTML export: one standalone page, everything escaped, rendered by the shared parser."""

from __future__ import annotations

import os
import re
from html.parser import HTMLParser
from pathlib import Path

from incidentbook.core.documents.export import render_html
from incidentbook.services import Services
from incidentbook.settings import Settings
from tests.support.documents import GOLDEN

DOC = """---
id: PM-0003
kind: postmortem
title: 'Refunds <b>in the wrong</b> currency'
authors: [ana]
---
# Refunds in the wrong currency

A note: <script>alert("x")</script> and <img src=x onerror=alert(1)>.

| Time | Event |
|---|---|
| 09:10 | config rollout |

## Action items

- [x] prevent: Validate the refund currency (ana, 2026-12-01)
- [ ] process: Stage config rollouts (ravi, 2026-12-15)

```
SELECT * FROM ledger_entries WHERE kind = 'refund';
```
"""


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


def test_script_in_a_note_is_text_not_a_tag(settings: Settings) -> None:
    html = render_html(settings, DOC)
    names = [t for t, _ in _tags(html)]
    assert "script" not in names and "img" not in names
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    # The title from front matter is autoescaped by the template.
    assert "<title>Refunds &lt;b&gt;in the wrong&lt;/b&gt; currency</title>" in html
    assert "<b>" not in html


def test_page_is_standalone_and_readable(settings: Settings) -> None:
    html = render_html(settings, DOC)
    assert html.startswith("<!DOCTYPE html>")
    tags = _tags(html)
    assert ("style", {}) in tags
    assert not [t for t, a in tags if t == "link" or (t in ("script", "img") and a.get("src"))]
    assert not re.search(r"https?://", html)
    names = [t for t, _ in tags]
    assert "table" in names and "pre" in names
    # Task boxes are text, as the app shows them: no form controls in the page.
    assert "input" not in names
    assert "☑ prevent: Validate the refund currency" in html
    assert "☐ process: Stage config rollouts" in html


def test_cli_export_of_a_generated_postmortem(services: Services, ctx, cli, tmp_path: Path) -> None:
    incident = services.incidents.open(ctx, "Refunds in <i>EUR</i>", "error").incident
    services.incidents.add_note(ctx, incident.id, "saw <script>steal()</script> in a log line")
    path = services.postmortems.new(incident.id)
    out = tmp_path / "out" / "pm.html"
    out.parent.mkdir()
    data = cli.json("postmortem", "export", str(path), "--html", str(out))
    assert data["html"] == str(out)
    html = out.read_text(encoding="utf-8")
    assert "script" not in [t for t, _ in _tags(html)]
    assert "&lt;script&gt;steal()&lt;/script&gt;" in html
    assert "<i>" not in html
    assert "incidentbook:begin" not in html  # markers are comments, not shown


def test_export_to_a_missing_folder_is_exit_2(cli, tmp_path: Path) -> None:
    doc = tmp_path / "pm.md"
    doc.write_text(DOC, encoding="utf-8")
    result = cli("postmortem", "export", str(doc), "--html", str(tmp_path / "no" / "x.html"))
    assert result.exit_code == 2
    assert "does not exist" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_export_onto_the_document_itself_is_exit_2_and_leaves_it(cli, tmp_path: Path) -> None:
    doc = tmp_path / "pm.md"
    doc.write_text(DOC, encoding="utf-8")
    result = cli("postmortem", "export", str(doc), "--html", str(tmp_path / "." / "pm.md"))
    assert result.exit_code == 2
    assert "over itself" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert doc.read_text(encoding="utf-8") == DOC


def test_golden_export(settings: Settings) -> None:
    html = render_html(settings, DOC)
    golden = GOLDEN / "export_refunds.html"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(html, encoding="utf-8")
    assert html == golden.read_text(encoding="utf-8")
