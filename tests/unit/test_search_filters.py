"""A typed query's filters, read leniently (the app's chips) and edited (a chip pressed): the
values are the ones ``parse`` would search with, and an edit leaves every other word as typed."""

from __future__ import annotations

import pytest

from incidentbook.core.search.query import (
    QuerySyntaxError,
    filter_values,
    parse,
    toggle_filter,
)


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("idempotency", set()),
        ("kind:postmortem", {"postmortem"}),
        ("kind:postmortems retry", {"postmortem"}),  # an alias
        ("Kind:incident,runbook", {"incident", "runbook"}),
        ("kind:incident kind:alerts", {"incident", "alert_group"}),
        ('kind:"premortem" launch', {"premortem"}),
        ("kind:post", set()),  # half typed: not a kind yet
        ('kind:incident "unclosed', {"incident"}),  # a malformed rest does not hide it
        ('"kind:incident"', set()),  # quoted: a phrase, not a filter
    ],
)
def test_filter_values_are_what_parse_reads(text: str, kinds: set[str]) -> None:
    assert filter_values(text, "kind") == kinds
    try:
        parsed = parse(text)
    except QuerySyntaxError:
        return  # a query being typed: the chips still show what it has
    assert set(parsed.filters.get("kind", [])) == kinds


@pytest.mark.parametrize(
    ("text", "kind", "edited"),
    [
        ("", "postmortem", "kind:postmortem"),
        ("idempotency", "postmortem", "idempotency kind:postmortem"),
        ("idempotency  ", "postmortem", "idempotency kind:postmortem"),
        ("idempotency kind:incident", "postmortem", "idempotency kind:incident,postmortem"),
        ("kind:post retry", "postmortem", "kind:postmortem retry"),  # the half-typed value goes
        ("idempotency kind:postmortem", "postmortem", "idempotency"),
        ("kind:postmortem idempotency", "postmortem", "idempotency"),
        ("a kind:postmortems b", "postmortem", "a b"),  # every spelling of it
        ("a kind:incident,postmortem b", "postmortem", "a kind:incident b"),
        ("kind:postmortem a kind:postmortem", "postmortem", "a"),
        ('"retry path" kind:runbook', "runbook", '"retry path"'),
    ],
)
def test_toggle_filter_edits_only_the_filter(text: str, kind: str, edited: str) -> None:
    assert toggle_filter(text, "kind", kind) == edited
    assert (kind in filter_values(edited, "kind")) != (kind in filter_values(text, "kind"))
