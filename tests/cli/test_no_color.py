"""Shell conventions (issue 15): ``NO_COLOR`` and a non-TTY stdout give plain output. The real
command in a subprocess, its stdout (or stderr) a pipe or a pseudo-terminal (``pty``), so the
test sees exactly the bytes a terminal would; ``--version`` keeps working under both."""

from __future__ import annotations

import json
import os
import pty
import subprocess
from pathlib import Path

import pytest

from incidentbook import __version__
from tests.support.cli import venv_bin

ESC = b"\x1b["


def _env(no_color: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "INCIDENTBOOK_WORKSPACE")}
    env["TERM"] = "xterm-256color"
    if no_color:
        env["NO_COLOR"] = "1"
    return env


def _on_a_tty(args: list[str], env: dict[str, str], stream: str = "stdout") -> bytes:
    """Run with ``stream`` on a pseudo-terminal (the other one a pipe); what it wrote there."""
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            args,
            stdout=follower if stream == "stdout" else subprocess.PIPE,
            stderr=follower if stream == "stderr" else subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        os.close(follower)
        out = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child closed its end
                break
            if not chunk:
                break
            out += chunk
        assert proc.wait(timeout=120) == 0, out
        return out
    finally:
        os.close(leader)


@pytest.fixture
def searchable(tmp_path: Path) -> tuple[str, Path]:
    exe = venv_bin("incidentbook")
    workspace = tmp_path / "ws"
    subprocess.run([exe, "init", str(workspace)], check=True, capture_output=True)
    subprocess.run(
        [exe, "-w", str(workspace), "incident", "open", "--title", "webhook retries doubled fees"],
        check=True,
        capture_output=True,
    )
    return exe, workspace


def test_search_is_plain_under_no_color_and_in_a_pipe(searchable: tuple[str, Path]) -> None:
    exe, workspace = searchable
    args = [exe, "-w", str(workspace), "search", "webhook"]
    # A terminal without NO_COLOR gets colour (so the tests below prove something).
    coloured = _on_a_tty(args, _env(no_color=False))
    assert ESC in coloured and b"webhook retries doubled fees" in coloured
    plain = _on_a_tty(args, _env(no_color=True))
    assert ESC not in plain and b"webhook retries doubled fees" in plain
    assert b"**webhook**" in plain  # matches marked in text, not in bold
    piped = subprocess.run(args, capture_output=True, env=_env(no_color=False), check=True)
    assert ESC not in piped.stdout and b"**webhook**" in piped.stdout


def test_ingest_progress_bar_only_on_a_terminal_without_no_color(
    searchable: tuple[str, Path], tmp_path: Path
) -> None:
    exe, workspace = searchable
    lines = tmp_path / "alerts.jsonl"
    alert = {"source": "test", "name": "Fees", "status": "firing", "severity": "warning",
             "summary": "fees", "starts_at": "2026-10-17T01:00:00Z"}  # fmt: skip
    lines.write_text(
        "\n".join(json.dumps({**alert, "fingerprint": f"fp-{i}"}) for i in range(300)) + "\n"
    )
    args = [exe, "-w", str(workspace), "alerts", "ingest", str(lines), "--batch", "50"]
    bar = _on_a_tty(args, _env(no_color=False), stream="stderr")
    assert ESC in bar  # rich's bar, drawn and cleared on the terminal
    quiet = _on_a_tty([*args[:-2], "--batch", "60"], _env(no_color=True), stream="stderr")
    assert ESC not in quiet and quiet.strip() == b""


@pytest.mark.parametrize("no_color", [False, True])
def test_version_keeps_working(no_color: bool) -> None:
    exe = venv_bin("incidentbook")
    piped = subprocess.run([exe, "--version"], capture_output=True, env=_env(no_color), check=True)
    assert piped.stdout.decode().strip() == f"incidentbook, version {__version__}"
    on_tty = _on_a_tty([exe, "--version"], _env(no_color))
    assert on_tty.decode().strip() == f"incidentbook, version {__version__}"
