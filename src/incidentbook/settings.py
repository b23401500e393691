"""Settings: one immutable object, read from a workspace's ``incidentbook.toml``, that the CLI,
the app and the tests share. Where the workspace is comes from ``workspace``.

Nothing here touches the disk at import time; ``load_settings`` reads ``incidentbook.toml``.
"""

from __future__ import annotations

import getpass
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from incidentbook.clock import Clock, utc_now
from incidentbook.errors import WorkspaceError
from incidentbook.workspace import CONFIG_NAME, STATE_DIR_NAME, resolve_workspace

ENV_ACTOR = "INCIDENTBOOK_ACTOR"
ENV_TOKEN = "INCIDENTBOOK_TOKEN"


def default_actor() -> str:
    env_actor = os.environ.get(ENV_ACTOR)
    if env_actor:
        return env_actor
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        user = "unknown"
    return f"user:{user}"


@dataclass(frozen=True)
class Settings:
    """Everything a unit of work needs to know about where it runs and who runs it."""

    workspace: Path
    config: dict[str, Any] = field(default_factory=dict)
    actor: str = field(default_factory=default_actor)
    clock: Clock = utc_now

    @property
    def state_dir(self) -> Path:
        return self.workspace / STATE_DIR_NAME

    @property
    def db_path(self) -> Path:
        return self.state_dir / "state.sqlite"

    @property
    def index_dir(self) -> Path:
        return self.state_dir / "index"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def runbooks_dir(self) -> Path:
        return self.workspace / "runbooks"

    @property
    def postmortems_dir(self) -> Path:
        return self.workspace / "postmortems"

    @property
    def templates_dir(self) -> Path:
        return self.workspace / "templates"

    def section(self, name: str) -> dict[str, Any]:
        value = self.config.get(name, {})
        return value if isinstance(value, dict) else {}

    @property
    def timezone(self) -> str:
        return str(self.section("workspace").get("timezone", "UTC"))

    @property
    def ledger_url(self) -> str:
        """The ledger's SQLAlchemy URL; a relative SQLite path is relative to the workspace."""
        url = str(self.section("ledger").get("url", "sqlite:///.incidentbook/ledger.sqlite"))
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/"):
            return prefix + str(self.workspace / url[len(prefix) :])
        return url

    @property
    def token(self) -> str | None:
        env_token = os.environ.get(ENV_TOKEN)
        if env_token:
            return env_token
        configured = self.section("server").get("token")
        return str(configured) if configured else None

    @property
    def alert_group_by(self) -> list[str]:
        value = self.section("alerts").get("group_by", ["alertname"])
        return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def read_config(workspace: Path) -> dict[str, Any]:
    path = workspace / CONFIG_NAME
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise WorkspaceError(f"{path}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise WorkspaceError(f"{path}: cannot read: {exc.strerror}") from None


def load_settings(
    workspace: str | os.PathLike[str] | None = None,
    *,
    actor: str | None = None,
    clock: Clock | None = None,
    cwd: Path | None = None,
) -> Settings:
    root = resolve_workspace(workspace, cwd=cwd)
    return Settings(
        workspace=root,
        config=read_config(root),
        actor=actor or default_actor(),
        clock=clock or utc_now,
    )
