"""Settings: one immutable object, read from a workspace's ``incidentbook.toml``, that the CLI,
the app and the tests share. Where the workspace is comes from ``workspace``.

Nothing here touches the disk at import time; ``load_settings`` reads ``incidentbook.toml``.
"""

from __future__ import annotations

import getpass
import os
import re
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


    @property
    def change_window_s(self) -> int:
        """``[alerts] change_window``: how far before an incident's first bad entry (or first
        alert) its deploy context reaches: seconds, or text like "90m", "2h", "1h30m"."""
        return parse_window(self.section("alerts").get("change_window", "2h"))


_WINDOW_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
WINDOW_MAX_S = 7 * 86400


def parse_window(value: Any, where: str = "[alerts] change_window") -> int:
    """A duration of at least 1 s and at most 7 days: an integer of seconds, or text of
    number-unit parts ("2h", "90m", "1h30m", "45s"); anything else is a WorkspaceError."""
    seconds: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    elif isinstance(value, str):
        text = value.strip().lower()
        parts = re.findall(r"(\d+)\s*([smhd])", text)
        if parts and re.fullmatch(r"(\s*\d+\s*[smhd])+\s*", text):
            seconds = sum(int(n) * _WINDOW_UNITS[u] for n, u in parts)
        elif text.isdigit():
            seconds = int(text)
    if seconds is None or not 1 <= seconds <= WINDOW_MAX_S:
        raise WorkspaceError(
            f"{where} is {value!r}: give a duration from 1s to 7d, like \"2h\" or \"90m\""
        )
    return seconds


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
