"""Issue 16: the search index deleted again and again while searches and writes run. Every
search answers (no internal error, no half index), every committed note is found afterwards,
and the index agrees with its sources."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from incidentbook.context import Context
from incidentbook.core import search as S
from incidentbook.core.health.verify import run_verify
from incidentbook.services import Services
from incidentbook.settings import Settings
from tests.support.search_damage import expected_kinds, index_dir, seed

DELETIONS = 8


def test_index_deleted_while_searches_and_writes_run(
    settings: Settings, services: Services, ctx: Context, workspace: Path
) -> None:
    S.close_searchers()
    truth = seed(services, ctx, workspace)
    S.ensure_fresh(settings, services.db)
    incident = truth["obsidianclock"][1]
    failures: list[BaseException] = []
    wrong: list[object] = []
    notes: list[str] = []
    done = threading.Event()
    deleted = [0]

    def guard(work: object) -> object:
        def run() -> None:
            try:
                work()  # type: ignore[operator]
            except BaseException as exc:  # reported by the test below
                failures.append(exc)

        return run

    def write() -> None:
        for n in range(24):
            word = f"tapir{n:03d}note"
            services.incidents.add_note(ctx, incident, f"the {word} arrived")
            notes.append(word)
            S.drain_outbox(settings, services.db)

    answered = [0]

    def search() -> None:
        while not done.is_set():
            hits = S.search(settings, "marzipanledger", db=services.db)
            if [(h.kind, h.doc_id) for h in hits] != [truth["marzipanledger"]]:
                wrong.append(hits)
            answered[0] += 1

    def delete() -> None:
        # Each deletion once a search answered since the last: an index deleted faster than
        # it can be rebuilt would starve any reader.
        last = -1
        while deleted[0] < DELETIONS and not done.is_set():
            if answered[0] > last and index_dir(workspace).exists():
                shutil.rmtree(index_dir(workspace), ignore_errors=True)
                deleted[0] += 1
                last = answered[0]
            done.wait(0.02)

    threads = [threading.Thread(target=guard(f)) for f in (search, search, delete)]
    writer = threading.Thread(target=guard(write))
    for thread in [*threads, writer]:
        thread.start()
    writer.join()
    done.set()
    for thread in threads:
        thread.join()

    assert failures == [] and wrong == []
    assert deleted[0] > 0
    S.close_searchers()
    for word in notes:
        hits = S.search(settings, word, db=services.db)
        assert [(h.kind, h.doc_id) for h in hits] == [("incident", incident)], word
    for word, doc in truth.items():
        assert [(h.kind, h.doc_id) for h in S.search(settings, word, db=services.db)] == [doc]
    status = S.index_status(settings, services.db)
    assert status.ok and status.by_kind == expected_kinds(truth)
    assert all(r.ok for r in run_verify(settings, services.db) if r.name == "search_index")
