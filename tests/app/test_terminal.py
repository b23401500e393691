"""`make run` in a real terminal (tmux): it reaches the Triage screen and answers keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import REPO_ROOT
from tests.support.terminal import Tmux

pytestmark = pytest.mark.slow


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    terminal = Tmux(140, 40)
    yield terminal
    terminal.close()


def test_make_run_reaches_triage_in_a_real_terminal(tmp_path: Path, tmux: Tmux) -> None:
    workspace = tmp_path / "demo"
    tmux.start(
        f"make -s run WORKSPACE={workspace} DEMO_ARGS='--accounts 500 --days 3'; "
        "echo APP-EXITED-$?; sleep 60",
        REPO_ROOT,
    )
    screen = tmux.wait_for("Alert groups (firing)", "Open incidents", "Help", timeout=180)
    assert "incidentbook" in screen
    tmux.keys("?")
    tmux.wait_for("This screen", "opens the command palette")
    tmux.keys("Escape")
    # Triage shows around the help dialog too: wait until the dialog itself is gone
    tmux.wait_for("Open incidents", absent=["opens the command palette"])
    tmux.keys("q")
    tmux.wait_for("APP-EXITED-0")
    assert (workspace / "incidentbook.toml").is_file()
    assert (workspace / ".incidentbook" / "demo-built").is_file()
