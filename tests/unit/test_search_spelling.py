"""'Did you mean': a typo of a word the index holds gets that word (as the documents spell
it), only when the corrected query finds something; a right query and a word nothing is
near get none; the CLI shows it (text and --json)."""

from __future__ import annotations

import pytest

from incidentbook.context import Context
from incidentbook.core import search as S
from incidentbook.services import Services
from incidentbook.settings import Settings
from tests.support.cli import Cli


@pytest.fixture(autouse=True)
def _fresh_searchers() -> None:
    S.close_searchers()


def seed(services: Services, ctx: Context) -> str:
    inc = services.incidents
    made = inc.open(ctx, "Settlement file from Danske arrived late", "error").incident.id
    inc.add_note(ctx, made, "The quarterly settlement batch missed the cutoff; Danske resent it.")
    inc.add_note(ctx, made, "Treasury reconciled the nostro account by hand.")
    return made


def suggest(settings: Settings, services: Services, query: str) -> str | None:
    S.search(settings, query, db=services.db)  # brings the index up to date, as a face does
    return S.did_you_mean(settings, query)


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("setlement", "settlement"),  # a letter missing
        ("settlemnet", "settlement"),  # two letters swapped
        ("quartely", "quarterly"),
        ("nostor", "nostro"),
        ("Danskee", "danske"),
        # only the wrong word changes; filters, other words and spacing stay as typed
        ("kind:incident  quartely cutoff", "kind:incident  quarterly cutoff"),
        ('"settlement batch" nostor', '"settlement batch" nostro'),
        ("setlement treasurry", "settlement treasury"),
    ],
)
def test_a_typo_gets_the_word_the_documents_hold(
    settings: Settings, services: Services, ctx: Context, typed: str, meant: str
) -> None:
    made = seed(services, ctx)
    assert suggest(settings, services, typed) == meant
    assert made in [h.doc_id for h in S.search(settings, meant, db=services.db)]


@pytest.mark.parametrize(
    "query",
    [
        "settlement",  # right
        "quarterly settlement cutoff kind:incident",  # right, with a filter
        "qzxvjwk",  # nothing near it
        "setlement qzxvjwk",  # one word nothing is near: no suggestion finds it
        "setlement kind:change",  # corrected, it would still find nothing
        "kind:incident",  # no words at all
        "setl*",  # a prefix is not corrected
        '"unclosed',  # malformed: the search says why, no suggestion
    ],
)
def test_no_suggestion(settings: Settings, services: Services, ctx: Context, query: str) -> None:
    seed(services, ctx)
    if query.startswith('"'):
        assert S.did_you_mean(settings, query) is None
        return
    assert suggest(settings, services, query) is None


def test_cli_says_did_you_mean_in_text_and_json(
    cli: Cli, services: Services, ctx: Context
) -> None:
    made = seed(services, ctx)
    out = cli.json("search", "quartely")
    assert out["hits"] == [] and out["did_you_mean"] == "quarterly"
    human = cli("search", "quartely")
    assert human.exit_code == 0, human.output
    assert human.output.splitlines() == ["no matches", "did you mean: quarterly"]
    right = cli.json("search", "quarterly")
    assert [h["id"] for h in right["hits"]] == [made] and right["did_you_mean"] is None
    assert "did you mean" not in cli("search", "quarterly").output
    assert cli.json("search", "qzxvjwk")["did_you_mean"] is None
