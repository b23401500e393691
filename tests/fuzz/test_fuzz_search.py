"""Search queries under arbitrary text (issue 16): on a small real index, every query gives a
list of hits or the one-line query error (a ``UsageError``), never another exception; the
parser alone answers the same way, within hypothesis's deadline."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from incidentbook.context import Context
from incidentbook.core import search as S
from incidentbook.core.search.query import FILTERS, parse
from incidentbook.errors import UsageError
from incidentbook.services import Services
from incidentbook.settings import Settings
from tests.support.fuzz import HOSTILE_TEXT, HUGE_DIGITS, fuzz_settings

NOW = datetime(2026, 10, 17, 12, 0, tzinfo=UTC)

PM = """---
id: PM-0001
kind: postmortem
title: Double-posted webhook payments
services: [payments, ledger]
tags: [webhook, idempotency]
severity: critical
created: 2025-09-12T10:00:00Z
---
# Double-posted webhook payments

## Lessons
- Every write path needs an idempotency key, retries included.
"""


@pytest.fixture
def indexed(services: Services, ctx: Context, workspace: Path) -> Iterator[Settings]:
    """A workspace with incidents, notes and a postmortem, indexed once."""
    S.close_searchers()
    inc = services.incidents
    a = inc.open(ctx, "Webhook retries double-posted processor payments", "critical").incident.id
    inc.add_note(ctx, a, "The retry path of the webhook handler lacked an idempotency check.")
    inc.resolve(ctx.because("fixed forward"), a)
    b = inc.open(ctx, "Refunds posted in the wrong currency", "error").incident.id
    inc.add_note(ctx, b, "FX config rollout swapped the refund currency source.")
    (workspace / "postmortems" / "PM-0001.md").write_text(PM, encoding="utf-8")
    assert S.search(services.settings, "webhook", db=services.db, now=NOW)
    yield services.settings
    S.close_searchers()


WORDS = st.sampled_from(
    ["webhook", "refund", "payments", "the", "and", "a", "INC-0001", "balance_mismatch",
     "double-posted", "ids", "über", "日本", "x" * 300, "re*", "r*", "*", "?", "re*d", "a**",
     "-", "--", "-webhook", "-\"retry path\"", "AND", "OR", "NOT", "and", "or", "not", "(", ")",
     "()", "((", "))", '"', '""', '"retry path"', '"the"', ":", "::", "kind:", "x:y"]
)  # fmt: skip
FILTER_VALUES = st.one_of(
    st.sampled_from(
        ["incident", "postmortem,runbook", "alerts", "bogus", "", ",", ",,x", "critical",
         "page", "resolved", '"quoted value"', '"', "7d", "0d", "12h", "3w", "99999999999d",
         "2026-10-01", "2026-10-01T12:00", "2026-10-01T12:00:00+14:00", "9999-12-31T23:59:59-05:00",
         "0001-01-01T00:00:00+01:00", "2026-13-01", "2026-10-01T25:00", "Z", "1", "-1d",
         "١d", "٩٩٩٩٩٩٩٩٩٩٩٩٩٩٩٩٩٩٩٩٩d"]
    ),
    HUGE_DIGITS.map(lambda digits: digits + "d"),
    HOSTILE_TEXT,
)  # fmt: skip
FILTER = st.builds(
    lambda name, value: f"{name}:{value}",
    st.sampled_from([*FILTERS, "KIND", "After", "bogus", "_"]),
    FILTER_VALUES,
)
QUERIES = st.one_of(
    st.lists(st.one_of(WORDS, FILTER, HOSTILE_TEXT), min_size=1, max_size=8).map(" ".join),
    st.lists(st.one_of(WORDS, FILTER), max_size=12).map("".join),
    st.text(max_size=80),
    st.integers(0, 120).map(lambda n: "(" * n + "webhook" + ")" * n),
    st.integers(0, 120).map(lambda n: "NOT " * n + "webhook"),
    st.integers(0, 120).map(lambda n: "webhook OR " * n + "refund"),
)


def _assert_one_line(exc: UsageError) -> None:
    assert str(exc) and "\n" not in str(exc), repr(str(exc))


@fuzz_settings(max_examples=400, deadline=1000)
@given(query=QUERIES)
@example(query="after:" + "9" * 5000 + "d")  # was ValueError: int() of more than 4,300 digits
@example(query="before:١d")
@example(query='AFTER:" \n "')  # the message quoted the value's line break: two lines
@example(query="webhook OR " * 2000 + "refund")
def test_parse_gives_a_query_or_one_line(query: str) -> None:
    try:
        parse(query, now=NOW)
    except UsageError as exc:
        _assert_one_line(exc)


@fuzz_settings(max_examples=150, deadline=3000)
@given(query=QUERIES, kind=st.sampled_from([None, "incident", "postmortem"]))
@example(query="after:" + "9" * 5000 + "d", kind=None)
@example(query='"retry path" OR "the"', kind=None)
@example(query="-webhook re* kind:incident,postmortem after:3w", kind="incident")
def test_search_gives_hits_or_one_line(indexed: Settings, query: str, kind: str | None) -> None:
    try:
        hits = S.search(indexed, query, kind=kind, fresh=False, now=NOW)
    except UsageError as exc:
        _assert_one_line(exc)
        return
    assert isinstance(hits, list) and len(hits) <= 10
    for hit in hits:
        assert hit.to_dict()["title"] is not None
        assert all(0 <= start <= end <= len(hit.snippet) for start, end in hit.highlights)
