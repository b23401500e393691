"""App fixtures: a workspace seeded through the real services, with frozen time."""

from __future__ import annotations

import re
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest

from incidentbook.services import Services, make_services
from incidentbook.settings import Settings, read_config
from incidentbook.testing.clocks import T0, FakeClock
from incidentbook.ui.app import IncidentbookApp, make_app
from incidentbook.workspace import init_workspace
from tests.support.app_seed import ZONE, seed, seed_impact
from tests.support.health import tell_recovery, write_actions


@pytest.fixture
def frozen_clock() -> FakeClock:
    return FakeClock(T0 + timedelta(hours=1), step=timedelta(0))


@pytest.fixture
def app_settings(tmp_path: Path, frozen_clock: FakeClock) -> Settings:
    root = init_workspace(tmp_path / "ws").workspace
    return Settings(workspace=root, config=read_config(root), actor="user:ana", clock=frozen_clock)


@pytest.fixture
def seeded_services(app_settings: Settings) -> Services:
    services = make_services(app_settings)
    seed(services)
    return services


@pytest.fixture
def app(app_settings: Settings, seeded_services: Services) -> IncidentbookApp:
    return make_app(app_settings)



@pytest.fixture
def impact_settings(tmp_path: Path, frozen_clock: FakeClock) -> Settings:
    """A workspace in Berlin time (the bad-entry window is shown in it)."""
    root = init_workspace(tmp_path / "ws").workspace
    config = root / "incidentbook.toml"
    config.write_text(config.read_text().replace('timezone = "UTC"', f'timezone = "{ZONE}"'))
    return Settings(workspace=root, config=read_config(root), actor="user:ana", clock=frozen_clock)


@pytest.fixture
def impact_services(impact_settings: Settings) -> Services:
    services = make_services(impact_settings)
    seed(services)
    seed_impact(services)
    return services


@pytest.fixture
def impact_app(impact_settings: Settings, impact_services: Services) -> IncidentbookApp:
    return make_app(impact_settings)


@pytest.fixture
def health_services(seeded_services: Services) -> Services:
    """``seed``, then six full runs of a fix rolling out (an incremental run between each
    two) and a postmortem with two overdue action items."""
    tell_recovery(seeded_services)
    write_actions(seeded_services)
    return seeded_services


@pytest.fixture
def health_app(app_settings: Settings, health_services: Services) -> IncidentbookApp:
    return make_app(app_settings)


@pytest.fixture
def fixed_app_settings(request: pytest.FixtureRequest, frozen_clock: FakeClock) -> Settings:
    """``app_settings`` in a workspace whose path is the same on every run (the editor and
    the document viewer show a file's path, which a snapshot must not see change)."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name)
    where = Path(tempfile.gettempdir()) / "incidentbook-snapshots" / name
    shutil.rmtree(where, ignore_errors=True)
    root = init_workspace(where / "ws").workspace
    return Settings(workspace=root, config=read_config(root), actor="user:ana", clock=frozen_clock)


@pytest.fixture
def fixed_app(fixed_app_settings: Settings) -> IncidentbookApp:
    """``app`` (the seeded workspace) at a path that does not change between runs."""
    seed(make_services(fixed_app_settings))
    return make_app(fixed_app_settings)
