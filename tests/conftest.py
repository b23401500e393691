"""Shared fixtures: an isolated environment, a real workspace on disk, a controllable clock,
services, a context, the CLI and a clean subprocess environment (plain helpers live in
``tests/support`` and ``incidentbook.testing``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from incidentbook.config import SECTIONS
from incidentbook.context import Context
from incidentbook.obs import reset_logging
from incidentbook.services import Services, make_services
from incidentbook.settings import Settings, read_config
from incidentbook.testing.clocks import FakeClock
from incidentbook.workspace import init_workspace
from tests.support.cli import Cli


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test reads the developer's workspace, token or actor from the environment."""
    for name in (
        "INCIDENTBOOK_WORKSPACE",
        "INCIDENTBOOK_TOKEN",
        "INCIDENTBOOK_ACTOR",
        "INCIDENTBOOK_CORRELATION_ID",
    ):
        monkeypatch.delenv(name, raising=False)
    for name in list(os.environ):  # nor a setting (INCIDENTBOOK_<SECTION>_<KEY>)
        if name.startswith("INCIDENTBOOK_") and name.split("_")[1].lower() in SECTIONS:
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    yield
    reset_logging()


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return init_workspace(tmp_path / "ws").workspace


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(workspace: Path, clock: FakeClock) -> Settings:
    return Settings(
        workspace=workspace, config=read_config(workspace), actor="user:test", clock=clock
    )


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    svc = make_services(settings)
    yield svc
    svc.db.dispose()


@pytest.fixture
def ctx(services: Services) -> Context:
    return services.context(correlation_id="corr-test")


@pytest.fixture
def cli(workspace: Path) -> Cli:
    return Cli(workspace)


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("INCIDENTBOOK_WORKSPACE", None)
    return env
