"""Searching the index: ranked hits (BM25F, title boosted) with highlighted snippets.

Speed comes from three things Whoosh does not do by default:

* searchers are cached per index and only refreshed when the index changed;
* phrases in a conjunctive query are not scored position by position over every candidate:
  their words are searched as an AND (which Whoosh ranks with block-max pruning) and the phrase
  is then checked on the stored text of the best candidates only, until ``limit`` hits hold;
* snippets are computed only for the hits returned, with a regex tokenizer and a cached Porter
  stemmer over the stored text (no re-analysis through Whoosh's pipeline).
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import incidentbook.core.search.backend as W
from incidentbook.clock import to_iso_short
from incidentbook.core.search import indexer
from incidentbook.core.search.plain import snippet_source
from incidentbook.core.search.query import (
    TEXT_FIELDS,
    ParsedQuery,
    filter_query,
    parse,
    to_whoosh,
    to_whoosh_fast,
)
from incidentbook.errors import NotFoundError

if TYPE_CHECKING:
    from incidentbook.settings import Settings
    from incidentbook.storage.db import Database

SNIPPET_TOKENS = 28


@dataclass(frozen=True)
class Hit:
    kind: str
    doc_id: str
    title: str
    score: float
    rank: int
    snippet: str
    highlights: tuple[tuple[int, int], ...] = ()
    created: datetime | None = None
    severity: str | None = None
    status: str | None = None
    services: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    path: str | None = None
    incident: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def uid(self) -> str:
        return f"{self.kind}:{self.doc_id}"

    def segments(self) -> list[tuple[str, bool]]:
        """The snippet as (text, matched) runs in order: what a face styles."""
        out: list[tuple[str, bool]] = []
        last = 0
        for start, end in self.highlights:
            if start > last:
                out.append((self.snippet[last:start], False))
            out.append((self.snippet[start:end], True))
            last = end
        if last < len(self.snippet):
            out.append((self.snippet[last:], False))
        return out

    def marked(self, open_mark: str = "**", close_mark: str = "**") -> str:
        """The snippet with every highlighted span wrapped in the given marks."""
        return "".join(
            open_mark + text + close_mark if matched else text for text, matched in self.segments()
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.doc_id,
            "title": self.title,
            "score": round(self.score, 4),
            "rank": self.rank,
            "snippet": self.snippet,
            "highlights": [list(span) for span in self.highlights],
            "snippet_marked": self.marked(),
            "created": to_iso_short(self.created) if self.created else None,
            "severity": self.severity,
            "status": self.status,
            "services": list(self.services),
            "tags": list(self.tags),
            "path": self.path,
            "incident": self.incident,
        }


# -- searcher cache ------------------------------------------------------------------------


class _Cached:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.ino: int | None = None
        self.ix: Any = None
        self.searcher: Any = None


_CACHE: dict[str, _Cached] = {}
_CACHE_LOCK = threading.Lock()


def _entry(settings: Settings) -> _Cached:
    key = str(settings.index_dir)
    with _CACHE_LOCK:
        entry = _CACHE.get(key)
        if entry is None:
            entry = _CACHE[key] = _Cached()
        return entry


def _searcher(entry: _Cached, settings: Settings) -> Any:
    """A current searcher (caller holds ``entry.lock``)."""
    path = settings.index_dir
    try:
        ino = os.stat(path).st_ino
    except FileNotFoundError:
        ino = None
    if entry.searcher is not None and entry.ino == ino and ino is not None:
        if entry.searcher.up_to_date():
            return entry.searcher
        entry.searcher = _refreshed(entry.ix, entry.searcher)
        return entry.searcher
    if entry.searcher is not None:
        entry.searcher.close()
        entry.searcher = None
    entry.ix = indexer.open_index(settings, create=False)  # only a rebuild creates one
    entry.ino = os.stat(path).st_ino
    entry.searcher = entry.ix.searcher(weighting=W.weighting())
    return entry.searcher


def _refreshed(ix: Any, old: Any) -> Any:
    """A searcher on the latest generation that reuses the old one's segment readers whose
    segment is unchanged (same id, same number of deletions: deletions only grow).

    Not ``Searcher.refresh()``: Whoosh reuses readers by segment alone and so keeps deleted
    copies of updated documents visible; and not a fresh ``ix.searcher()``: reopening every
    big segment after each small commit costs time proportional to the index."""
    toc = ix._read_toc()
    reusable = {}
    for reader, _offset in old.reader().leaf_readers():
        segment = reader.segment()
        if segment is not None:
            reusable[segment.segment_id()] = (segment.deleted_count(), reader)
    readers = []
    for segment in toc.segments:
        known = reusable.pop(segment.segment_id(), None)
        if known is not None and known[0] == segment.deleted_count():
            readers.append(known[1])
        else:
            if known is not None:
                known[1].close()
            readers.append(
                W.reading.SegmentReader(ix.storage, toc.schema, segment, generation=toc.generation)
            )
    for _count, reader in reusable.values():
        reader.close()
    if not readers:
        return ix.searcher(weighting=W.weighting())
    combined = readers[0] if len(readers) == 1 else W.reading.MultiReader(readers, toc.generation)
    if len(readers) == 1:
        combined._gen = toc.generation  # a reused leaf still carries its old generation
    return W.searching.Searcher(combined, fromindex=ix, weighting=W.weighting())


def _forget(settings: Settings) -> None:
    """Drop the cached searcher of this index (``healing`` calls it before reading again)."""
    entry = _entry(settings)
    with entry.lock:
        if entry.searcher is not None:
            with contextlib.suppress(Exception):
                entry.searcher.close()
        entry.searcher = None
        entry.ix = None
        entry.ino = None


healing = indexer.healing(reset=_forget)


def close_searchers() -> None:
    with _CACHE_LOCK:
        for entry in _CACHE.values():
            with entry.lock:
                if entry.searcher is not None:
                    entry.searcher.close()
                entry.searcher = None
                entry.ix = None
        _CACHE.clear()


# -- search --------------------------------------------------------------------------------


@healing
def search(
    settings: Settings,
    query: str,
    kind: str | None = None,
    limit: int = 10,
    *,
    db: Database | None = None,
    fresh: bool = True,
    now: datetime | None = None,
) -> list[Hit]:
    """Ranked hits for a user query. ``fresh`` first drains the outbox and rescans files so
    every committed change is found. Raises ``QuerySyntaxError`` (a ``UsageError``)."""
    parsed = parse(query, now=now or settings.clock())
    prepare(settings, db, fresh)
    return run_query(settings, parsed, kind=kind, limit=limit)


def prepare(settings: Settings, db: Database | None, fresh: bool) -> None:
    """Bring the index up to date (``fresh``), or at least make sure one exists."""
    if fresh or not indexer.index_exists(settings.index_dir):
        indexer.ensure_fresh(settings, db)


@healing
def run_query(
    settings: Settings,
    parsed: ParsedQuery,
    *,
    kind: str | None = None,
    limit: int = 10,
    snippets: bool = True,
) -> list[Hit]:
    """The ranked hits of a parsed query (without their snippets: ``snippets=False``)."""
    limit = max(1, min(int(limit), 1000))
    flt = filter_query(parsed, kind)
    entry = _entry(settings)
    with entry.lock:
        searcher = _searcher(entry, settings)
        if parsed.root is None:
            results = searcher.search(
                W.query.Every(), filter=flt, limit=limit, sortedby="created", reverse=True
            )
            return _hits(searcher, results, parsed, limit, None, snippets)
        phrases = parsed.top_phrases()
        if phrases:
            return _phrase_search(searcher, parsed, flt, limit, phrases, snippets)
        results = searcher.search(to_whoosh(parsed.root), filter=flt, limit=limit)
        if results.scored_length() == 0 and _is_implicit_and(parsed):
            results = searcher.search(to_whoosh(parsed.root, any_of=True), filter=flt, limit=limit)
        return _hits(searcher, results, parsed, limit, None, snippets)


def _is_implicit_and(parsed: ParsedQuery) -> bool:
    root = parsed.root
    return root is not None and root.op == "and" and root.implicit


def _phrase_search(
    searcher: Any,
    parsed: ParsedQuery,
    flt: Any,
    limit: int,
    phrases: list[list[str]],
    snippets: bool = True,
) -> list[Hit]:
    """Phrases without Whoosh's positional matcher over every candidate.

    The best-ranked candidates (the AND of the words) usually hold the phrase: check those on
    their stored text first. Otherwise: the candidates as sets of document numbers read
    straight from the words' posting blocks; each through its word-pair filter (a column
    read and a few bit tests); the survivors through the exact check on their text; and only
    the holders are scored, by skipping the query's matcher to each of them."""
    assert parsed.root is not None
    q = to_whoosh_fast(parsed.root)
    checks = [(W.phrase_pattern(p), p) for p in phrases]
    window = max(limit * 3, 30)
    results = searcher.search(q, filter=flt, limit=window)
    ranked = list(results)
    kept = [h for h in ranked if _holds(h.fields(), checks)]
    if len(kept) >= limit or len(ranked) < window:
        return [
            _hit(searcher, h, parsed, i + 1, snippet=snippets) for i, h in enumerate(kept[:limit])
        ]
    reader = searcher.reader()
    candidates: set[int] | None = None
    for word in dict.fromkeys(w for p in phrases for w in p):
        docs: set[int] = set()
        for fieldname in TEXT_FIELDS:
            docs |= _posting_docs(reader, fieldname, word)
        candidates = docs if candidates is None else candidates & docs
        if not candidates:
            return []
    assert candidates is not None
    if flt is not None:
        candidates &= set(searcher.docs_for_query(flt))
    bits = [W.phrase_bits(words) for words in phrases]
    pairs = reader.column_reader("pairs") if reader.has_column("pairs") else None
    matched = []
    for docnum in sorted(candidates):
        if pairs is not None and not all(W.may_hold(pairs[docnum], b) for b in bits):
            continue
        if _holds(reader.stored_fields(docnum), checks):
            matched.append(docnum)
    scored = _score_docs(searcher, q, matched)[:limit]
    return [
        _hit(searcher, _Scored(searcher.stored_fields(d), score), parsed, i + 1, snippet=snippets)
        for i, (score, d) in enumerate(scored)
    ]


