"""Issue 16: a hostile YAML front matter is refused before it is built, with one line: a
billion laughs (578 bytes that expand without end), nesting deep enough to blow the stack, or
a huge block; an ordinary one with an anchor or two still loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from incidentbook.errors import UsageError
from incidentbook.frontmatter import split, split_lenient
from tests.support.cli import Cli

LAUGHS = "\n".join(
    ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)]
)


def doc(meta: str) -> str:
    return f"---\n{meta}\n---\n# Postmortem\n"


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        (LAUGHS, "more than 64 YAML aliases"),
        ("x: " + "[" * 200 + "]" * 200, "nests deeper than 32 levels"),
        ("x: '" + "y" * 70_000 + "'", "larger than 64 KiB"),
    ],
    ids=["billion-laughs", "deep", "huge"],
)
def test_hostile_front_matter_is_refused_in_one_line(meta: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        split(doc(meta), source="pm.md")
    parsed, error = split_lenient(doc(meta), source="pm.md")
    assert parsed.meta == {} and error is not None and message in error


def test_an_ordinary_anchor_still_loads() -> None:
    parsed = split(doc("base: &b {team: payments}\nowner: *b\ntags: [a, b]"))
    assert parsed.meta["owner"] == {"team": "payments"}


def test_postmortem_lint_refuses_a_billion_laughs(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "laughs.md"
    path.write_text(doc(LAUGHS))
    result = cli("postmortem", "lint", str(path))
    # The refusal is the file's one finding (lint goes on with any other files): exit 1.
    assert result.exit_code == 1
    assert f"{path}:1:1: error: front matter uses more than 64 YAML aliases" in result.stdout
    assert len(result.stderr.strip().splitlines()) == 1
