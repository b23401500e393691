"""The JSON-lines log rotates by size, safely when several processes write at once (real
subprocesses across many rotations: no line lost, none corrupt), at the level of
``INCIDENTBOOK_LOG_LEVEL`` (or ``[log] level``), and never breaks a command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.cli import Cli

WRITER = r"""
import sys
from pathlib import Path
from incidentbook.obs import LogOptions, configure_logging, log_info

logs, who, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
configure_logging(logs, LogOptions(max_bytes=8192, backups=1000))
sys.stdin.readline()  # every writer starts on the same word
for n in range(count):
    log_info("test.line", who=who, n=n, pad="x" * 200)
"""


def _lines(logs: Path) -> list[str]:
    return [
        line
        for path in sorted(logs.glob("incidentbook.jsonl*"))
        for line in path.read_text(encoding="utf-8").splitlines()
    ]


def test_writers_in_several_processes_across_rotations_lose_and_corrupt_no_line(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    logs = tmp_path / "logs"
    writers, count = 4, 400
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(logs), f"w{i}", str(count)],
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=subprocess_env,
        )
        for i in range(writers)
    ]
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0 and err == "", err
    files = sorted(logs.glob("incidentbook.jsonl*"))
    assert len(files) > 20  # ~400 KB at 8 KB a file: it rotated many times
    records = [json.loads(line) for line in _lines(logs)]  # every line is whole JSON
    seen = [(r["who"], r["n"]) for r in records]
    assert len(seen) == writers * count
    assert set(seen) == {(f"w{i}", n) for i in range(writers) for n in range(count)}
    for path in files:  # a file rotates near its size, not far past it
        assert path.stat().st_size < 8192 + 2048, path


def test_old_files_beyond_backups_are_deleted(tmp_path: Path) -> None:
    from incidentbook.obs import LogOptions, configure_logging, log_info, reset_logging

    logs = tmp_path / "logs"
    configure_logging(logs, LogOptions(max_bytes=4096, backups=2))
    try:
        for n in range(200):
            log_info("test.line", n=n, pad="y" * 100)
    finally:
        reset_logging()
    names = sorted(p.name for p in logs.glob("incidentbook.jsonl*"))
    assert names == ["incidentbook.jsonl", "incidentbook.jsonl.1", "incidentbook.jsonl.2"]
    kept = [json.loads(line)["n"] for line in _lines(logs)]
    assert kept and max(kept) == 199 and all(isinstance(n, int) for n in kept)


def _log_records(workspace: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in _lines(workspace / ".incidentbook" / "logs")]


def test_the_level_comes_from_the_environment(cli: Cli) -> None:
    quiet = {"INCIDENTBOOK_LOG_LEVEL": "error"}
    assert cli("incident", "open", "--title", "t", env=quiet).exit_code == 0
    assert cli("incident", "show", "INC-0099", env=quiet).exit_code == 2
    events = [r["event"] for r in _log_records(cli.workspace)]
    assert events == ["command_failed"]  # incident.opened is info: below the level
    loud = {"INCIDENTBOOK_LOG_LEVEL": "info"}
    assert cli("incident", "note", "INC-0001", "n", env=loud).exit_code == 0
    assert [r["event"] for r in _log_records(cli.workspace)][-1] == "incident.note_added"


def test_the_level_comes_from_the_file_too(cli: Cli) -> None:
    config = cli.workspace / "incidentbook.toml"
    text = config.read_text()
    assert '\n[log]\n' in text and '\nlevel = "info"\n' in text  # as init writes it
    config.write_text(text.replace('\nlevel = "info"\n', '\nlevel = "warning"\n'))
    assert cli("incident", "open", "--title", "t").exit_code == 0
    assert _log_records(cli.workspace) == []


def test_a_bad_level_is_one_line_exit_2_naming_the_variable(cli: Cli) -> None:
    result = cli("incident", "list", env={"INCIDENTBOOK_LOG_LEVEL": "verbose"})
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "incidentbook: error: INCIDENTBOOK_LOG_LEVEL: [log] level is 'verbose': input should be"
        " 'debug', 'info', 'warning', 'error' or 'critical'"
    ]
