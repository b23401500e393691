"""Shared fixtures: a real workspace on disk, a controllable clock, services, the CLI."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from incidentbook.context import Context
from incidentbook.obs import reset_logging
from incidentbook.services import Services, make_services
from incidentbook.settings import Settings, read_config
from incidentbook.workspace import init_workspace

REPO_ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 10, 17, 2, 14, 0, tzinfo=UTC)


class FakeClock:
    """Deterministic UTC time: each reading advances by ``step`` (default one second)."""

    def __init__(self, start: datetime = T0, step: timedelta = timedelta(seconds=1)) -> None:
        self.now = start
        self.step = step
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            current = self.now
            self.now = current + self.step
            return current

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self.now += delta


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


@dataclass
class Cli:
    """The real click command, in process, against one workspace."""

    workspace: Path

    def __call__(
        self,
        *args: str,
        input: str | None = None,
        env: dict[str, str] | None = None,
        workspace: bool = True,
    ) -> Result:
        from incidentbook.cli import cli

        argv = (["--workspace", str(self.workspace)] if workspace else []) + list(args)
        runner = CliRunner()
        return runner.invoke(cli, argv, input=input, env=env, catch_exceptions=False)

    def json(self, *args: str, **kwargs: Any) -> Any:
        result = self(*args, "--json", **kwargs)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)


@pytest.fixture
def cli(workspace: Path) -> Cli:
    return Cli(workspace)


def venv_bin(name: str) -> str:
    """Path of a console script in the running interpreter's environment."""
    import sys

    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("INCIDENTBOOK_WORKSPACE", None)
    return env
