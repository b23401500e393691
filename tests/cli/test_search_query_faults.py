"""Issue 16: hostile search queries end in a one-line query error and exit 2, never an
internal error: nesting past the parser's bound, and dates out of range."""

from __future__ import annotations

import pytest

from incidentbook.core.search.query import MAX_DEPTH, QuerySyntaxError, parse
from tests.support.cli import Cli


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("(" * 3000 + "x" + ")" * 3000, f"nests deeper than {MAX_DEPTH} levels"),
        ("NOT " * 3000 + "x", f"nests deeper than {MAX_DEPTH} levels"),
        ("after:99999999999d", "reaches back before the year 1"),
        ("after:9999-12-31T23:59:59-05:00", "outside the years 1 to 9999 in UTC"),
        ("before:0001-01-01T00:00:00+01:00", "outside the years 1 to 9999 in UTC"),
    ],
    ids=["parens", "nots", "relative", "late", "early"],
)
def test_hostile_queries_are_one_line_exit_2(cli: Cli, query: str, message: str) -> None:
    result = cli("search", query)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "internal error" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_nesting_within_the_bound_still_parses() -> None:
    depth = MAX_DEPTH
    parsed = parse("(" * depth + "ledger" + ")" * depth)
    assert parsed.root is not None
    with pytest.raises(QuerySyntaxError):
        parse("(" * (depth + 1) + "ledger" + ")" * (depth + 1))
