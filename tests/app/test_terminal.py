"""`make run` in a real terminal (tmux): it reaches the Triage screen and answers keys."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import REPO_ROOT

pytestmark = pytest.mark.slow


def _pane(session: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True,
                          text=True, check=True).stdout


def _wait_for(session: str, *needles: str, timeout: float = 180.0) -> str:
    """Poll the real terminal until every needle is on screen (bounded)."""
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = _pane(session)
        if all(n in screen for n in needles):
            return screen
        time.sleep(0.25)
    raise AssertionError(f"never saw {needles!r}; the screen was:\n{screen}")


def _wait_until_gone(session: str, needle: str, timeout: float = 60.0) -> None:
    """Poll the real terminal until ``needle`` is no longer on screen (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if needle not in _pane(session):
            return
        time.sleep(0.25)
    raise AssertionError(f"{needle!r} stayed on screen:\n{_pane(session)}")


@pytest.fixture
def tmux_session() -> Iterator[str]:
    assert shutil.which("tmux"), "tmux is required (scripts/ensure-system-packages installs it)"
    name = f"ib-{uuid.uuid4().hex[:8]}"
    yield name
    subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)


def test_make_run_reaches_triage_in_a_real_terminal(tmp_path: Path, tmux_session: str) -> None:
    workspace = tmp_path / "demo"
    command = (f"make -s run WORKSPACE={workspace} DEMO_ARGS='--accounts 500 --days 3'; "
               "echo APP-EXITED-$?; sleep 60")
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", tmux_session, "-x", "140", "-y", "40", "-c",
         str(REPO_ROOT), command],
        check=True,
    )
    screen = _wait_for(tmux_session, "Alert groups (firing)", "Open incidents", "Help")
    assert "incidentbook" in screen
    subprocess.run(["tmux", "send-keys", "-t", tmux_session, "?"], check=True)
    _wait_for(tmux_session, "This screen", "opens the command palette")
    subprocess.run(["tmux", "send-keys", "-t", tmux_session, "Escape"], check=True)
    # the help gone before q is sent: an escape and a q read together are alt+q, not two keys
    _wait_until_gone(tmux_session, "This screen")
    subprocess.run(["tmux", "send-keys", "-t", tmux_session, "q"], check=True)
    _wait_for(tmux_session, "APP-EXITED-0", timeout=60)
    assert (workspace / "incidentbook.toml").is_file()
    assert (workspace / ".incidentbook" / "demo-built").is_file()
