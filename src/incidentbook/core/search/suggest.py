"""Runbook suggestions from the search index: the ``Suggester`` that runbook matching is given
(rule 4 of DESIGN §6), built here where the index is known."""

from __future__ import annotations

from typing import TYPE_CHECKING

from incidentbook.core.search.engine import search_terms

if TYPE_CHECKING:
    from incidentbook.core.runbooks.matching import Suggester
    from incidentbook.settings import Settings
    from incidentbook.storage.db import Database


def runbook_suggester(settings: Settings, db: Database | None = None) -> Suggester:
    """Runbook ids and BM25F scores for any of the words, from the index (brought up to date
    first: the outbox drained through ``db`` and the files rescanned)."""

    def suggest(terms: list[str], limit: int) -> list[tuple[str, float]]:
        hits = search_terms(settings, terms, kind="runbook", limit=limit, db=db)
        return [(hit.doc_id, hit.score) for hit in hits]

    return suggest