class _Scored:
    """A scored document shaped like a Whoosh hit, for ``_hit``."""

    def __init__(self, stored: dict[str, Any], score: float) -> None:
        self._stored = stored
        self.score = score

    def fields(self) -> dict[str, Any]:
        return self._stored


def _posting_docs(reader: Any, field: str, text: str) -> set[int]:
    """Document numbers of a term, read block by block (no per-posting Python calls)."""
    out: set[int] = set()
    for leaf, offset in reader.leaf_readers():
        if (field, text) not in leaf:
            continue
        matcher = leaf.postings(field, text)
        deleted: Any = ()
        if hasattr(matcher, "child") and getattr(matcher, "_exclude", False):
            deleted = matcher._ids
            matcher = matcher.child
        if hasattr(matcher, "_read_ids") and hasattr(matcher, "_next_block"):
            ids: list[int] = []
            while matcher.is_active():
                if matcher._ids is None:
                    matcher._read_ids()
                ids.extend(matcher._ids[matcher._i : matcher._blocklength])
                if matcher._lastblock:
                    break
                matcher._next_block()
        else:  # another codec: the generic (slower) way
            ids = list(matcher.all_ids())
        out.update(i + offset for i in ids if i not in deleted)
    return out


def _score_docs(searcher: Any, q: Any, docnums: list[int]) -> list[tuple[float, int]]:
    """BM25F scores of the given documents only, best first."""
    scored: list[tuple[float, int]] = []
    for sub, offset in searcher.leaf_searchers():
        end = offset + sub.doc_count_all()
        local = [d - offset for d in docnums if offset <= d < end]
        if not local:
            continue
        matcher = q.matcher(sub, sub.context())
        for docnum in local:
            if not matcher.is_active():
                break
            if matcher.id() < docnum:
                matcher.skip_to(docnum)
                if not matcher.is_active():
                    break
            if matcher.id() == docnum:
                scored.append((float(matcher.score()), docnum + offset))
    scored.sort(key=lambda item: (-item[0], item[1]))
    return scored


