"""The app runs with its own garbage-collector thresholds and gives the previous ones back."""

from __future__ import annotations

import gc

from incidentbook.ui.app import GC_THRESHOLDS, IncidentbookApp
from tests.support.app import settle


async def test_the_app_sets_its_gc_thresholds_and_restores_them(app: IncidentbookApp) -> None:
    before = gc.get_threshold()
    assert before != GC_THRESHOLDS
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert gc.get_threshold() == GC_THRESHOLDS
    assert gc.get_threshold() == before
