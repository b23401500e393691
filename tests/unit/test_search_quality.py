"""Retrieval quality on a corpus of past incidents: known-item and graded queries.

Mean reciprocal rank is computed for our index and, on the same corpus and queries, for SQLite
FTS5 (porter tokenizer, bm25 with the title weighted) as the reference; both are printed.
"""

from __future__ import annotations

import sqlite3

from incidentbook.context import Context
from incidentbook.core import search as S
from incidentbook.services import Services
from incidentbook.settings import Settings

CORPUS: list[tuple[str, str]] = [
    (
        "Webhook retries double-posted processor payments",
        "The processor retried webhooks after timeouts and the retry path lacked an idempotency "
        "check, so 4,800 accounts were charged twice. Reversal entries fixed balances.",
    ),
    (
        "Nightly fee job ran twice after a deploy restart",
        "A deploy restarted the scheduler mid-run; without a run key the fee job charged the "
        "monthly maintenance fee twice to 312 accounts.",
    ),
    (
        "Clock skew on ledger writer host",
        "The NTP daemon stopped after a package upgrade and recorded_at went backwards by forty "
        "minutes; incremental reconciliation skipped entries.",
    ),
    (
        "Refunds posted in the wrong currency after FX config change",
        "A configuration rollout swapped the refund currency source; 57 accounts received "
        "refunds in USD instead of EUR.",
    ),
    (
        "Orphaned entries after account merge tool bug",
        "The merge tool deleted the source account before moving its entries, leaving orphan "
        "entries with no account. Restored accounts from backup.",
    ),
    (
        "Double reversal by correction script",
        "A correction script crashed halfway and was re-run from the start; 90 entries were "
        "reversed twice. Added checkpoints and a key per corrected entry.",
    ),
    (
        "Alert receiver down after certificate expiry",
        "The reverse proxy certificate expired; Alertmanager could not deliver notifications "
        "for three hours and the on-call saw a quiet triage screen.",
    ),
    (
        "Bearer token rotation broke alert delivery",
        "The receiver token was rotated in the vault but Alertmanager kept the old credentials "
        "file; every notification got 401 unauthorized.",
    ),
    (
        "Alertmanager retry storm from slow receiver",
        "Database lock contention made the receiver slow, Alertmanager timed out and resent "
        "every group each ten seconds, amplifying the load.",
    ),
    (
        "State database locked by long import",
        "A bulk import of historical alerts held a write transaction for minutes and every other "
        "command failed with database is locked.",
    ),
    (
        "Card authorisations approved on stale balance",
        "Balance cache invalidation lagged behind postings, so card authorisations used stale "
        "balances and approved spending beyond available funds.",
    ),
    (
        "Payout batch sent to the wrong bank file format",
        "The payout generator produced the legacy SEPA XML schema; the bank rejected the whole "
        "batch and 2,100 payouts were delayed a day.",
    ),
    (
        "Chargeback entries missing external reference",
        "Chargebacks imported from the acquirer carried no external reference, defeating "
        "duplicate detection; manual matching took two days.",
    ),
    (
        "Interest accrual rounding drift",
        "Daily interest accrual rounded half-up per day instead of at month end, drifting "
        "balances by cents across thousands of savings accounts.",
    ),
    (
        "Ledger replica lag broke audit lookups",
        "Audit queries hit a read replica lagging twelve minutes; operators saw histories "
        "without the newest entries during an incident.",
    ),
    (
        "Backfill job posted adjustments with wrong sign",
        "The backfill job negated amounts twice, crediting instead of debiting 430 accounts; "
        "found by the balance mismatch check the next hour.",
    ),
    (
        "Search index stale after disk full",
        "The disk filled up, index writes failed silently, and search missed a week of "
        "incidents until a rebuild.",
    ),
    (
        "Migration pending after partial upgrade",
        "One host ran the old release against a migrated database and refused to start; the "
        "receiver was down until all hosts were upgraded.",
    ),
    (
        "Duplicate transfers from mobile client double tap",
        "A double tap sent two transfer requests with fresh idempotency keys; the API accepted "
        "both. Keys now derive from the client's draft id.",
    ),
    (
        "Currency conversion used yesterday's rates",
        "The FX rate feed stalled at midnight and conversions silently used the previous day's "
        "rates for six hours.",
    ),
]

