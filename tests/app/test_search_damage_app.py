"""Issue 16: the app's search on a damaged index answers (no traceback, no failed worker),
from an index rebuilt from its sources, and says so once in a notification."""

from __future__ import annotations

from incidentbook.core import search as S
from incidentbook.services import Services
from incidentbook.settings import Settings
from incidentbook.ui.app import IncidentbookApp
from incidentbook.ui.screens.search import SearchScreen
from tests.support.app import settle
from tests.support.search_damage import DAMAGES, PM

SIZE = (140, 40)


async def test_search_screen_heals_a_damaged_index(
    app: IncidentbookApp, app_settings: Settings, seeded_services: Services
) -> None:
    (app_settings.postmortems_dir / "pm-0042.md").write_text(PM, encoding="utf-8")
    S.ensure_fresh(app_settings, seeded_services.db)
    S.close_searchers()
    DAMAGES[0].apply(app_settings.workspace)  # a truncated table of contents
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SearchScreen)
        for char in "xylophonereversal":
            await pilot.press(char)
        await settle(pilot)
        assert [(h.kind, h.doc_id) for h in screen.hits] == [("postmortem", "PM-0042")]
        notes = [n.message for n in app._notifications]
        healed = [m for m in notes if m.startswith("search index damaged (")]
        assert len(healed) == 1 and "rebuilt from sources" in healed[0], notes
