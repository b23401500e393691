"""Small text helpers every layer shares: slugs, front-matter values as lists, plurals."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(text: str, max_len: int | None = 60) -> str:
    """'Webhook retries double-posted payments!' -> 'webhook-retries-double-posted-payments'.

    Accents fold to ASCII; a slug longer than ``max_len`` is cut at a word boundary (``None``:
    never cut); text with no letters or digits gives 'untitled'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = _NOT_SLUG.sub("-", ascii_text.lower()).strip("-")
    if max_len is not None and len(slug) > max_len:
        slug = slug[:max_len].rsplit("-", 1)[0] or slug[:max_len]
    return slug or "untitled"


def as_str_list(value: Any) -> list[str]:
    """A front-matter value as a list of strings: 'a, b' and ['a', 'b'] both give ['a', 'b']."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if str(v).strip()]
    return [str(value)]


def plural(count: int, word: str, many: str | None = None) -> str:
    """'1 note', '2 notes', '1,204 alerts', '3 entries' (``many``: an irregular plural)."""
    return f"{count:,} {word if count == 1 else (many or word + 's')}"
