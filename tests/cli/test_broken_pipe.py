"""`incidentbook ... | head` stops quietly when the reader goes away: no "internal error"."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.cli import venv_bin


def test_a_closed_pipe_is_not_an_internal_error(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    exe = venv_bin("incidentbook")
    subprocess.run([exe, "init", str(workspace)], check=True, capture_output=True)
    for n in range(40):
        subprocess.run(
            [exe, "-w", str(workspace), "incident", "open", "--title", f"incident {n} " + "x" * 80],
            check=True,
            capture_output=True,
        )
    # `head -c 1` reads one byte and exits; the list is longer than the pipe's buffer only
    # with many lines, so read the pipe ourselves and close it after the first line.
    proc = subprocess.Popen(
        [exe, "-w", str(workspace), "incident", "list", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(10)
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert "internal error" not in stderr and "Traceback" not in stderr
    assert stderr == ""
    # all of it may have fit in the pipe before it closed (0); if not, as SIGPIPE ends a tool
    assert proc.returncode in (0, 141)


def test_a_reader_gone_before_any_output_exits_141_not_1(tmp_path: Path) -> None:
    """The reader is gone before the first write: the write fails for sure. The status is the
    one a shell gives a tool SIGPIPE ended (git's, cat's), not 1, which scripts read as
    findings (issue 16)."""
    workspace = tmp_path / "ws"
    exe = venv_bin("incidentbook")
    subprocess.run([exe, "init", str(workspace)], check=True, capture_output=True)
    proc = subprocess.Popen(
        [exe, "-w", str(workspace), "stats"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert stderr == ""
    assert proc.returncode == 141
