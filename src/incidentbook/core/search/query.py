"""The query language: words, "phrases", prefix*, AND/OR/NOT/-, (groups), and filters.

Filters: ``kind:`` ``service:`` ``tag:`` ``severity:`` ``status:`` ``alert:`` (several values
with commas or repeated: ``kind:incident,postmortem``) and ``after:``/``before:`` dates
(``2026-10-01``, ``2026-10-01T12:00``, or relative ``7d``, ``12h``). Words are stemmed in
English; words with no operator between them must all match (falling back to any of them when
nothing matches all). A malformed query raises ``QuerySyntaxError`` with a one-line hint.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import incidentbook.core.search.backend as W
from incidentbook.errors import UsageError

# parentheses and NOTs nested deeper than this are refused (the parser recurses per level)
MAX_DEPTH = 50
FILTERS = ("kind", "service", "tag", "severity", "status", "alert", "after", "before")
FILTER_FIELDS = {
    "kind": "kind",
    "service": "services",
    "tag": "tags",
    "severity": "severity",
    "status": "status",
    "alert": "alerts",
}
KIND_ALIASES = {
    "incidents": "incident",
    "alert": "alert_group",
    "alerts": "alert_group",
    "alert-group": "alert_group",
    "group": "alert_group",
    "changes": "change",
    "deploy": "change",
    "deploys": "change",
    "runbooks": "runbook",
    "postmortems": "postmortem",
    "premortems": "premortem",
    "pre-mortem": "premortem",
    "post-mortem": "postmortem",
}
SEVERITIES = ("critical", "error", "warning", "info")
STATUSES = ("open", "acknowledged", "resolved", "firing", "draft", "final", "review")
TEXT_FIELDS = ("title", "body")
MIN_PREFIX = 2


class QuerySyntaxError(UsageError):
    """A query the user must fix; the message says how, in one line (a quoted value's line
    breaks are spaces in it)."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


@dataclass
class Node:
    op: str  # "term" | "prefix" | "phrase" | "and" | "or" | "not"
    words: list[str] = field(default_factory=list)  # stems (term, phrase) or the raw prefix
    children: list[Node] = field(default_factory=list)
    implicit: bool = False  # an "and" made of juxtaposed words, without an explicit AND


@dataclass
class QueryWord:
    """A plain word of the query (not negated, not a prefix, one stem): where it is in the
    text and its node, for a spelling correction to replace."""

    start: int
    end: int
    stem: str
    node: Node


@dataclass
class ParsedQuery:
    text: str
    root: Node | None
    filters: dict[str, list[str]]
    after: datetime | None = None
    before: datetime | None = None
    words: list[QueryWord] = field(default_factory=list)

    def match_terms(self) -> tuple[set[str], list[str]]:
        """(stems, prefixes) to highlight: everything positive in the query."""
        stems: set[str] = set()
        prefixes: list[str] = []

        def walk(node: Node | None) -> None:
            if node is None or node.op == "not":
                return
            if node.op in ("term", "phrase"):
                stems.update(node.words)
            elif node.op == "prefix":
                prefixes.extend(node.words)
            for child in node.children:
                walk(child)

        walk(self.root)
        return stems, prefixes

    def top_phrases(self) -> list[list[str]]:
        """Phrases every hit must contain (top-level conjunction): searched as their words, then
        checked on candidates by the engine. (A phrase under OR/NOT is a Whoosh Phrase.)"""
        root = self.root
        if root is None:
            return []
        if root.op == "phrase":
            return [root.words]
        if root.op == "and":
            return [c.words for c in root.children if c.op == "phrase"]
        return []


TOKEN_RE = re.compile(
    r'\s*(?:(?P<lp>\()|(?P<rp>\))|(?P<field>[A-Za-z_]+):(?P<fvalue>"[^"]*"|[^\s()"]*)'
    r'|(?P<neg>-)?"(?P<phrase>[^"]*)(?P<close>"?)|(?P<word>[^\s()"]+))'
)