# (query, relevant document index): a few distinctive words of one document (known item).
KNOWN_ITEM: list[tuple[str, int]] = [
    ("webhook retry idempotency", 0),
    ("fee job restart", 1),
    ("ntp recorded_at backwards", 2),
    ("refund currency rollout", 3),
    ("merge tool orphan", 4),
    ("correction script reversed twice", 5),
    ("certificate expired", 6),
    ("token rotated 401", 7),
    ("resent every group", 8),
    ("bulk import locked", 9),
    ("card authorisations stale", 10),
    ("SEPA payout", 11),
    ("chargeback external reference", 12),
    ("interest rounding", 13),
    ("replica lag audit", 14),
    ("backfill sign", 15),
    ("disk full index", 16),
    ("old release migrated", 17),
    ("double tap transfer", 18),
    ("FX rate feed stalled", 19),
]

# (query, {doc index: grade}): broader questions with more than one relevant answer.
GRADED: list[tuple[str, dict[int, int]]] = [
    ("charged twice", {0: 2, 1: 2, 18: 1}),
    ("alertmanager notifications", {6: 2, 7: 2, 8: 2}),
    ("currency", {3: 2, 19: 2}),
    ("database locked", {9: 2, 8: 1}),
    ("duplicate", {12: 2, 18: 2, 0: 1}),
    ("receiver", {6: 2, 8: 2, 7: 1, 17: 1}),
]


def _fts5_ranks(queries: list[str]) -> list[list[int]]:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE docs USING fts5(title, body, tokenize='porter unicode61')")
    conn.executemany(
        "INSERT INTO docs(rowid, title, body) VALUES (?, ?, ?)",
        [(i, t, b) for i, (t, b) in enumerate(CORPUS)],
    )
    out = []
    for query in queries:
        words = [w for w in query.replace("_", " ").split() if w.isalnum()]
        fts_query = " ".join(f'"{w}"' for w in words)
        rows = conn.execute(
            "SELECT rowid FROM docs WHERE docs MATCH ? ORDER BY bm25(docs, 2.5, 1.0) LIMIT 10",
            (fts_query,),
        ).fetchall()
        if not rows:  # like ours: fall back to any of the words
            rows = conn.execute(
                "SELECT rowid FROM docs WHERE docs MATCH ? ORDER BY bm25(docs, 2.5, 1.0) LIMIT 10",
                (" OR ".join(f'"{w}"' for w in words),),
            ).fetchall()
        out.append([int(r[0]) for r in rows])
    conn.close()
    return out


def _mrr(rankings: list[list[int]], relevant: list[set[int]]) -> float:
    total = 0.0
    for ranking, wanted in zip(rankings, relevant, strict=True):
        for rank, doc in enumerate(ranking, 1):
            if doc in wanted:
                total += 1.0 / rank
                break
    return total / len(rankings)


def test_known_items_top3_and_mrr_against_fts5(
    settings: Settings, services: Services, ctx: Context
) -> None:
    number_of: dict[str, int] = {}
    for index, (title, body) in enumerate(CORPUS):
        incident = services.incidents.open(ctx, title, "error").incident.id
        services.incidents.add_note(ctx, incident, body)
        number_of[incident] = index
    queries = [q for q, _ in KNOWN_ITEM] + [q for q, _ in GRADED]
    relevant = [{i} for _, i in KNOWN_ITEM] + [
        {d for d, g in grades.items() if g == max(grades.values())} for _, grades in GRADED
    ]
    ours: list[list[int]] = []
    for query in queries:
        hits = S.search(settings, query, kind="incident", db=services.db)
        ours.append([number_of[h.doc_id] for h in hits])
    for (query, wanted), ranking in zip(KNOWN_ITEM, ours, strict=False):
        assert wanted in ranking[:3], f"known item {wanted} not in top 3 for {query!r}: {ranking}"
    fts5 = _fts5_ranks(queries)
    ours_known, fts_known = (
        _mrr(ours[: len(KNOWN_ITEM)], relevant[: len(KNOWN_ITEM)]),
        _mrr(fts5[: len(KNOWN_ITEM)], relevant[: len(KNOWN_ITEM)]),
    )
    ours_graded, fts_graded = (
        _mrr(ours[len(KNOWN_ITEM) :], relevant[len(KNOWN_ITEM) :]),
        _mrr(fts5[len(KNOWN_ITEM) :], relevant[len(KNOWN_ITEM) :]),
    )
    print(f"\nMRR known-item: incidentbook {ours_known:.3f}  FTS5 {fts_known:.3f}")
    print(f"MRR graded:     incidentbook {ours_graded:.3f}  FTS5 {fts_graded:.3f}")
    assert ours_known >= 0.9
    assert ours_graded >= 0.8
    assert ours_known >= fts_known - 0.05
