"""User text through the shipped templates (issue 16): incident titles, notes, severities and
alert names, labels and summaries rendered into ``postmortem.md.j2``, and pre-mortem titles,
services and tags into ``premortem.md.j2``, give a document that reads back: its front matter
parses and holds what was given, and its Markdown keeps the template's own structure (every
section heading exactly once, in order; every generated region once), so no user text can
inject a section, a region marker or front matter. ``postmortem lint`` and ``verify`` read it
without an internal error. (Sandbox limits on workspace templates are tested beside
``core/documents/templating``; this suite only feeds the shipped ones.)"""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import example, given
from hypothesis import strategies as st

from incidentbook.core.alerts.model import NativeAlert
from incidentbook.core.documents import blocks
from incidentbook.core.markdown import structure
from incidentbook.errors import UsageError
from incidentbook.frontmatter import split
from incidentbook.resources import shipped_dir
from tests.support.cli import Cli
from tests.support.fuzz import HOSTILE_TEXT, fresh_services, fuzz_settings, verify_problems

# User text without lone surrogates: the CLI refuses those at the door (not UTF-8), and the
# receiver and ingest with a field error, so none reaches a template.
TEXT = HOSTILE_TEXT.filter(lambda t: not re.search("[\ud800-\udfff]", t))


def _template_outline(name: str) -> tuple[list[tuple[int, str]], list[str]]:
    """The shipped template's own headings (level, text; text with Jinja is kept as its
    literal prefix) and generated regions, read from the template file by the test."""
    text = (shipped_dir("templates") / name).read_text(encoding="utf-8")
    text = re.sub(r"\{#.*?#\}", "", text, flags=re.S)  # Jinja comments
    text = re.sub(r"<!--.*?-->", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    heads = []
    for line in text.splitlines():
        found = re.match(r"^(#{1,6}) (.*)$", line)
        if found:
            heads.append((len(found.group(1)), found.group(2).split("{{")[0].strip()))
    original = (shipped_dir("templates") / name).read_text(encoding="utf-8")
    regions = re.findall(r"<!-- incidentbook:begin (\w+) -->", original)
    return heads, regions


def _assert_outline(text: str, name: str) -> None:
    expected_heads, expected_regions = _template_outline(name)
    doc = split(text)  # the front matter reads back (raises on a broken one)
    heads = [(h.level, h.title) for h in structure(doc.body).headings]
    assert len(heads) == len(expected_heads), (heads, expected_heads)
    for (level, got), (want_level, want) in zip(heads, expected_heads, strict=True):
        prefix_only = want.endswith(":")  # "# Postmortem: {{ title }}": the title follows
        assert level == want_level, (got, want)
        assert got == want or (prefix_only and got.startswith(want)), (got, want)
    names = [r.name for r in blocks.regions(doc.body.split("\n"))]
    assert names == expected_regions
    begins = re.findall(r"^<!-- incidentbook:begin ", doc.body, flags=re.M)
    assert len(begins) == len(expected_regions)


@fuzz_settings(max_examples=15, deadline=30_000)
@given(
    title=TEXT,
    notes=st.lists(TEXT, max_size=3),
    severity=st.sampled_from(["critical", "error", "warning", "info"]),
    alert_name=TEXT,
    summary=TEXT,
    label=TEXT,
)
@example(title="0", notes=[], severity="critical", alert_name="\n# ", summary="", label="")
@example(
    title="x\n## Lessons",
    notes=["<!-- incidentbook:end timeline -->"],
    severity="error",
    alert_name="```",
    summary="- [ ] prevent: forged (bob, 2026-01-01)",
    label="|",
)
def test_postmortem_of_hostile_incident_text_keeps_its_shape(
    title: str, notes: list[str], severity: str, alert_name: str, summary: str, label: str
) -> None:
    with fresh_services() as services:
        ctx = services.context(correlation_id="corr-fuzz")
        try:
            incident = services.incidents.open(ctx, title, severity).incident.id
        except UsageError:
            assert not title.split(), title  # only a blank title is refused
            return
        for note in notes:
            try:
                services.incidents.add_note(ctx, incident, note)
            except UsageError:
                assert not note.strip(), note
        alert = NativeAlert(
            source="prometheus", name=alert_name or "unnamed", fingerprint="fp-1",
            status="firing", severity="warning", summary=summary,
            labels={"service": label, label: label}, annotations={"summary": summary},
            starts_at="2026-10-17T02:00:00.000000Z",
        )  # fmt: skip
        services.alerts.ingest(ctx, [alert])
        with services.db.write() as session:
            services.alerts.link_many_in(session, ctx, ["fp-1"], incident)
        path = services.postmortems.new(incident)
        text = path.read_text(encoding="utf-8")
        _assert_outline(text, "postmortem.md.j2")
        meta = split(text).meta
        assert meta["incident"] == incident and meta["kind"] == "postmortem"
        assert meta["severity"] == severity
        # A refresh re-renders the generated regions into the same shape.
        services.postmortems.new(incident, refresh=True)
        _assert_outline(path.read_text(encoding="utf-8"), "postmortem.md.j2")
        lint = Cli(services.settings.workspace)("postmortem", "lint", str(path))
        assert lint.exit_code in (0, 1), lint.output
        assert "internal error" not in lint.output
        assert verify_problems(services) == []


@fuzz_settings(max_examples=15, deadline=30_000)
@given(title=TEXT, launch=st.lists(TEXT, max_size=3), tags=st.lists(TEXT, max_size=3))
@example(title="Launch", launch=["a\n## Lessons\nb"], tags=["<!-- incidentbook:begin bitten -->"])
def test_premortem_of_hostile_text_keeps_its_shape(
    title: str, launch: list[str], tags: list[str]
) -> None:
    with fresh_services() as services:
        try:
            path = services.premortems.new(title, launch_services=launch, tags=tags)
        except UsageError:
            assert not title.split(), title
            return
        text = path.read_text(encoding="utf-8")
        _assert_outline(text, "premortem.md.j2")
        meta = split(text).meta
        assert meta["title"] == " ".join(title.split())
        assert meta["services"] == [s.strip() for s in launch if s.strip()]
        assert meta["tags"] == [t.strip() for t in tags if t.strip()]
        assert verify_problems(services) == []


def test_the_outline_reader_sees_the_templates() -> None:
    """The truth above is not empty: the test reads the templates' sections itself."""
    heads, regions = _template_outline("postmortem.md.j2")
    assert (1, "Postmortem:") in heads and (2, "Action items") in heads and len(heads) > 10
    assert "timeline" in regions and "facts" in regions
    heads, regions = _template_outline("premortem.md.j2")
    assert (2, "Failure modes") in heads and regions == ["bitten"]
    assert Path(shipped_dir("templates")).is_dir()


# Jinja pieces a workspace template author may write, broken ones among them (no loops or
# multiplications that blow up: render limits are the templating module's own tests).
JINJA = st.sampled_from(
    ["{{ incident.title }}", "{{ incident.title | md_inline }}", "{{ incident.nope }}",
     "{{ facts.alerts[99] }}", "{{ facts.alerts | length }}", "{{ 1/0 }}", "{{ 1 + 'a' }}",
     "{{ incident.title | int }}", "{{ ''.__class__.__mro__ }}", "{{ incident.__dict__ }}",
     "{{ cycler.__init__.__globals__ }}", "{% include incident.title %}",
     "{% include 'postmortem.md.j2' %}", "{% include '../../etc/passwd' %}",
     "{% extends 'nope.j2' %}", "{% import 'x' as y %}", "{% if incident.title %}", "{% endif %}",
     "{% for t in timeline %}{{ t.text }}{% endfor %}", "{% for x in range(3) %}",
     "{% endfor %}", "{% raw %}", "{% endraw %}", "{#", "#}", "{{", "}}", "{%", "%}",
     "{{ incident.title | money('EUR') }}", "{{ 7 | money('XXX') }}", "{{ None | duration }}",
     "{{ 'x' | hhmm }}", "{{ incident | change_line(None) }}", "{% set x = 1 %}{{ x.y.z }}",
     "{{ incident.title.format(incident) }}", "{{ lipsum(1) }}", "{{ range(10**9) | list }}",
     "---", "## Section\n", "\n", "\x00", "{{ '\\n' }}"]
)  # fmt: skip
WORKSPACE_TEMPLATE = st.lists(st.one_of(JINJA, TEXT), min_size=1, max_size=8).map("".join)


@fuzz_settings(max_examples=30, deadline=30_000)
@given(template=WORKSPACE_TEMPLATE, title=TEXT)
@example(template="{% include incident.title %}", title="no\nsuch template")
@example(template="{{ 1/0 }}", title="x")
@example(template="{% include timeline[1].text %}", title="x")  # the note's "a\nb": 2 lines
def test_a_workspace_template_renders_or_is_one_line(template: str, title: str) -> None:
    with fresh_services() as services:
        ctx = services.context(correlation_id="corr-fuzz")
        incident = services.incidents.open(ctx, title.strip() or "t", "error").incident.id
        services.incidents.add_note(ctx, incident, "a\nb")
        folder = services.settings.templates_dir
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "postmortem.md.j2").write_text(template, encoding="utf-8")
        try:
            path = services.postmortems.new(incident)
        except UsageError as exc:
            message = str(exc)
            assert message.startswith("template ") and "\n" not in message, message
            assert list(services.settings.postmortems_dir.glob("*.md")) == []
        else:
            meta = split(path.read_text(encoding="utf-8")).meta
            assert meta["incident"] == incident
        assert verify_problems(services) == []
