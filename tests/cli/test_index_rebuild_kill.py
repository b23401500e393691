"""Issue 16: ``kill -9`` of ``index rebuild`` while its indexing children run. The children die
with it and none keeps ``index.lock``: the next ``search`` answers at once (no "the search
index is busy"), finds what the test wrote, and ``verify`` is green."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from incidentbook.core import search as S
from incidentbook.services import Services
from incidentbook.settings import Settings
from tests.support.cli import REPO_ROOT, Cli

# The real command in a real process; the test hook prints a marker once the rebuild's
# children are indexing, then the rebuild goes on until the test kills it.
CHILD = textwrap.dedent(
    """
    import multiprocessing, sys
    from incidentbook.cli import cli
    from incidentbook.core.search import indexer

    calls = []

    def hook(name):
        if name == "rebuild_progress":
            calls.append(name)
            if len(calls) == 6:  # 300 documents: three batches handed to the children
                pids = [p.pid for p in multiprocessing.active_children()]
                print("children", *pids, flush=True)

    indexer.stage_hook = hook
    cli(["--workspace", sys.argv[1], "index", "rebuild", "--procs", "2"])
    """
)

WORDS = [f"w{n:04d}x" for n in range(3000)]


def _write_documents(workspace: Path, count: int) -> dict[str, str]:
    """Postmortem files with random text, each with a word only it holds: {word: id}."""
    rng = random.Random(16)
    folder = workspace / "postmortems"
    truth = {}
    for n in range(count):
        doc_id = f"PM-{n:04d}"
        marker = f"uniq{n:04d}marker"
        body = " ".join(rng.choice(WORDS) for _ in range(300))
        text = f"---\nid: {doc_id}\nkind: postmortem\n---\n# Doc {n}\n\n{marker} {body}\n"
        (folder / f"{doc_id}.md").write_text(text, encoding="utf-8")
        truth[marker] = doc_id
    return truth


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[-1].split()[0] == "Z"


def test_kill_9_of_index_rebuild_leaves_no_lock_behind(
    settings: Settings,
    services: Services,
    workspace: Path,
    cli: Cli,
    subprocess_env: dict[str, str],
) -> None:
    truth = _write_documents(workspace, 1500)
    S.rebuild(settings, services.db, procs=1)
    S.close_searchers()
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(workspace)],
        cwd=REPO_ROOT,
        env=subprocess_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    marker = proc.stdout.readline().split()
    assert marker[:1] == ["children"] and len(marker) >= 2, marker
    children = [int(p) for p in marker[1:]]
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL

    # A new file: this search must take the writer lock to index it.
    late = "---\nid: PM-LATE\nkind: postmortem\n---\n# Late\n\nlatecomerword\n"
    (workspace / "postmortems" / "PM-LATE.md").write_text(late, encoding="utf-8")
    truth["latecomerword"] = "PM-LATE"
    for word in ("uniq0777marker", "latecomerword"):
        found = cli("search", word, "--json")
        assert found.exit_code == 0, found.output
        assert [h["id"] for h in json.loads(found.stdout)["hits"]] == [truth[word]]

    # The children died with their parent (init reaps them: wait until it has; without the
    # fix they wait on their job queue for ever).
    for pid in children:
        for _ in range(600):
            if _gone(pid):
                break
            time.sleep(0.05)
        assert _gone(pid), f"indexing child {pid} outlived the killed rebuild"

    status = cli("index", "status", "--json")
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["by_kind"]["postmortem"] == len(truth)
    verify = cli("verify")
    assert verify.exit_code == 0, verify.output
