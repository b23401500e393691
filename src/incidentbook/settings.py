"""Settings: one immutable object, read from a workspace's ``incidentbook.toml``, that the CLI,
the app and the tests share. Where the workspace is comes from ``workspace``.

Nothing here touches the disk at import time; ``load_settings`` reads ``incidentbook.toml``.
"""

from __future__ import annotations

import getpass
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from incidentbook.clock import Clock, utc_now
from incidentbook.config import CONFIG_FILE, Config, load_config, validate_config
from incidentbook.errors import WorkspaceError
from incidentbook.workspace import CONFIG_NAME, STATE_DB_NAME, STATE_DIR_NAME, resolve_workspace

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
    # (section, key) -> the variable that set it (the rest came from the file or defaults)
    sources: Mapping[tuple[str, str], str] = field(default_factory=dict)

    @property
    def state_dir(self) -> Path:
        return self.workspace / STATE_DIR_NAME

    @property
    def db_path(self) -> Path:
        return self.state_dir / STATE_DB_NAME

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

    @cached_property
    def values(self) -> Config:
        """The checked settings (``incidentbook.config``): every section's model."""
        return validate_config(self.config)

    def origin(self, section: str, key: str) -> str:
        """Where a setting came from, to name in an error: its variable, or the file."""
        return self.sources.get((section, key), CONFIG_FILE)

    def section(self, name: str) -> dict[str, Any]:
        """A section's keys as the file (and the environment) gave them, without defaults."""
        value = self.config.get(name, {})
        return value if isinstance(value, dict) else {}

    @property
    def timezone(self) -> str:
        return self.values.workspace.timezone

    @property
    def ledger_url(self) -> str:
        """The ledger's SQLAlchemy URL; a relative SQLite path is relative to the workspace."""
        url = self.values.ledger.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/"):
            return prefix + str(self.workspace / url[len(prefix) :])
        return url

    @property
    def token(self) -> str | None:
        return self.values.server.token or None

    @property
    def alert_group_by(self) -> list[str]:
        return self.values.alerts.group_labels

    @property
    def change_window_s(self) -> int:
        """``[alerts] change_window``: how far before an incident's first bad entry (or first
        alert) its deploy context reaches: seconds, or text like "90m", "2h", "1h30m"."""
        return self.values.alerts.change_window_s


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
    config, sources = load_config(read_config(root), os.environ)  # a bad one: one line
    return Settings(
        workspace=root,
        config=config,
        sources=sources,
        actor=actor or default_actor(),
        clock=clock or utc_now,
    )
