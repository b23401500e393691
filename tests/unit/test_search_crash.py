"""The outbox survives a writer killed between the database commit and the index write."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from incidentbook.context import Context
from incidentbook.core import search as S
from incidentbook.services import Services
from incidentbook.settings import Settings
from tests.support.cli import REPO_ROOT

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from incidentbook.services import make_services
    from incidentbook.core.search import indexer
    from incidentbook.settings import load_settings

    workspace, stage, incident_id = sys.argv[1:4]
    services = make_services(load_settings(workspace, actor="user:crash"))
    ctx = services.context("crash test")
    services.incidents.add_note(ctx, incident_id, "the zebra crossing alarm never fired")

    def hook(name):
        if name == stage:
            os.kill(os.getpid(), signal.SIGKILL)

    indexer.stage_hook = hook
    indexer.drain_outbox(services.settings, services.db)
    print("not killed")
    """
)


@pytest.mark.parametrize("stage", ["index_written", "index_committed"])
def test_writer_killed_then_restart_finds_the_change(
    stage: str,
    settings: Settings,
    workspace: Path,
    services: Services,
    ctx: Context,
    subprocess_env: dict[str, str],
) -> None:
    incident = services.incidents.open(ctx, "Crossing alarm", "warning").incident.id
    S.ensure_fresh(settings, services.db)
    assert S.indexer.pending_outbox(services.db) == 0
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(workspace), stage, incident],
        cwd=REPO_ROOT,
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr
    # The database change committed; its outbox row is still queued.
    assert S.indexer.pending_outbox(services.db) >= 1
    in_index = S.search(settings, "zebra", db=services.db, fresh=False)
    assert bool(in_index) == (stage == "index_committed")
    # "Restart": the next reader drains what is left.
    S.close_searchers()
    hits = S.search(settings, "zebra", db=services.db)
    assert [h.doc_id for h in hits] == [incident]
    assert S.indexer.pending_outbox(services.db) == 0
    assert S.index_status(settings, services.db).ok