def parse(text: str, *, now: datetime | None = None) -> ParsedQuery:
    """Parse a user's query; raise ``QuerySyntaxError`` with a helpful message if malformed."""
    if text.count('"') % 2:
        raise QuerySyntaxError('unbalanced quote in query: close the phrase with another "')
    filters: dict[str, list[str]] = {}
    after: datetime | None = None
    before: datetime | None = None
    tokens: list[tuple[str, Any]] = []
    plain_words: list[QueryWord] = []
    pos = 0
    stripped = text.strip()
    if not stripped:
        raise QuerySyntaxError("empty query: type some words, e.g. incidentbook search 'refund'")
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        found = TOKEN_RE.match(text, pos)
        if not found or found.end() == pos:
            raise QuerySyntaxError(f"cannot read the query at {text[pos : pos + 20]!r}")
        pos = found.end()
        if found.group("lp"):
            tokens.append(("(", None))
        elif found.group("rp"):
            tokens.append((")", None))
        elif found.group("field") is not None:
            name = found.group("field").lower()
            value = found.group("fvalue").strip('"')
            if name not in FILTERS:
                raise QuerySyntaxError(
                    f"unknown filter {name + ':'!r}; use one of "
                    + ", ".join(f + ":" for f in FILTERS)
                    + ' (or quote it: "'
                    + name
                    + ':…")'
                )
            if not value:
                raise QuerySyntaxError(f"filter {name}: needs a value, e.g. {_example(name)}")
            if name == "after":
                after = parse_date(value, name, now)
            elif name == "before":
                before = parse_date(value, name, now)
            else:
                for item in value.split(","):
                    if item.strip():
                        filters.setdefault(name, []).append(_check_filter(name, item.strip()))
        elif found.group("phrase") is not None:
            words = W.stems_of(found.group("phrase"))
            node: Node | None
            if not words:
                node = None
            elif len(words) == 1:
                node = Node("term", words)
            else:
                node = Node("phrase", words)
            if found.group("neg") and node is not None:
                tokens.append(("-", None))
            if node is not None:
                tokens.append(("node", node))
        else:
            word = found.group("word")
            upper = word.upper()
            if upper in ("AND", "OR", "NOT"):
                tokens.append((upper, None))
                continue
            negate = word.startswith("-") and len(word) > 1
            if negate:
                word = word[1:]
            node = _word_node(word)
            if negate and node is not None:
                tokens.append(("-", None))
            elif node is not None and node.op == "term":
                start, end = found.start("word"), found.end("word")
                plain_words.append(QueryWord(start, end, node.words[0], node))
            if node is not None:
                tokens.append(("node", node))
    if after and before and after >= before:
        raise QuerySyntaxError("after: must be earlier than before:")
    root = _Parser(tokens).parse()
    if root is not None and not _has_positive(root):
        raise QuerySyntaxError("a query needs at least one word that is not negated")
    if root is None and not filters and after is None and before is None:
        raise QuerySyntaxError(
            "nothing to search for: every word is too common (like 'the', 'and'); add another"
        )
    return ParsedQuery(
        text=text, root=root, filters=filters, after=after, before=before, words=plain_words
    )


# -- the filters of a query as typed (for the app's chips) ----------------------------------


@dataclass(frozen=True)
class FilterSpan:
    """One ``name:value[,value]`` of a query as typed: where it is and its raw values."""

    name: str
    start: int
    end: int
    values: tuple[str, ...]


def filter_spans(text: str) -> list[FilterSpan]:
    """Every filter in ``text``, read by the same tokenizer as ``parse`` but never raising
    (a query being typed is often malformed): what the query's filters are while typing."""
    spans: list[FilterSpan] = []
    pos = 0
    while pos < len(text):
        found = TOKEN_RE.match(text, pos)
        if not found or found.end() == pos:
            pos += 1
            continue
        pos = found.end()
        if found.group("field") is not None:
            raw = found.group("fvalue").strip('"')
            values = tuple(v.strip() for v in raw.split(",") if v.strip())
            name = found.group("field").lower()
            spans.append(FilterSpan(name, found.start("field"), found.end("fvalue"), values))
    return spans


def _normal(name: str, value: str) -> str | None:
    try:
        return _check_filter(name, value)
    except QuerySyntaxError:
        return None


def filter_values(text: str, name: str) -> set[str]:
    """The valid values of filter ``name`` in ``text`` as ``parse`` reads them (aliases
    resolved: ``kind:postmortems`` is ``postmortem``); an invalid value is left out."""
    return {
        low
        for span in filter_spans(text)
        if span.name == name
        for value in span.values
        if (low := _normal(name, value)) is not None
    }


