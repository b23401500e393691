"""'Did you mean': a query's unknown words corrected from the index's own vocabulary.

A plain word of the query whose stem no document holds is replaced by the nearest stem the
index does hold (Whoosh's ``ReaderCorrector``: within two edits, the first letter kept, of the
word as typed or of its stem; the candidate most like the typed word), the corrected query is
run, and it is suggested only when it finds something. The word shown is how the hits spell
that stem (the index holds stems: ``webhook`` for "webhooks" too), the spelling most like what
was typed first.

The index holds stems only, so a typo more than two edits from the right word's stem
("idempotncy" against ``idempot``) gets no suggestion rather than a far-fetched one.
"""

from __future__ import annotations

import copy
import re
from collections import Counter
from datetime import datetime
from difflib import SequenceMatcher
from typing import TYPE_CHECKING, Any

import incidentbook.core.search.backend as W
from incidentbook.core.search import indexer
from incidentbook.core.search.engine import document, run_query
from incidentbook.core.search.query import TEXT_FIELDS, QuerySyntaxError, parse

if TYPE_CHECKING:
    from incidentbook.settings import Settings

# words this short get one edit at most (two edits turn "fix" into almost anything)
SHORT_WORD = 4
SURFACE_HITS = 5
CANDIDATES = 20  # per field and probe, from Whoosh's corrector
MIN_LIKENESS = 0.7  # difflib ratio: below it a "correction" is another word ("quiet")


def did_you_mean(
    settings: Settings, query: str, *, kind: str | None = None, now: datetime | None = None
) -> str | None:
    """The query with its unknown words corrected, if that query has hits; else ``None``.
    Reads the index as it is (the caller's search brought it up to date), through a reader of
    its own: the corrector's walk over the vocabulary never holds up the next search."""
    if not indexer.index_exists(settings.index_dir):
        return None
    try:
        parsed = parse(query, now=now or settings.clock())
    except QuerySyntaxError:
        return None
    if not parsed.words:
        return None
    corrected = copy.deepcopy(parsed)  # its words point at its own (copied) nodes
    changed: dict[int, str] = {}
    with indexer.open_index(settings, create=False).reader() as reader:
        for index, word in enumerate(corrected.words):
            if any(reader.doc_frequency(f, word.stem) for f in TEXT_FIELDS):
                continue
            typed = query[word.start : word.end].lower()
            better = _nearest(reader, typed, word.stem)
            if better is None:
                return None  # a word nothing is near: no suggestion can find it
            word.node.words = [better]
            changed[index] = better
    if not changed:
        return None
    hits = run_query(settings, corrected, kind=kind, limit=SURFACE_HITS, snippets=False)
    if not hits:
        return None
    spelled = _spellings(settings, hits, set(changed.values()))
    out: list[str] = []
    last = 0
    for index, word in enumerate(parsed.words):
        if index not in changed:
            continue
        surface = _closest(query[word.start : word.end].lower(), spelled.get(changed[index]))
        if surface is None:
            return None
        out.append(query[last : word.start])
        out.append(surface)
        last = word.end
    out.append(query[last:])
    return "".join(out)


def _nearest(reader: Any, typed: str, stem: str) -> str | None:
    """The index's stem most like the typed word: Whoosh's candidates within one edit, then
    two, of the word as typed and of its stem (the index holds stems, and a typo can change
    how a word stems: "quartely" stems to ``quart``, "quarterly" to ``quarterli``), the one
    most like the typed word chosen once one is like enough."""
    most = 1 if len(typed) <= SHORT_WORD else 2
    candidates: set[str] = set()
    for distance in range(1, most + 1):  # one edit is far cheaper to look for than two
        for fieldname in TEXT_FIELDS:
            corrector = reader.corrector(fieldname)
            for probe in dict.fromkeys([typed, stem]):
                candidates.update(
                    corrector.suggest(probe, limit=CANDIDATES, maxdist=distance, prefix=1)
                )
        if candidates:
            best = min(candidates, key=lambda c: (-_likeness(typed, c), c))
            if _likeness(typed, best) >= MIN_LIKENESS:
                return best
    return None


def _likeness(a: str, b: str) -> float:
    return SequenceMatcher(None, a, b).ratio()


def _spellings(settings: Settings, hits: list[Any], stems: set[str]) -> dict[str, Counter[str]]:
    """How often the hits' text spells each stem each way (lowercased)."""
    seen: dict[str, Counter[str]] = {s: Counter() for s in stems}
    # a word stems to a prefix of itself but for its last letter ("happy" -> "happi"): look
    # only at the words that start so, not at every word of the text
    heads = sorted({s[:-1] if len(s) > W.MINSIZE else s for s in stems}, key=len, reverse=True)
    words = re.compile(
        r"(?<![^\W_])(?:" + "|".join(re.escape(h) for h in heads) + r")[^\W_]*", re.IGNORECASE
    )
    for hit in hits:
        stored = document(settings, hit.kind, hit.doc_id) or {}
        text = f"{stored.get('display', '')}\n{stored.get('body', '')}"
        for found in words.finditer(text):
            word = found.group().lower()
            stem = W.stem(word)
            if stem in seen:
                seen[stem][word] += 1
    return seen


def _closest(typed: str, spellings: Counter[str] | None) -> str | None:
    """The spelling most like the typed word, then the most frequent, then the first."""
    if not spellings:
        return None
    return min(spellings, key=lambda s: (-_likeness(typed, s), -spellings[s], s))
