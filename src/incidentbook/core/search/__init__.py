"""Full-text search over everything incidentbook knows (DESIGN §8), on Whoosh.

Modules: ``backend`` (Whoosh, the schema, stems), ``query`` (the query language),
``documents`` (sources as index documents), ``indexer`` (the one writer), ``engine`` (ranked
hits), ``plain`` (Markdown as the plain text snippets are cut from), ``spelling`` ("did you
mean"), ``seen`` (past incidents like this one), ``suggest`` (runbook suggestions for
``core.runbooks.matching``). This package only re-exports; its modules import each other,
never this facade.

The API other parts call (importing this package imports Whoosh: do it lazily):

* ``search(settings, query, kind=None, limit=10, db=None) -> list[Hit]`` — the query language
  of ``query.parse``; raises ``QuerySyntaxError`` (a ``UsageError``) on a malformed query.
* ``did_you_mean(settings, query, kind=None) -> str | None`` — the query with its unknown
  words corrected from the index's vocabulary, when that finds something (``spelling``).
* ``filter_values(text, name)``, ``toggle_filter(text, name, value)`` — a typed query's
  filters, read leniently, and one added or removed (the app's chips).
* ``more_like_this(settings, kind, doc_id, kinds=None, limit=5) -> list[Hit]``
* ``similar_to_text(settings, text, kinds=None, limit=5, exclude=None) -> list[Hit]``
* ``search_terms(settings, terms, kind=None, limit=5) -> list[Hit]`` — any-of plain words.
* ``drain_outbox(settings, db)``, ``sync_files(settings, db)``, ``ensure_fresh(settings, db)``
  — bring the index up to date with the database outbox and the Markdown files.
* ``index_document(settings, doc)`` / ``remove_document(settings, kind, id)`` — rarely needed:
  files in ``runbooks/`` and ``postmortems/`` are picked up by scanning.
* ``rebuild(settings, db, progress)``, ``index_status(settings, db)``, ``check_index`` (verify).
* ``seen_before(settings, alert_name=, text=, exclude=, limit=5) -> list[SeenBefore]`` — past
  incidents with the same alert name or similar text, each with its postmortem's lessons.
* ``lessons_for_incident(settings, incident_id)``, ``read_postmortem(path)``, ``parse_lessons``.

Document kinds: ``incident``, ``alert_group``, ``runbook``, ``postmortem``, ``premortem``.
"""

from __future__ import annotations

from incidentbook.core.search.documents import (
    DOC_KINDS,
    Doc,
    PostmortemFile,
    lessons_for_incident,
    parse_lessons,
    read_postmortem,
)
from incidentbook.core.search.engine import (
    Hit,
    close_searchers,
    document,
    make_snippet,
    more_like_this,
    run_query,
    search,
    search_terms,
    similar_to_text,
)
from incidentbook.core.search.indexer import (
    DrainResult,
    IndexBusy,
    IndexStatus,
    RebuildResult,
    check_index,
    drain_outbox,
    ensure_fresh,
    index_document,
    index_status,
    rebuild,
    remove_document,
    sync_files,
)
from incidentbook.core.search.query import (
    ParsedQuery,
    QuerySyntaxError,
    filter_values,
    parse,
    toggle_filter,
)
from incidentbook.core.search.seen import SeenBefore, seen_before
from incidentbook.core.search.spelling import did_you_mean

__all__ = [
    "DOC_KINDS",
    "Doc",
    "DrainResult",
    "Hit",
    "IndexBusy",
    "IndexStatus",
    "ParsedQuery",
    "PostmortemFile",
    "QuerySyntaxError",
    "RebuildResult",
    "SeenBefore",
    "check_index",
    "close_searchers",
    "did_you_mean",
    "document",
    "drain_outbox",
    "ensure_fresh",
    "filter_values",
    "index_document",
    "index_status",
    "lessons_for_incident",
    "make_snippet",
    "more_like_this",
    "parse",
    "parse_lessons",
    "read_postmortem",
    "rebuild",
    "remove_document",
    "run_query",
    "search",
    "search_terms",
    "seen_before",
    "similar_to_text",
    "sync_files",
    "toggle_filter",
]
