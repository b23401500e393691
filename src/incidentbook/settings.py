"""Settings: one immutable object, read from a workspace's ``incidentbook.toml``, that the CLI,
the app and the tests share. Where the workspace is comes from ``workspace``.

Nothing here touches the disk at import time; ``load_settings`` reads ``incidentbook.toml`` and
checks it (``incidentbook.config``'s pydantic models), once per content: a file checked before,
with no setting in the environment, is taken as checked (``.incidentbook/config.checked``
holds the digest of the file and of the models), so the app's first paint does not wait on
pydantic (~100 ms of CPU to import and build the models).
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from incidentbook.clock import Clock, utc_now
from incidentbook.errors import IncidentbookError, WorkspaceError
from incidentbook.fs import atomic_write
from incidentbook.workspace import CONFIG_NAME, STATE_DB_NAME, STATE_DIR_NAME, resolve_workspace

# Types only: pydantic is imported when a setting is first checked or read, not on import.
if TYPE_CHECKING:
    from incidentbook.config import Config

ENV_ACTOR = "INCIDENTBOOK_ACTOR"
# INCIDENTBOOK_ variables that are not settings (every other one may be: INCIDENTBOOK_LOG_LEVEL)
NOT_SETTINGS = frozenset(
    {"INCIDENTBOOK_WORKSPACE", ENV_ACTOR, "INCIDENTBOOK_CORRELATION_ID", "INCIDENTBOOK_PG_BIN"}
)
CHECKED_STAMP = "config.checked"  # in the state directory


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
        # Deferred: pydantic, on the first setting read (after the app's first paint).
        from incidentbook.config import validate_config

        return validate_config(self.config)

    def origin(self, section: str, key: str) -> str:
        """Where a setting came from, to name in an error: its variable, or the file."""
        return self.sources.get((section, key), CONFIG_NAME)

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
    return _parsed(workspace, _config_bytes(workspace))


def _config_bytes(workspace: Path) -> bytes:
    path = workspace / CONFIG_NAME
    try:
        return path.read_bytes()
    except OSError as exc:
        raise WorkspaceError(f"{path}: cannot read: {exc.strerror}") from None


def _parsed(workspace: Path, data: bytes) -> dict[str, Any]:
    try:
        return tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise WorkspaceError(f"{workspace / CONFIG_NAME}: invalid TOML: {exc}") from None


def _digest(data: bytes) -> str:
    """What a check of ``data`` depends on: the file and the models that check it."""
    models = Path(__file__).with_name("config.py").read_bytes()
    return hashlib.sha256(len(data).to_bytes(8, "big") + data + models).hexdigest()


def checked_config(
    workspace: Path, environ: Mapping[str, str] = os.environ
) -> tuple[dict[str, Any], dict[tuple[str, str], str]]:
    """The workspace's settings, checked (the environment over the file), and which variable
    set which: a bad one is a one-line UsageError. Checked once per content of the file."""
    data = _config_bytes(workspace)
    raw = _parsed(workspace, data)
    stamp = workspace / STATE_DIR_NAME / CHECKED_STAMP
    from_env = any(n.startswith("INCIDENTBOOK_") and n not in NOT_SETTINGS for n in environ)
    if not from_env:
        digest = _digest(data)
        with contextlib.suppress(OSError, UnicodeDecodeError):
            if stamp.read_text(encoding="utf-8") == digest:
                return raw, {}
    # Deferred: pydantic and the models (see the module's docstring).
    from incidentbook.config import load_config

    config, sources = load_config(raw, environ)
    if not from_env and stamp.parent.is_dir():
        with contextlib.suppress(OSError, IncidentbookError):
            atomic_write(stamp, digest)
    return config, sources


def load_settings(
    workspace: str | os.PathLike[str] | None = None,
    *,
    actor: str | None = None,
    clock: Clock | None = None,
    cwd: Path | None = None,
) -> Settings:
    root = resolve_workspace(workspace, cwd=cwd)
    config, sources = checked_config(root)  # a bad setting: one line
    return Settings(
        workspace=root,
        config=config,
        sources=sources,
        actor=actor or default_actor(),
        clock=clock or utc_now,
    )
