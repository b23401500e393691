"""The Search screen under Pilot: the filter chips follow the query text (and a chip edits
the text), a typo gets a "did you mean" that enter or F7 takes, and the snippets are clean
text with money formatted."""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widgets import Button, Input, OptionList, Static

from incidentbook.ui.app import IncidentbookApp
from incidentbook.ui.screens.search import KINDS, SearchScreen
from tests.support.app import settle

SIZE = (140, 40)
CHIPS = [kind for kind, _label, _key in KINDS]


async def open_search(app: IncidentbookApp, pilot: Pilot[None]) -> SearchScreen:
    await settle(pilot)
    await pilot.press("slash")
    await settle(pilot)
    screen = app.screen
    assert isinstance(screen, SearchScreen)
    return screen


def lit(screen: SearchScreen) -> set[str]:
    return {k for k in CHIPS if screen.query_one(f"#chip-{k}", Button).has_class("-on")}


def query_text(screen: SearchScreen) -> str:
    return screen.query_one("#search-input", Input).value


def status(screen: SearchScreen) -> str:
    return str(screen.query_one("#search-status", Static).render())


def footer_keys(screen: SearchScreen) -> set[str]:
    """The keys the footer shows now (a binding its screen refuses is not active)."""
    return {key for key, active in screen.active_bindings.items() if active.binding.show}


def prompts(screen: SearchScreen) -> list[str]:
    options = screen.query_one("#search-results", OptionList)
    return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]


async def test_typing_a_kind_filter_lights_its_chip(app: IncidentbookApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_search(app, pilot)
        await pilot.press(*"kind:postmortem")
        await settle(pilot)
        assert lit(screen) == {"postmortem"} == screen.kinds
        await pilot.press(*["backspace"] * len("postmortem"))
        await settle(pilot)
        assert lit(screen) == set()
        await pilot.press(*"runbooks,incident retry")  # an alias, and two kinds
        await settle(pilot)
        assert query_text(screen) == "kind:runbooks,incident retry"
        assert lit(screen) == {"runbook", "incident"}
        assert screen.hits and {h.kind for h in screen.hits} <= {"runbook", "incident"}
        await pilot.press(*" Kind:alerts")  # field names in any case, as the search reads them
        await settle(pilot)
        assert lit(screen) == {"runbook", "incident", "alert_group"}


async def test_a_chip_edits_the_query_text(app: IncidentbookApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_search(app, pilot)
        await pilot.press(*"idempotency")
        await settle(pilot)
        await pilot.press("f5")  # postmortems
        await settle(pilot)
        assert query_text(screen) == "idempotency kind:postmortem"
        assert lit(screen) == {"postmortem"}
        await pilot.press("f2")  # incidents: another value of the same filter
        await settle(pilot)
        assert query_text(screen) == "idempotency kind:postmortem,incident"
        assert lit(screen) == {"postmortem", "incident"}
        assert screen.hits and {h.kind for h in screen.hits} <= {"postmortem", "incident"}
        await pilot.press("f5")
        await settle(pilot)
        assert query_text(screen) == "idempotency kind:incident"
        assert lit(screen) == {"incident"}
        assert {h.kind for h in screen.hits} == {"incident"}
        await pilot.press("f2")
        await settle(pilot)
        assert query_text(screen) == "idempotency"
        assert lit(screen) == set()
        # typing goes on at the end of the edited text
        await pilot.press(*" check")
        await settle(pilot)
        assert query_text(screen) == "idempotency check"


async def test_a_typo_gets_did_you_mean_and_enter_takes_it(app: IncidentbookApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_search(app, pilot)
        await pilot.press(*"procesor")  # the seed's incident says "processor"
        await settle(pilot)
        assert screen.hits == []
        assert screen.suggestion == "processor"
        assert "did you mean: processor?" in status(screen)
        assert footer_keys(screen) >= {"f7"}
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, SearchScreen)  # nothing was opened
        assert query_text(screen) == "processor"
        assert screen.suggestion is None and "did you mean" not in status(screen)
        assert "f7" not in footer_keys(screen)
        assert [h.title for h in screen.hits if h.kind == "incident"] == [
            "Duplicate postings from processor webhooks"
        ]


async def test_f7_takes_did_you_mean_while_other_words_find_hits(
    app: IncidentbookApp,
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_search(app, pilot)
        await pilot.press(*"procesor webhooks kind:incident")
        await settle(pilot)
        assert screen.hits  # "webhooks" alone finds the incident
        assert screen.suggestion == "processor webhooks kind:incident"
        assert "(F7)" in status(screen)
        await pilot.press("f7")
        await settle(pilot)
        assert query_text(screen) == "processor webhooks kind:incident"
        assert screen.suggestion is None
        await pilot.press(*" qzxvjwk")  # nothing near: no suggestion
        await settle(pilot)
        assert screen.suggestion is None and "did you mean" not in status(screen)


async def test_snippets_are_clean_text_with_money_formatted(app: IncidentbookApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_search(app, pilot)
        await pilot.press(*'"acc-00001" kind:alert')
        await settle(pilot)
        assert [h.doc_id for h in screen.hits] == ["balance_mismatch"]
        shown = prompts(screen)[0]
        # the seed's acc-00001: JPY, stored - derived = -2 x 1,234,567 yen (no minor digits)
        assert "delta: \u22122,469,134 JPY" in shown
        assert "2469134" not in shown
        await pilot.press(*["backspace"] * len(query_text(screen)))
        await pilot.press(*"balance kind:runbook")
        await settle(pilot)
        assert screen.hits
        for prompt in prompts(screen):
            snippet = prompt.split("\n", 1)[1]
            for mark in ("|", "# ", "**", "`", "<!--"):
                assert mark not in snippet, (mark, snippet)
