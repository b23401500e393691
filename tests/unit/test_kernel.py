"""The shared kernel's one implementation of each helper: slugs, lists, front matter, files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from incidentbook.errors import NotFoundError, UsageError
from incidentbook.frontmatter import split, split_lenient
from incidentbook.fs import atomic_write, read_text
from incidentbook.text import as_str_list, slugify


def test_slugify() -> None:
    assert slugify("Webhook retries double-posted payments!") == (
        "webhook-retries-double-posted-payments"
    )
    assert slugify("Ünïcode café") == "unicode-cafe"
    assert slugify("???") == "untitled"
    long = "word " * 30
    assert len(slugify(long)) <= 60 and not slugify(long).endswith("-")
    assert slugify(long, max_len=None) == "-".join(["word"] * 30)


def test_as_str_list() -> None:
    assert as_str_list("a, b ,,c") == ["a", "b", "c"]
    assert as_str_list(["x", " y ", ""]) == ["x", "y"]
    assert as_str_list(None) == [] and as_str_list("") == []
    assert as_str_list(7) == ["7"]


def test_front_matter_with_a_byte_order_mark() -> None:
    text = "\ufeff---\nid: RB-1\ntitle: Hello\n---\n# Body\n"
    doc = split(text)
    assert doc.meta == {"id": "RB-1", "title": "Hello"}
    assert doc.body == "# Body\n"
    assert doc.body_offset == 5
    assert split_lenient(text)[0].meta == doc.meta


def test_bad_yaml_is_an_error_strictly_and_a_reason_leniently() -> None:
    text = "---\nid: [unclosed\n---\nbody text\n"
    with pytest.raises(UsageError, match=r"pm\.md: line \d+ front matter"):
        split(text, source="pm.md")
    doc, error = split_lenient(text)
    assert doc.meta == {} and doc.body == "body text\n"
    assert error is not None and error.startswith("front matter")
    unterminated = "---\nid: x\nno end\n"
    doc, error = split_lenient(unterminated)
    assert doc.body == unterminated and "never ends" in (error or "")
    assert split_lenient("---\n- a\n- b\n---\n")[1] == "front matter must be a YAML mapping"
    assert split("no front matter\n").body == "no front matter\n"


def test_dates_in_front_matter_become_iso_text() -> None:
    assert split("---\ncreated: 2026-10-17\n---\n").meta == {"created": "2026-10-17"}


def test_atomic_write_replaces_whole_and_keeps_permissions(tmp_path: Path) -> None:
    target = tmp_path / "doc.md"
    atomic_write(target, "one\n")
    assert target.read_text() == "one\n"
    os.chmod(target, 0o600)
    atomic_write(target, "two\n")
    assert target.read_text() == "two\n"
    assert target.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["doc.md"]  # no temp file left


def test_atomic_write_to_a_missing_folder_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        atomic_write(tmp_path / "nope" / "x.md", "text")


def test_read_text_errors(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        read_text(tmp_path / "missing.md")
    (tmp_path / "bin").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(UsageError, match="not UTF-8"):
        read_text(tmp_path / "bin")
    with pytest.raises(UsageError, match="is a directory"):
        read_text(tmp_path)
