"""The Health view's panels are a typed list of functions that render the core's data."""

from __future__ import annotations

from incidentbook.services import Services
from incidentbook.ui.screens.health import HEALTH_PANELS, action_items_panels, reconciler_panels


def test_every_panel_renders_titled_text(seeded_services: Services) -> None:
    assert [reconciler_panels, action_items_panels] == HEALTH_PANELS
    titles = []
    for panels in HEALTH_PANELS:
        for title, body in panels(seeded_services):
            assert isinstance(title, str) and isinstance(body, str) and body
            titles.append(title)
    assert titles == ["Reconciler", "Action items"]


def test_panels_show_what_the_core_returns(seeded_services: Services) -> None:
    (_title, body), = reconciler_panels(seeded_services)
    assert body == "never run\n\nincidentbook reconcile"  # the seeded workspace has no run
    counts = seeded_services.documents.action_counts()
    (_title, body), = action_items_panels(seeded_services)
    shown = {line.split()[0]: int(line.split()[1]) for line in body.splitlines()}
    assert shown == {name: counts.get(name, 0) for name in ("open", "overdue", "done", "dropped")}