def _and_filter(searcher: Any, flt: Any, docs: set[int]) -> set[int]:
    if flt is None:
        return docs
    return docs & set(searcher.docs_for_query(flt))


def _holds(stored: dict[str, Any], checks: list[tuple[Any, list[str]]]) -> bool:
    text = (
        f"{stored.get('display', '')} {stored.get('doc_id', '')} "
        f"{stored.get('alerts', '')}\n{stored.get('body', '')}"
    ).lower()
    return all(W.phrase_in(text, pattern, words) for pattern, words in checks)


def _hits(
    searcher: Any,
    results: Any,
    parsed: ParsedQuery | None,
    limit: int,
    exclude: str | None,
    snippets: bool = True,
) -> list[Hit]:
    out: list[Hit] = []
    for hit in results:
        if exclude is not None and hit["uid"] == exclude:
            continue
        out.append(_hit(searcher, hit, parsed, len(out) + 1, snippet=snippets))
        if len(out) >= limit:
            break
    return out


def _hit(
    searcher: Any,
    hit: Any,
    parsed: ParsedQuery | None,
    rank: int,
    terms: tuple[set[str], list[str]] | None = None,
    *,
    snippet: bool = True,
) -> Hit:
    stored = hit.fields()
    if terms is None:
        terms = parsed.match_terms() if parsed is not None else (set(), [])
    kind = str(stored.get("kind", ""))
    text = ""
    spans: list[tuple[int, int]] = []
    if snippet:
        source = snippet_source(kind, str(stored.get("body", "")))
        text, spans = make_snippet(source, terms[0], terms[1])
    created = stored.get("created")
    if isinstance(created, datetime) and created.tzinfo is None:
        created = created.replace(tzinfo=UTC)

    def listed(name: str) -> tuple[str, ...]:
        return tuple(v for v in str(stored.get(name, "")).split(",") if v)

    return Hit(
        kind=kind,
        doc_id=str(stored.get("doc_id", "")),
        title=str(stored.get("display", "")),
        score=float(hit.score or 0.0),
        rank=rank,
        snippet=text,
        highlights=tuple(spans),
        created=created if isinstance(created, datetime) else None,
        severity=str(stored.get("severity") or "") or None,
        status=str(stored.get("status") or "") or None,
        services=listed("services"),
        tags=listed("tags"),
        path=str(stored.get("path") or "") or None,
        incident=str(stored.get("incident") or "") or None,
    )


