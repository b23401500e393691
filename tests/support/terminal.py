"""A real terminal for tests: ``Tmux`` runs a command in a tmux session on a private server
(its own socket, so no other tmux is touched), sends it keys, reads the pane, and waits for
words to appear with a bounded poll (a deadline, never a fixed sleep)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

POLL_S = 0.1  # how often the pane is read while waiting
# Under pytest COLUMNS=80 and LINES=24 are in the environment, and Textual takes them over the
# terminal's size: the server (and so the app) must not inherit them.
SIZE_VARIABLES = ("COLUMNS", "LINES")


class Tmux:
    """One tmux session on a private server; ``close`` ends that server (and only it)."""

    def __init__(self, width: int = 100, height: int = 30) -> None:
        assert shutil.which("tmux"), "tmux is required (scripts/ensure-system-packages)"
        self.socket = f"ib-test-{uuid.uuid4().hex[:8]}"
        self.session = "walk"
        self.width, self.height = width, height

    def _tmux(self, *args: str) -> str:
        env = {k: v for k, v in os.environ.items() if k not in SIZE_VARIABLES}
        done = subprocess.run(
            ["tmux", "-L", self.socket, *args],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        return done.stdout

    def start(self, command: str, cwd: Path) -> None:
        """Run ``command`` (a shell line) in a new detached session of the given size."""
        self._tmux(
            "new-session", "-d", "-s", self.session, "-x", str(self.width),
            "-y", str(self.height), "-c", str(cwd), command,
        )  # fmt: skip
        # A server with no client sizes its windows by its own rule (80x24): fix the size.
        self.resize(self.width, self.height)

    def resize(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self._tmux("resize-window", "-t", self.session, "-x", str(width), "-y", str(height))

    def keys(self, *keys: str) -> None:
        """Press keys by tmux's names ("Enter", "Escape", "F9", "a", "A")."""
        for key in keys:
            self._tmux("send-keys", "-t", self.session, key)

    def type(self, text: str) -> None:
        """Type text literally, character by character as a keyboard would."""
        self._tmux("send-keys", "-t", self.session, "-l", text)

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", self.session)

    def wait_until(self, ready: Callable[[str], bool], what: str, timeout: float = 60.0) -> str:
        """Read the pane until ``ready(screen)``; fail with the last screen at the deadline."""
        deadline = time.monotonic() + timeout
        screen = self.screen()
        while not ready(screen):
            if time.monotonic() > deadline:
                raise AssertionError(f"never saw {what}; the screen was:\n{screen}")
            time.sleep(POLL_S)
            screen = self.screen()
        return screen

    def wait_for(self, *needles: str, absent: Sequence[str] = (), timeout: float = 60.0) -> str:
        """Read the pane until every needle is on it and none of ``absent`` is."""
        return self.wait_until(
            lambda s: all(n in s for n in needles) and not any(a in s for a in absent),
            f"{list(needles)!r}" + (f" without {list(absent)!r}" if absent else ""),
            timeout,
        )

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)
