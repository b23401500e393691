"""Front matter under arbitrary text (issue 16): ``split`` either gives a document whose meta
is plain JSON data (text keys) or raises the module's own one-line ``UsageError``; the lenient
reader never raises; nothing is slow (hypothesis's deadline, not a timing assert)."""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from incidentbook.errors import UsageError
from incidentbook.frontmatter import dump, split, split_lenient
from tests.support.fuzz import HOSTILE_TEXT, fuzz_settings

# YAML-ish pieces: scalars of every implicit type and tag, flow and block collections,
# anchors and aliases, fences and document markers.
YAML_ATOMS = st.sampled_from(
    [
        "2026-10-17", "2001-13-01", "2001-02-30 10:00:00", "2026-10-17T02:00:00+02:00",
        "!!timestamp x", "!!int z", "!!float z", "!!binary aGk=", "!!binary a", "!!set {a, b}",
        "!!omap [a: 1, b: 2]", "!!pairs [a: 1]", "!!python/object:os.system x", "!!str 1",
        "!!null ''", "!!bool maybe", "0o99", "0x", "1e999", ".nan", "-.inf", "~", "null",
        "yes", "on", "&a [1, 2]", "*a", "*undefined", "{a: 1, a: 2}", "[a, [b, [c]]]",
        "{2026-01-01: x}", "? [a]\n  : b", "|\n  ---\n  x", ">-\n  folded", "'quoted: ---'",
        '"\\ud800"', '"\\x00"', "\t", "%YAML 1.1", "--- !tag", "...", "- - - x",
        "9" * 5000, "-" + "9" * 30,
    ]
)  # fmt: skip
KEYS = st.one_of(st.sampled_from(["id", "kind", "title", "tags", "services", "?", "- x", ""]),
                 st.text(max_size=8))  # fmt: skip
LINES = st.one_of(
    st.builds(lambda k, v: f"{k}: {v}", KEYS, YAML_ATOMS),
    st.builds(lambda k, v: f"{k}:\n  - {v}", KEYS, YAML_ATOMS),
    st.builds(lambda k, v: f"{k}:\n  nested: {v}", KEYS, YAML_ATOMS),
    YAML_ATOMS,
    HOSTILE_TEXT,
)
FRONT_MATTER = st.builds(
    lambda bom, fence, lines, close, body: (
        bom + fence + "\n" + "\n".join(lines) + ("\n" + close if close else "") + "\n" + body
    ),
    st.sampled_from(["", "\ufeff"]),
    st.sampled_from(["---", "--- ", "---\r"]),
    st.lists(LINES, max_size=8),
    st.sampled_from(["---", "...", "---\r", ""]),
    HOSTILE_TEXT,
)


def _assert_plain(meta: object) -> None:
    assert isinstance(meta, dict) and all(isinstance(k, str) for k in meta)
    json.dumps(meta)  # plain data: every key text, every value JSON


@pytest.mark.parametrize("reader", ["strict", "lenient"])
@fuzz_settings(max_examples=200, deadline=1000)
@given(text=st.one_of(FRONT_MATTER, st.text(max_size=200)))
@example(text="---\nx: 2001-13-01\n---\n")  # was ValueError from PyYAML's date constructor
@example(text="---\nx: !!timestamp x\n---\n")  # was AttributeError
@example(text="---\nx: !!int z\n---\n")  # was ValueError
@example(text="---\nid: !!bool maybe\n---\n")  # was KeyError
@example(text="---\nx: " + "9" * 5000 + "\n---\n")  # was ValueError (int digits limit)
@example(text="---\nx: !!binary aGk=\n---\n")  # bytes: not JSON
@example(text="---\nx: !!set {a}\nwhen: {2026-01-01: x}\n---\n")  # a set, a date key
@example(text="---\nx:\n  when: 2026-10-17\n---\n")  # a nested date stayed a date object
def test_front_matter_parses_or_is_one_line(reader: str, text: str) -> None:
    if reader == "lenient":
        doc, error = split_lenient(text, source="pm.md")
        if error is not None:
            assert "\n" not in error and error
        _assert_plain(doc.meta)
        return
    try:
        doc = split(text, source="pm.md")
    except UsageError as exc:
        assert str(exc) and "\n" not in str(exc), str(exc)
        return
    _assert_plain(doc.meta)


@fuzz_settings(max_examples=100)
@given(
    meta=st.dictionaries(
        st.text(max_size=10),
        st.recursive(
            st.none() | st.booleans() | st.integers() | HOSTILE_TEXT,
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                st.text(max_size=5), inner, max_size=3),
            max_leaves=8,
        ),
        max_size=5,
    ),
    body=HOSTILE_TEXT,
)
@example(meta={"": "\n...\n"}, body="")  # the indented "..." of the value ended the block
@example(meta={"note": "a\n---\nb"}, body="")
@example(meta={"\x85": "x\x85y"}, body="")  # PyYAML wrote NEL raw and read it as a break
def test_what_dump_writes_split_reads_back(meta: dict[str, object], body: str) -> None:
    """Front matter incidentbook writes (any values a user typed) reads back as written."""
    try:
        text = dump(meta) + body
        text.encode("utf-8")
    except UnicodeEncodeError:
        return  # a lone surrogate: never reaches a file (the writers refuse it)
    assert split(text).meta == meta