def make_snippet(
    text: str, stems: set[str], prefixes: list[str], width: int = SNIPPET_TOKENS
) -> tuple[str, list[tuple[int, int]]]:
    """The window of ``width`` tokens holding the most distinct query terms, as plain text
    plus the (start, end) spans of the matched words within it."""
    tokens = W.token_spans(text)
    if not tokens:
        clean = " ".join(text.split())
        return clean[:200], []

    def matches(stem: str) -> bool:
        return stem in stems or any(stem.startswith(p) for p in prefixes)

    hits = [i for i, tok in enumerate(tokens) if matches(tok[2])] if (stems or prefixes) else []
    best_start = 0
    if hits:
        best_score = (-1, -1)
        j = 0
        for i, first in enumerate(hits):
            while j < len(hits) and hits[j] < first + width:
                j += 1
            window = hits[i:j]
            score = (len({tokens[k][2] for k in window}), len(window))
            if score > best_score:
                best_score, best_start = score, first
        best_start = max(0, min(best_start - 4, len(tokens) - width))
    end_index = min(len(tokens), best_start + width) - 1
    start_char = 0 if best_start == 0 else tokens[best_start][0]
    end_char = tokens[end_index][1] if end_index < len(tokens) - 1 else len(text)
    raw = text[start_char:end_char]
    raw_spans = [
        (tokens[i][0] - start_char, tokens[i][1] - start_char)
        for i in hits
        if best_start <= i <= end_index
    ]
    # Collapse whitespace (newlines, indentation) and map span offsets through it.
    out: list[str] = []
    mapping = [0] * (len(raw) + 1)
    count = 0
    previous_space = True  # also drops leading whitespace
    for index, char in enumerate(raw):
        mapping[index] = count
        if char.isspace():
            if previous_space:
                continue
            out.append(" ")
            previous_space = True
        else:
            out.append(char)
            previous_space = False
        count += 1
    mapping[len(raw)] = count
    body = "".join(out).rstrip()
    prefix = "" if start_char == 0 else "… "
    suffix = "" if end_char >= len(text) else " …"
    shift = len(prefix)
    spans = [(mapping[a] + shift, mapping[b] + shift) for a, b in raw_spans]
    return prefix + body + suffix, spans


