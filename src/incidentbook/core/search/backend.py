"""The search package's Whoosh backend: Whoosh imported once (with its Python-version noise
kept away from the user), the schema, the analyzer, stems, phrase checks and word-pair filters.

Whoosh (the ``whoosh-reloaded`` fork of Whoosh 2.7, pinned in pyproject) still has invalid
escape sequences and deprecated calls that newer Pythons warn about; those warnings are
filtered here, for whoosh's modules only, before anything of whoosh is imported.
"""

from __future__ import annotations

import itertools
import re
import warnings
import zlib
from functools import lru_cache
from typing import Any

# Filters scoped to whoosh's own modules: the compiler's SyntaxWarning names the file, a
# runtime DeprecationWarning names the module.
for _category in (SyntaxWarning, DeprecationWarning, PendingDeprecationWarning):
    warnings.filterwarnings("ignore", category=_category, module=r"(.*[/\\])?whoosh([./\\].*)?$")
with warnings.catch_warnings():
    warnings.simplefilter("ignore", SyntaxWarning)
    warnings.simplefilter("ignore", DeprecationWarning)
    from whoosh import columns, fields, index, query, reading, scoring, searching
    from whoosh.analysis import LowercaseFilter, RegexTokenizer, StemFilter, StopFilter
    from whoosh.analysis.filters import STOP_WORDS
    from whoosh.lang.porter import stem as _porter_stem

__all__ = [
    "KINDS",
    "SCHEMA_VERSION",
    "VERSION_FILE",
    "fields",
    "index",
    "query",
    "reading",
    "scoring",
    "searching",
]

# What an index holds: its fields and how documents become its text. Bump it when either
# changes (3: money as "1,234.56 EUR", not minor units): an index of another version is
# rebuilt from its sources at its next use.
SCHEMA_VERSION = "3"
VERSION_FILE = "INCIDENTBOOK_INDEX_VERSION"
KINDS = ("incident", "alert_group", "change", "runbook", "postmortem", "premortem")
TOKEN = re.compile(r"[^\W_]+")
MINSIZE = 2
TITLE_BOOST = 2.5
# Word-pair filter per document (a Bloom filter of adjacent stems, two bits per pair).
PAIR_BITS = 8192
PAIR_MASK = PAIR_BITS - 1


def analyzer() -> Any:
    """Tokens are runs of letters and digits (``balance_mismatch`` is two words), lowercased,
    English stop words dropped, Porter-stemmed: ``reconciling`` finds ``reconciliation``."""
    return (
        RegexTokenizer(TOKEN)
        | LowercaseFilter()
        | StopFilter(stoplist=STOP_WORDS, minsize=MINSIZE)
        | StemFilter(cachesize=-1)
    )


def _pair_bits(a: str, b: str) -> tuple[int, int]:
    h = zlib.crc32(f"{a} {b}".encode())
    return h & PAIR_MASK, (h >> 13) & PAIR_MASK


def pair_filter(stems: list[str]) -> bytes:
    """The document's adjacent stem pairs as a Bloom filter: a phrase whose pairs are not all
    set is certainly absent, checked per candidate without reading its text or positions."""
    bits = bytearray(PAIR_BITS // 8)
    for a, b in itertools.pairwise(stems):
        for bit in _pair_bits(a, b):
            bits[bit >> 3] |= 1 << (bit & 7)
    return bytes(bits)


def phrase_bits(stems: list[str]) -> list[int]:
    return sorted({bit for a, b in itertools.pairwise(stems) for bit in _pair_bits(a, b)})


def may_hold(bloom: bytes, bits: list[int]) -> bool:
    if len(bloom) != PAIR_BITS // 8:
        return True  # no filter stored: cannot rule it out
    return all(bloom[bit >> 3] & (1 << (bit & 7)) for bit in bits)


def _stem_prefix(stem: str) -> str:
    """Letters every word with this stem starts with: Porter rewrites only a stem's end (at
    most its last letter survives a rewrite, like happy -> happi); short stems are kept."""
    if len(stem) >= 6:
        return stem[:-2]
    if len(stem) >= 3:
        return stem[:-1]
    return stem


def phrase_pattern(stems: list[str]) -> re.Pattern[str]:
    """A regex over lowercased raw text for a phrase of stems: each word as its stem's prefix,
    separated by non-token characters and dropped tokens (stop words, one-letter tokens).
    Every true occurrence matches; each match is confirmed with ``phrase_in``."""
    stops = "|".join(sorted((re.escape(w) for w in STOP_WORDS), key=len, reverse=True))
    sep = rf"[\W_]+(?:(?:{stops}|[^\W_])[\W_]+)*"
    words = [rf"{re.escape(_stem_prefix(s))}[^\W_]*" for s in stems]
    return re.compile(sep.join(words))


def phrase_in(lowered: str, pattern: re.Pattern[str], stems: list[str]) -> bool:
    """Whether ``lowered`` (lowercased text) holds the phrase, exactly as the analyzer sees it."""
    position = 0
    while True:
        found = pattern.search(lowered, position)
        if found is None:
            return False
        start = found.start()
        if (start == 0 or not lowered[start - 1].isalnum()) and stems_of(found.group()) == stems:
            return True
        position = start + 1  # occurrences may overlap a near miss


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    return str(_porter_stem(word))


def stems_of(text: str) -> list[str]:
    """The analyzer's output as plain strings, fast (used for highlighting and phrase checks)."""
    return [
        stem(w) for w in TOKEN.findall(text.lower()) if len(w) >= MINSIZE and w not in STOP_WORDS
    ]


def token_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, stem) of every indexed token of ``text``."""
    out = []
    for found in TOKEN.finditer(text):
        word = found.group().lower()
        if len(word) >= MINSIZE and word not in STOP_WORDS:
            out.append((found.start(), found.end(), stem(word)))
    return out


def is_stop(word: str) -> bool:
    return len(word) < MINSIZE or word.lower() in STOP_WORDS


def schema() -> Any:
    text = analyzer()
    return fields.Schema(
        uid=fields.ID(unique=True, stored=True),
        kind=fields.ID(stored=True),
        doc_id=fields.ID(stored=True),
        # Searchable title: the title plus the id and alert names, boosted (BM25F).
        title=fields.TEXT(analyzer=text, field_boost=TITLE_BOOST, stored=False),
        display=fields.STORED(),
        pairs=fields.COLUMN(columns.VarBytesColumn()),
        body=fields.TEXT(analyzer=text, stored=True),
        # Title and body as word pairs, for fast phrase search (no positions needed).
        services=fields.KEYWORD(lowercase=True, commas=True, stored=True, scorable=False),
        tags=fields.KEYWORD(lowercase=True, commas=True, stored=True, scorable=False),
        alerts=fields.KEYWORD(lowercase=True, commas=True, stored=True, scorable=False),
        severity=fields.ID(stored=True),
        status=fields.ID(stored=True),
        created=fields.DATETIME(stored=True),
        path=fields.STORED(),
        incident=fields.ID(stored=True),
        digest=fields.STORED(),
    )


def weighting() -> Any:
    return scoring.BM25F(B=0.75, K1=1.2)