def toggle_filter(text: str, name: str, value: str) -> str:
    """``text`` with ``name:value`` removed if the query has it (every spelling of it), else
    added (to the last ``name:`` filter as another value, or at the end)."""
    wanted = _check_filter(name, value)
    spans = [s for s in filter_spans(text) if s.name == name]
    if wanted in filter_values(text, name):
        out: list[str] = []
        last = 0
        for span in spans:
            kept = [v for v in span.values if _normal(name, v) != wanted]
            start, end = span.start, span.end
            if not kept:  # the whole filter goes, with the space on one side of it
                after_space = start == 0 or text[start - 1].isspace()
                while end < len(text) and text[end].isspace() and after_space:
                    end += 1
                while start > last and text[start - 1].isspace() and end == len(text):
                    start -= 1
            out.append(text[last:start])
            if kept:
                out.append(f"{name}:{','.join(kept)}")
            last = end
        out.append(text[last:])
        return "".join(out)
    if spans:
        span = spans[-1]
        valid = [v for v in span.values if _normal(name, v) is not None]  # "kind:post" half typed
        merged = f"{name}:{','.join([*valid, wanted])}"
        return text[: span.start] + merged + text[span.end :]
    head = text.rstrip()
    return f"{head} {name}:{wanted}" if head else f"{name}:{wanted}"


def _example(name: str) -> str:
    return {
        "kind": "kind:incident",
        "service": "service:payments",
        "tag": "tag:webhook",
        "severity": "severity:critical",
        "status": "status:resolved",
        "alert": "alert:balance_mismatch",
        "after": "after:2026-10-01",
        "before": "before:2026-10-31",
    }[name]


def _check_filter(name: str, value: str) -> str:
    low = value.lower()
    if name == "kind":
        low = KIND_ALIASES.get(low, low)
        if low not in W.KINDS:
            raise QuerySyntaxError(f"unknown kind {value!r}; choose one of {', '.join(W.KINDS)}")
    elif name == "severity" and low not in SEVERITIES:
        raise QuerySyntaxError(f"unknown severity {value!r}; choose one of {', '.join(SEVERITIES)}")
    return low


def parse_date(value: str, name: str, now: datetime | None) -> datetime:
    relative = re.fullmatch(r"(\d+)([hdw])", value.lower())
    if relative:
        if len(relative.group(1)) > 9:  # past any date (and past int()'s 4,300-digit limit)
            raise QuerySyntaxError(f"{name}:{value} reaches back before the year 1")
        amount = int(relative.group(1))
        unit = {"h": "hours", "d": "days", "w": "weeks"}[relative.group(2)]
        base = now or datetime.now(UTC)
        try:
            return base - timedelta(**{unit: amount})
        except OverflowError:
            raise QuerySyntaxError(f"{name}:{value} reaches back before the year 1") from None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise QuerySyntaxError(
            f"{name}:{value} is not a date; use {name}:2026-10-01, {name}:2026-10-01T14:00 or "
            f"{name}:7d"
        ) from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    try:
        moment.astimezone(UTC)
    except OverflowError:
        raise QuerySyntaxError(f"{name}:{value} is outside the years 1 to 9999 in UTC") from None
    return moment


def _word_node(word: str) -> Node | None:
    if word.endswith("*"):
        raw = word.rstrip("*").lower()
        if "*" in raw or "?" in raw:
            raise QuerySyntaxError(f"wildcards only at the end of a word: {word!r}")
        if len(raw) < MIN_PREFIX or not W.TOKEN.fullmatch(raw):
            raise QuerySyntaxError(
                f"a prefix search needs at least {MIN_PREFIX} letters before *: {word!r}"
            )
        return Node("prefix", [raw])
    if "*" in word:
        raise QuerySyntaxError(f"wildcards only at the end of a word: {word!r}")
    words = W.stems_of(word)
    if not words:
        return None
    if len(words) == 1:
        return Node("term", words)
    return Node("phrase", words)  # INC-0007, balance_mismatch: adjacent parts


def _has_positive(node: Node) -> bool:
    if node.op == "not":
        return False
    if node.op in ("and", "or"):
        return any(_has_positive(c) for c in node.children)
    return True


