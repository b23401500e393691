"""A workspace on disk: its layout, ``incidentbook init DIR`` (re-running it keeps every existing
file), and finding it (DESIGN §2: ``--workspace``, the environment, discovery, user data)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from incidentbook.errors import WorkspaceError
from incidentbook.fs import atomic_write

DEFAULT_CONFIG = """\
# incidentbook workspace configuration
[workspace]
# Days ("audit --on DATE") and displayed times use this IANA time zone.
timezone = "UTC"

[ledger]
# SQLAlchemy URL of the ledger to reconcile and audit. A relative SQLite path is
# relative to this workspace. PostgreSQL: "postgresql+psycopg://user@host/db".
url = "sqlite:///.incidentbook/ledger.sqlite"

[reconciler]
# Tolerance for clock_skew findings and the incremental overlap window, in seconds.
clock_skew_tolerance_s = 300
overlap_window_s = 600
# Complete runs per ledger whose findings are kept; older runs keep only their summary.
keep_runs = 20

[alerts]
# Alerts group into incident candidates by these label names (like Alertmanager's group_by).
group_by = ["alertname"]
# How far before an incident's first bad entry (or first alert) its deploy context reaches:
# the change events (deploys, config changes) shown with it ("90m", "2h", "1h30m").
change_window = "2h"

[server]
listen = "127.0.0.1:9797"
# Bearer token for `incidentbook serve`; INCIDENTBOOK_TOKEN overrides it.
token = ""

[runbooks]
review_max_age_days = 90

[log]
# The JSON-lines log in .incidentbook/logs/ (INCIDENTBOOK_LOG_LEVEL overrides the level); it
# rotates at max_bytes and keeps this many old files.
level = "info"
max_bytes = 10485760
backups = 5

# Every setting can come from the environment: INCIDENTBOOK_<SECTION>_<KEY>, e.g.
# INCIDENTBOOK_LEDGER_URL, so a password need not sit in this file.
#
# [app]
# theme = "nord"                  # a Textual theme
# [app.keys]
# "incident.resolve" = "ctrl+r"   # binding id = key(s), comma-separated
"""

GITIGNORE = ".incidentbook/\n"
CONFIG_NAME = "incidentbook.toml"
STATE_DIR_NAME = ".incidentbook"
STATE_DB_NAME = "state.sqlite"  # in STATE_DIR_NAME
ENV_WORKSPACE = "INCIDENTBOOK_WORKSPACE"


@dataclass(frozen=True)
class InitResult:
    workspace: Path
    created: list[str]

    @property
    def already_existed(self) -> bool:
        return not self.created


def init_workspace(directory: Path) -> InitResult:
    """Create the workspace layout; existing files are never overwritten."""
    root = directory.expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise WorkspaceError(f"{root} exists and is not a directory")
    created: list[str] = []
    try:
        root.mkdir(parents=True, exist_ok=True)
        for sub in ("runbooks", "postmortems", STATE_DIR_NAME, f"{STATE_DIR_NAME}/logs"):
            path = root / sub
            if not path.is_dir():
                path.mkdir(parents=True)
                created.append(sub + "/")
        config = root / CONFIG_NAME
        if not config.exists():
            atomic_write(config, DEFAULT_CONFIG)
            created.append(CONFIG_NAME)
        gitignore = root / ".gitignore"
        if not gitignore.exists():
            atomic_write(gitignore, GITIGNORE)
            created.append(".gitignore")
        elif ".incidentbook/" not in gitignore.read_text(encoding="utf-8").split():
            with gitignore.open("a", encoding="utf-8") as handle:
                handle.write("\n" + GITIGNORE)
            created.append(".gitignore (+.incidentbook/)")
    except PermissionError as exc:
        raise WorkspaceError(f"cannot create workspace at {root}: permission denied") from exc
    except OSError as exc:
        raise WorkspaceError(f"cannot create workspace at {root}: {exc.strerror}") from exc
    return InitResult(workspace=root, created=created)


def find_workspace(start: Path) -> Path | None:
    """The nearest directory at or above ``start`` holding ``incidentbook.toml``."""
    current = start.resolve()
    for candidate in (current, *current.parents):
        if (candidate / CONFIG_NAME).is_file():
            return candidate
    return None


def user_data_workspace() -> Path:
    # Deferred: platformdirs takes ~11 ms to import (python -X importtime), on the app's
    # first paint, and only this fallback needs it.
    import platformdirs

    return Path(platformdirs.user_data_dir("incidentbook", appauthor=False))


def resolve_workspace(explicit: str | os.PathLike[str] | None, cwd: Path | None = None) -> Path:
    """DESIGN §2: ``--workspace``, else ``$INCIDENTBOOK_WORKSPACE``, else discovery, else user data.

    An explicitly named workspace must exist; the user data fallback is created on first use.
    """
    named = explicit if explicit is not None else os.environ.get(ENV_WORKSPACE) or None
    if named is not None:
        path = Path(named).expanduser().resolve()
        if not (path / CONFIG_NAME).is_file():
            raise WorkspaceError(
                f"no workspace at {path} (no {CONFIG_NAME}); run: incidentbook init {path}"
            )
        return path
    found = find_workspace(cwd or Path.cwd())
    if found is not None:
        return found
    fallback = user_data_workspace()
    if not (fallback / CONFIG_NAME).is_file():
        init_workspace(fallback)
    return fallback
