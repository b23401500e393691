"""HTML export of hostile Markdown carries no active content: every page of a corpus of
attacks is parsed with the standard library's ``html.parser`` and searched for scripts, frames,
plug-ins, refreshes, event handlers and dangerous addresses."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest

from incidentbook.core.documents.export import render_html
from incidentbook.settings import Settings
from tests.support.cli import Cli

FRONT = "---\nid: PM-0009\nkind: postmortem\ntitle: hostile\n---\n"

HOSTILE = {
    "script block": "<script>alert(1)</script>",
    "script inline": "a note <script>alert(1)</script> here",
    "script split": "<scr<script>ipt>alert(1)</script>",
    "img onerror": "<img src=x onerror=alert(1)>",
    "a onclick": '<a href="https://ok.example" onclick="alert(1)">x</a>',
    "a javascript": '<a href="javascript:alert(1)">x</a>',
    "meta refresh": '<meta http-equiv="refresh" content="0;url=https://evil.example">',
    "meta refresh inline": 'text <meta http-equiv="refresh" content="0"> text',
    "iframe": '<iframe src="https://evil.example"></iframe>',
    "iframe srcdoc": '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    "svg onload": "<svg onload=alert(1)>",
    "svg script": "<svg><script>alert(1)</script></svg>",
    "object": '<object data="evil.swf"></object>',
    "embed": '<embed src="evil.swf">',
    "body onload": "<body onload=alert(1)>",
    "details ontoggle": "<details open ontoggle=alert(1)>x</details>",
    "style import": "<style>@import 'https://evil.example/x.css';</style>",
    "link stylesheet": '<link rel="stylesheet" href="https://evil.example/x.css">',
    "base": '<base href="https://evil.example/">',
    "form": '<form action="https://evil.example"><input type=submit></form>',
    "math": '<math><mtext><a href="javascript:alert(1)">x</a></mtext></math>',
    "comment hiding a script": "<!-- x --><script>alert(1)</script>",
    "link plain": "[a](javascript:alert(1))",
    "link mixed case": "[a](JaVaScRiPt:alert(1))",
    "link decimal entity": "[a](&#106;avascript:alert(1))",
    "link hex entity": "[a](&#x6A;&#x61;vascript:alert(1))",
    "link colon entity": "[a](javascript&colon;alert(1))",
    "link colon numeric": "[a](javascript&#58;alert(1))",
    "link leading spaces": "[a](   javascript:alert(1))",
    "link angle brackets with space": "[a](<java script:alert(1)>)",
    "link angle brackets": "[a](<javascript:alert(1)>)",
    "link control char": "[a](\x01javascript:alert(1))",
    "link escaped tab": "[a](java&#9;script:alert(1))",
    "link escaped newline": "[a](java&#10;script:alert(1))",
    "link percent tab": "[a](java%09script:alert(1))",
    "link percent scheme": "[a](%6Aavascript:alert(1))",
    "link vbscript": "[a](vbscript:msgbox(1))",
    "link data html": "[a](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "link file": "[a](file:///etc/passwd)",
    "link title": '[a](https://ok.example "x\\" onmouseover=\\"alert(1)")',
    "reference": "[a][r]\n\n[r]: javascript:alert(1)",
    "reference angle title": '[a][r]\n\n[r]: <javascript:alert(1)> "t"',
    "reference mixed case": "[a]\n\n[a]: JAVASCRIPT:alert(1)",
    "autolink": "<javascript:alert(1)>",
    "autolink upper": "<JAVASCRIPT:alert(1)>",
    "autolink data": "<data:text/html,<script>alert(1)</script>>",
    "autolink vbscript": "<vbscript:msgbox(1)>",
    "image javascript": "![x](javascript:alert(1))",
    "image data png": "![x](data:image/png;base64,iVBORw0KGgo=)",
    "image data svg": "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "image reference data": "![x][i]\n\n[i]: data:image/gif;base64,R0lGODlh",
    "image onerror title": '![x](https://ok.example/a.png "a\\" onerror=\\"alert(1)")',
    "table cell script": "| a | b |\n|---|---|\n| <script>alert(1)</script> | [x](javascript:1) |",
    "task list html": "- [x] <img src=x onerror=alert(1)>\n- [ ] <script>alert(1)</script>",
    "nested list link": "- a\n  - [b](javascript:alert(1))\n    > [c](vbscript:x)",
}

SAFE_SCHEMES = ("http", "https", "mailto")
URL_ATTRS = {"href", "src", "srcset", "action", "formaction", "data", "poster", "background"}
FORBIDDEN_TAGS = {
    "script", "iframe", "frame", "frameset", "object", "embed", "applet", "svg", "math",
    "base", "link", "form", "input", "button", "textarea", "select", "template", "noscript",
}  # fmt: skip


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)


def _tags(html: str) -> list[tuple[str, dict[str, str]]]:
    parser = _Collect()
    parser.feed(html)
    parser.close()
    return parser.tags


def _scheme(url: str) -> str | None:
    """The scheme a browser would see: controls and spaces removed, percent-decoded."""
    for form in (url, unquote(url)):
        cleaned = re.sub(r"[\x00-\x20\x7f]", "", form).lower()
        match = re.match(r"([a-z][a-z0-9+.-]*):", cleaned)
        if match and match.group(1) not in SAFE_SCHEMES:
            return match.group(1)
    return None


def assert_inert(html: str) -> None:
    tags = _tags(html)
    for tag, attrs in tags:
        assert tag not in FORBIDDEN_TAGS, (tag, attrs)
        assert not [a for a in attrs if a.startswith("on")], (tag, attrs)
        for name in URL_ATTRS & attrs.keys():
            assert _scheme(attrs[name]) is None, (tag, name, attrs[name])
        if tag == "meta":
            assert set(attrs) in ({"charset"}, {"http-equiv", "content"}), attrs
            if "http-equiv" in attrs:
                assert attrs["http-equiv"].lower() == "content-security-policy", attrs
        assert "url(" not in attrs.get("style", "").lower(), (tag, attrs)
    policies = [a["content"] for t, a in tags if t == "meta" and "content" in a]
    assert len(policies) == 1
    directives = {d.split()[0]: d.split()[1:] for d in policies[0].split(";") if d.strip()}
    assert directives["default-src"] == ["'none'"]
    assert "script-src" not in directives
    assert not [t for t, _ in tags if t == "style"][1:]  # only the page's own stylesheet


@pytest.mark.parametrize("body", list(HOSTILE.values()), ids=list(HOSTILE))
def test_hostile_markdown_exports_inert(settings: Settings, body: str) -> None:
    assert_inert(render_html(settings, FRONT + body + "\n"))


def test_hostile_front_matter_exports_inert(settings: Settings) -> None:
    text = (
        "---\nid: PM-0010\nkind: postmortem\n"
        "title: '</title><script>alert(1)</script>'\n"
        "owner: '\"><meta http-equiv=refresh content=0>'\n---\nbody\n"
    )
    html = render_html(settings, text)
    assert_inert(html)


def test_all_of_it_at_once_through_the_cli(cli: Cli, tmp_path: Path) -> None:
    source = tmp_path / "hostile.md"
    source.write_text(FRONT + "\n\n".join(HOSTILE.values()) + "\n", encoding="utf-8")
    out = tmp_path / "hostile.html"
    result = cli("postmortem", "export", str(source), "--html", str(out))
    assert result.exit_code == 0, result.output
    assert_inert(out.read_text(encoding="utf-8"))


def test_what_is_safe_still_renders(settings: Settings) -> None:
    body = (
        "[site](https://example.com/a?b=c) [mail](mailto:ops@example.com) [doc](../runbooks/x.md)"
        " [here](#timeline) ![chart](https://example.com/c.png)\n\n"
        "a <b>bold</b> claim <!-- a hidden remark -->\n\n<!-- guidance\nover lines -->\n"
    )
    html = render_html(settings, FRONT + body)
    tags = _tags(html)
    hrefs = [a["href"] for t, a in tags if t == "a"]
    assert hrefs == ["https://example.com/a?b=c", "mailto:ops@example.com", "../runbooks/x.md",
                     "#timeline"]  # fmt: skip
    assert [a["src"] for t, a in tags if t == "img"] == ["https://example.com/c.png"]
    assert "a &lt;b&gt;bold&lt;/b&gt; claim" in html  # shown as written, never a tag
    assert "hidden remark" not in html and "guidance" not in html


def test_a_workspace_export_template_with_a_script_is_refused(
    cli: Cli, workspace: Path, tmp_path: Path
) -> None:
    (workspace / "templates").mkdir(exist_ok=True)
    (workspace / "templates" / "export.html.j2").write_text(
        '<html><head><meta charset="utf-8"></head><body>{{ body }}'
        "<script>fetch('https://evil.example')</script></body></html>\n",
        encoding="utf-8",
    )
    source = tmp_path / "pm.md"
    source.write_text(FRONT + "hello\n", encoding="utf-8")
    out = tmp_path / "pm.html"
    result = cli("postmortem", "export", str(source), "--html", str(out))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "export.html.j2" in lines[0] and "script" in lines[0]
    assert not out.exists()
