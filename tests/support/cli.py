"""Driving the CLI from tests: ``Cli`` (the real click command, in process, against one
workspace), ``venv_bin`` (a console script of the running environment), ``REPO_ROOT`` and
``event_count`` (the workspace's events: proof that a refusal wrote nothing)."""

from __future__ import annotations

import json
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from incidentbook.cli import cli

REPO_ROOT = Path(__file__).resolve().parent.parent.parent


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
        argv = (["--workspace", str(self.workspace)] if workspace else []) + list(args)
        runner = CliRunner()
        return runner.invoke(cli, argv, input=input, env=env, catch_exceptions=False)

    def json(self, *args: str, **kwargs: Any) -> Any:
        result = self(*args, "--json", **kwargs)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)


def venv_bin(name: str) -> str:
    """Path of a console script in the running interpreter's environment."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def event_count(workspace: Path) -> int:
    """How many events the workspace's state database holds (0 before it exists)."""
    db = workspace / ".incidentbook" / "state.sqlite"
    if not db.exists():
        return 0
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
    finally:
        conn.close()
