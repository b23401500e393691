"""Creating a workspace: ``incidentbook init DIR``. Re-running it keeps every existing file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from incidentbook.errors import WorkspaceError
from incidentbook.settings import CONFIG_NAME, STATE_DIR_NAME

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

[server]
listen = "127.0.0.1:9797"
# Bearer token for `incidentbook serve`; INCIDENTBOOK_TOKEN overrides it.
token = ""

[runbooks]
review_max_age_days = 90
"""

GITIGNORE = ".incidentbook/\n"


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
            _write_new(config, DEFAULT_CONFIG)
            created.append(CONFIG_NAME)
        gitignore = root / ".gitignore"
        if not gitignore.exists():
            _write_new(gitignore, GITIGNORE)
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


def _write_new(path: Path, text: str) -> None:
    """Write via a temp file and rename, so a crash never leaves half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