# -- more like this ------------------------------------------------------------------------


@healing
def more_like_this(
    settings: Settings,
    kind: str,
    doc_id: str,
    *,
    kinds: tuple[str, ...] | None = None,
    limit: int = 5,
    db: Database | None = None,
    fresh: bool = True,
) -> list[Hit]:
    """Documents most like one document (an incident, a postmortem …), best first."""
    prepare(settings, db, fresh)
    uid = f"{kind}:{doc_id}"
    entry = _entry(settings)
    with entry.lock:
        searcher = _searcher(entry, settings)
        docnum = searcher.document_number(uid=uid)
        if docnum is None:
            raise NotFoundError(f"{kind} {doc_id} is not in the search index")
        stored = searcher.stored_fields(docnum)
        text = f"{stored.get('display', '')}\n{stored.get('body', '')}"
        return _similar(searcher, text, kinds, limit, exclude=uid)


@healing
def similar_to_text(
    settings: Settings,
    text: str,
    *,
    kinds: tuple[str, ...] | None = None,
    limit: int = 5,
    exclude: str | None = None,
    db: Database | None = None,
    fresh: bool = True,
) -> list[Hit]:
    """Documents most like a free text (a new alert's summary, a pre-mortem's description)."""
    prepare(settings, db, fresh)
    entry = _entry(settings)
    with entry.lock:
        searcher = _searcher(entry, settings)
        return _similar(searcher, text, kinds, limit, exclude=exclude)


def _similar(
    searcher: Any, text: str, kinds: tuple[str, ...] | None, limit: int, exclude: str | None
) -> list[Hit]:
    Q = W.query
    key_terms = searcher.key_terms_from_text("body", text, numterms=15, normalize=True)
    if not key_terms:
        return []
    q = Q.Or(
        [Q.Or([Q.Term("title", t, boost=w), Q.Term("body", t, boost=w)]) for t, w in key_terms]
    )
    flt = Q.Or([Q.Term("kind", k) for k in kinds]) if kinds else None
    results = searcher.search(q, filter=flt, limit=limit + 1)
    stems = {t for t, _w in key_terms}
    out: list[Hit] = []
    for hit in results:
        if hit["uid"] == exclude:
            continue
        out.append(_hit(searcher, hit, None, len(out) + 1, terms=(stems, [])))
        if len(out) >= limit:
            break
    return out


@healing
def search_terms(
    settings: Settings,
    terms: list[str],
    *,
    kind: str | None = None,
    limit: int = 5,
    db: Database | None = None,
    fresh: bool = True,
) -> list[Hit]:
    """Any-of search over plain words (for runbook suggestions): ranked by BM25F."""
    words = [w for w in terms if W.stems_of(w)]
    if not words:
        return []
    prepare(settings, db, fresh)
    Q = W.query
    stems = list(dict.fromkeys(s for w in words for s in W.stems_of(w)))
    q = Q.Or([Q.Or([Q.Term("title", s), Q.Term("body", s)]) for s in stems])
    flt = Q.Term("kind", kind) if kind else None
    entry = _entry(settings)
    with entry.lock:
        searcher = _searcher(entry, settings)
        results = searcher.search(q, filter=flt, limit=limit)
        return [
            _hit(searcher, h, None, i + 1, terms=(set(stems), [])) for i, h in enumerate(results)
        ]


@healing
def document(settings: Settings, kind: str, doc_id: str) -> dict[str, Any] | None:
    """The stored fields of one indexed document (for opening a hit)."""
    entry = _entry(settings)
    with entry.lock:
        searcher = _searcher(entry, settings)
        stored = searcher.document(uid=f"{kind}:{doc_id}")
        return dict(stored) if stored else None
