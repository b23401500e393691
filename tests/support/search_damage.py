"""A workspace whose search index the test damages: documents with words only they hold
(the truth the tests check results against), and the kinds of damage issue 16 lists."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from incidentbook.context import Context
from incidentbook.resources import shipped_dir
from incidentbook.services import Services

# word -> (kind, id) of the one document that holds it
Truth = dict[str, tuple[str, str]]

PM = """---
id: PM-0042
kind: postmortem
title: Reversal entries duplicated
---
# Reversal entries duplicated

## Summary
The xylophonereversal job ran twice.
"""


def seed(services: Services, ctx: Context, workspace: Path) -> Truth:
    """Three incidents and a postmortem, each with a word no other document has."""
    truth: Truth = {}
    for word in ("quagmirefx", "marzipanledger", "obsidianclock"):
        incident = services.incidents.open(ctx, f"Incident about {word}", "error").incident.id
        services.incidents.add_note(ctx, incident, f"The {word} detail.")
        truth[word] = ("incident", incident)
    (workspace / "postmortems" / "pm-0042.md").write_text(PM, encoding="utf-8")
    truth["xylophonereversal"] = ("postmortem", "PM-0042")
    return truth


def expected_kinds(truth: Truth) -> dict[str, int]:
    """Documents per kind the index must hold: the test's own plus the shipped runbooks."""
    kinds: dict[str, int] = {}
    for kind, _id in truth.values():
        kinds[kind] = kinds.get(kind, 0) + 1
    kinds["runbook"] = len(list(shipped_dir("runbooks").rglob("*.md")))
    return kinds


def index_dir(workspace: Path) -> Path:
    return workspace / ".incidentbook" / "index"


def segments(workspace: Path) -> list[Path]:
    found = sorted(index_dir(workspace).glob("*.seg"))
    assert found, "the index has no segment files"
    return found


def _truncate_toc(ws: Path) -> None:
    for toc in index_dir(ws).glob("_MAIN_*.toc"):
        toc.write_bytes(toc.read_bytes()[:10])


def _garbage_toc(ws: Path) -> None:
    for toc in index_dir(ws).glob("_MAIN_*.toc"):
        toc.write_bytes(b"garbage, not a table of contents\n" * 3)


def _truncate_segments(ws: Path) -> None:
    for seg in segments(ws):
        seg.write_bytes(seg.read_bytes()[:100])


def _garbage_segments(ws: Path) -> None:
    for seg in segments(ws):
        seg.write_bytes(bytes(range(256)) * 20)


def _delete_segments(ws: Path) -> None:
    for seg in segments(ws):
        seg.unlink()


def _folder_is_a_file(ws: Path) -> None:
    shutil.rmtree(index_dir(ws))
    index_dir(ws).write_text("not an index\n", encoding="utf-8")


def _folder_emptied(ws: Path) -> None:
    for child in index_dir(ws).iterdir():
        child.unlink()


@dataclass(frozen=True)
class Damage:
    name: str
    apply: Callable[[Path], None]
    says: str  # what the one line names


DAMAGES = [
    Damage("truncated_toc", _truncate_toc, "table of contents is unreadable"),
    Damage("garbage_toc", _garbage_toc, "table of contents is unreadable"),
    Damage("truncated_segments", _truncate_segments, "unreadable"),
    Damage("garbage_segments", _garbage_segments, "unreadable"),
    Damage("deleted_segments", _delete_segments, "missing"),
    Damage("folder_is_a_file", _folder_is_a_file, "a file is where its folder belongs"),
    Damage("folder_emptied", _folder_emptied, "the index folder is empty"),
]

HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()
"""


def hold_flock(path: Path) -> subprocess.Popen[str]:
    """A process holding an ``flock`` on ``path`` (like a killed writer's orphaned child)
    until its stdin closes; returns once the lock is held."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def release(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(timeout=30)
