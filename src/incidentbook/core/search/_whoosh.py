"""Whoosh, imported once with its Python-version noise kept away from the user.

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
    from whoosh import fields, index, query, scoring
    from whoosh.analysis import LowercaseFilter, RegexTokenizer, StemFilter, StopFilter
    from whoosh.analysis.filters import STOP_WORDS
    from whoosh.lang.porter import stem as _porter_stem

__all__ = ["KINDS", "SCHEMA_VERSION", "fields", "index", "query", "scoring"]

SCHEMA_VERSION = "2"
SHINGLE_BUCKETS = 1 << 15
KINDS = ("incident", "alert_group", "runbook", "postmortem", "premortem")
TOKEN = re.compile(r"[^\W_]+")
MINSIZE = 2
TITLE_BOOST = 2.5


def analyzer() -> Any:
    """Tokens are runs of letters and digits (``balance_mismatch`` is two words), lowercased,
    English stop words dropped, Porter-stemmed: ``reconciling`` finds ``reconciliation``."""
    return (
        RegexTokenizer(TOKEN)
        | LowercaseFilter()
        | StopFilter(stoplist=STOP_WORDS, minsize=MINSIZE)
        | StemFilter(cachesize=-1)
    )


def shingles(stems: list[str]) -> list[str]:
    """Adjacent pairs of stems, hashed into a fixed number of buckets (``s1f3a``).

    A phrase becomes a few term lookups instead of a positional intersection over every
    candidate; the small, fixed vocabulary keeps indexing cheap. Buckets collide, so a match
    is only a candidate: the engine checks the phrase itself on the hits it returns."""
    return [
        "s" + format(zlib.crc32(f"{a} {b}".encode()) % SHINGLE_BUCKETS, "x")
        for a, b in itertools.pairwise(stems)
    ]


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    return str(_porter_stem(word))


def stems_of(text: str) -> list[str]:
    """The analyzer's output as plain strings, fast (used for highlighting and phrase checks)."""
    out = []
    for found in TOKEN.finditer(text):
        word = found.group().lower()
        if len(word) >= MINSIZE and word not in STOP_WORDS:
            out.append(stem(word))
    return out


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
        body=fields.TEXT(analyzer=text, stored=True),
        # Title and body as word pairs, for fast phrase search (no positions needed).
        # scorable: whoosh then keeps a lengths column and does not stat() a missing one per
        # posting while writing (that alone tripled build time).
        shingles=fields.KEYWORD(stored=False, scorable=True),
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