class _Parser:
    """or := and (OR and)* ; and := unary ([AND] unary)* ; unary := (NOT|-) unary | atom."""

    def __init__(self, tokens: list[tuple[str, Any]]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.depth = 0  # open parentheses and NOTs around the current position

    def deeper(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise QuerySyntaxError(f"the query nests deeper than {MAX_DEPTH} levels")

    def peek(self) -> str | None:
        return self.tokens[self.pos][0] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, Any]:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def parse(self) -> Node | None:
        if not self.tokens:
            return None
        node = self.or_expr()
        if self.pos < len(self.tokens):
            kind = self.peek()
            if kind == ")":
                raise QuerySyntaxError("unbalanced parenthesis: a ')' has no matching '('")
            raise QuerySyntaxError(f"unexpected {kind!r} in query")
        return node

    def or_expr(self) -> Node | None:
        parts = [self.and_expr()]
        while self.peek() == "OR":
            self.take()
            if self.peek() in (None, ")", "OR", "AND"):
                raise QuerySyntaxError("OR needs a word on both sides")
            parts.append(self.and_expr())
        kept = [p for p in parts if p is not None]
        if not kept:
            return None
        return kept[0] if len(kept) == 1 else Node("or", children=kept)

    def and_expr(self) -> Node | None:
        parts = [self.unary()]
        explicit = False
        while self.peek() not in (None, ")", "OR"):
            if self.peek() == "AND":
                self.take()
                explicit = True
                if self.peek() in (None, ")", "OR", "AND"):
                    raise QuerySyntaxError("AND needs a word on both sides")
            parts.append(self.unary())
        kept = [p for p in parts if p is not None]
        if not kept:
            return None
        if len(kept) == 1:
            return kept[0]
        return Node("and", children=kept, implicit=not explicit)

    def unary(self) -> Node | None:
        kind = self.peek()
        if kind in ("NOT", "-"):
            self.take()
            if self.peek() in (None, ")", "OR", "AND"):
                raise QuerySyntaxError("NOT needs a word after it")
            self.deeper()
            inner = self.unary()
            self.depth -= 1
            return Node("not", children=[inner]) if inner is not None else None
        return self.atom()

    def atom(self) -> Node | None:
        kind = self.peek()
        if kind is None:
            raise QuerySyntaxError("the query ends too early")
        if kind == "(":
            self.take()
            if self.peek() is None:
                raise QuerySyntaxError("unbalanced parenthesis: add a closing ')'")
            if self.peek() == ")":
                raise QuerySyntaxError("empty parentheses in query")
            self.deeper()
            node = self.or_expr()
            self.depth -= 1
            if self.peek() != ")":
                raise QuerySyntaxError("unbalanced parenthesis: add a closing ')'")
            self.take()
            return node
        if kind == ")":
            raise QuerySyntaxError("unbalanced parenthesis: a ')' has no matching '('")
        if kind in ("AND", "OR"):
            raise QuerySyntaxError(f"{kind} needs a word on both sides")
        _kind, node = self.take()
        assert isinstance(node, Node)
        return node


# -- to Whoosh -----------------------------------------------------------------------------


def to_whoosh(node: Node, *, any_of: bool = False) -> Any:
    Q = W.query
    if node.op == "term":
        return Q.Or([Q.Term(f, node.words[0]) for f in TEXT_FIELDS])
    if node.op == "prefix":
        raw = node.words[0]
        variants = list(dict.fromkeys([raw, W.stem(raw)]))
        return Q.Or([Q.Prefix(f, v) for f in TEXT_FIELDS for v in variants])
    if node.op == "phrase":
        return Q.Or([Q.Phrase(f, node.words) for f in TEXT_FIELDS])
    if node.op == "not":
        return Q.Not(to_whoosh(node.children[0]))
    if node.op == "or":
        return Q.Or([to_whoosh(c) for c in node.children])
    if node.op == "and":
        parts = [to_whoosh(c) for c in node.children]
        if any_of and node.implicit:
            return Q.Or([p for p, c in zip(parts, node.children, strict=True) if c.op != "not"])
        return Q.And(parts)
    raise ValueError(node.op)


def to_whoosh_fast(root: Node) -> Any:
    """Like ``to_whoosh``, but top-level phrases (``ParsedQuery.top_phrases``) become the AND of
    their words: the engine checks the phrases on candidates itself, without the positional
    intersection Whoosh would run over every document containing the words."""
    Q = W.query

    def words(node: Node) -> Any:
        return Q.And([Q.Or([Q.Term(f, w) for f in TEXT_FIELDS]) for w in dict.fromkeys(node.words)])

    if root.op == "phrase":
        return words(root)
    if root.op == "and":
        return Q.And([words(c) if c.op == "phrase" else to_whoosh(c) for c in root.children])
    return to_whoosh(root)


def filter_query(parsed: ParsedQuery, kind: str | None = None) -> Any:
    Q = W.query
    parts: list[Any] = []
    filters = list(parsed.filters.items())
    if kind:
        kinds = [_check_filter("kind", k.strip()) for k in kind.split(",") if k.strip()]
        filters.append(("kind", kinds))
    for name, values in filters:
        fieldname = FILTER_FIELDS[name]
        parts.append(Q.Or([Q.Term(fieldname, v) for v in dict.fromkeys(values)]))
    if parsed.after or parsed.before:
        start = parsed.after.astimezone(UTC).replace(tzinfo=None) if parsed.after else None
        end = parsed.before.astimezone(UTC).replace(tzinfo=None) if parsed.before else None
        parts.append(Q.DateRange("created", start, end, startexcl=False, endexcl=True))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else Q.And(parts)
