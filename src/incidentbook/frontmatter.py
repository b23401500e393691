"""YAML front matter: ``---`` / YAML / ``---`` at the top of a Markdown file."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from incidentbook.errors import UsageError
from incidentbook.text import as_str_list

FENCE = "---"


@dataclass
class Document:
    """A document split into its front matter and body; ``body_offset`` is the body's first
    line number (1-based) in the file, so lint findings point at file lines."""

    meta: dict[str, Any] = field(default_factory=dict)
    body: str = ""
    body_offset: int = 1

    @property
    def kind(self) -> str:
        return str(self.meta.get("kind") or "")

    @property
    def id(self) -> str:
        return str(self.meta.get("id") or "")

    def str_list(self, key: str) -> list[str]:
        return as_str_list(self.meta.get(key))


BOM = "\ufeff"


def split(text: str, *, source: str = "document") -> Document:
    """Parse front matter; a file without it is all body. Bad YAML is a one-line error."""
    doc, error = _parse(text, source)
    if error is not None:
        raise UsageError(error)
    return doc


def split_lenient(text: str, *, source: str = "") -> tuple[Document, str | None]:
    """Like ``split``, for files that must still be read when their front matter is broken
    (runbooks, search): bad YAML leaves the body after the fences and says why. With no
    ``source`` the message names no file (the caller shows the path beside it)."""
    return _parse(text, source)


# Front matter is a few keys. These limits refuse a hostile one before it is built: a
# "billion laughs" of nested aliases, nesting deep enough to exhaust the stack, or megabytes.
MAX_FRONT_MATTER_BYTES = 64 * 1024
MAX_ALIASES = 64
MAX_DEPTH = 32


def _refusal(raw: str) -> str | None:
    """Why this YAML is refused before it is loaded (None: it may be loaded)."""
    import yaml

    if len(raw.encode("utf-8", "surrogatepass")) > MAX_FRONT_MATTER_BYTES:
        return f"front matter is larger than {MAX_FRONT_MATTER_BYTES // 1024} KiB"
    aliases = depth = 0
    for event in yaml.parse(raw, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                return f"front matter uses more than {MAX_ALIASES} YAML aliases"
        elif isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                return f"front matter nests deeper than {MAX_DEPTH} levels"
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return None


def _parse(text: str, source: str) -> tuple[Document, str | None]:
    import yaml

    # A UTF-8 byte-order mark (editors on Windows write one) is not part of the first line.
    lines = text.removeprefix(BOM).split("\n")
    if not lines or lines[0].strip() != FENCE:
        return Document({}, text, 1), None
    for index in range(1, len(lines)):
        # The closing fence starts its line, as YAML's document markers do: an indented
        # ``---`` or ``...`` is inside a value (a block scalar, a multi-line quoted string).
        if lines[index].rstrip() in (FENCE, "..."):
            raw = "\n".join(lines[1:index])
            body = "\n".join(lines[index + 1 :])
            broken = Document({}, body, index + 2)
            try:
                refused = _refusal(raw) if raw.strip() else None
                if refused is not None:
                    return broken, f"{source}: {refused}".lstrip(": ")
                meta = yaml.safe_load(raw) if raw.strip() else {}
                meta = _plain(meta)
            except _Unsupported as exc:
                return broken, f"{source}: front matter: {exc}".lstrip(": ")
            except (ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
                # PyYAML's constructors raise these for a value its resolver accepted
                # (``2001-13-01``, ``!!int z``, ``!!timestamp x``, ``!!bool maybe``, a
                # 5,000-digit integer).
                line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                return broken, f"{source}: front matter: invalid value ({line})".lstrip(": ")
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                where = f" line {mark.line + 2}" if mark is not None else ""
                problem = getattr(exc, "problem", None) or "invalid YAML"
                if not source:
                    return broken, f"front matter{where}: {problem}"
                return broken, f"{source}:{where} front matter: {problem}"
            if meta is None:
                meta = {}
            if not isinstance(meta, dict):
                return broken, f"{source}: front matter must be a YAML mapping".lstrip(": ")
            return Document({str(k): v for k, v in meta.items()}, body, index + 2), None
    return Document({}, text, 1), f"{source}: front matter starts with --- but never ends".lstrip(
        ": "
    )


class _Unsupported(ValueError):
    """A YAML value front matter does not hold (binary data)."""


def _plain(value: Any) -> Any:
    """YAML dates become ISO text, sets and ordered pairs lists, nested keys text, at any depth
    (``MAX_DEPTH`` bounds it), so documents compare and serialise predictably as JSON."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {_key(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((_plain(v) for v in value), key=str)
    if isinstance(value, bytes):
        raise _Unsupported("binary values (!!binary) are not supported")
    return value


def _key(key: Any) -> str:
    plain = _plain(key)
    return plain if isinstance(plain, str) else str(plain)


def dump(meta: dict[str, Any]) -> str:
    import yaml

    class Dumper(yaml.SafeDumper):
        """PyYAML writes a NEL (U+0085) raw inside a single-quoted string, and reads it back
        as a line break: such strings go double-quoted, where it is escaped (``\\N``)."""

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = '"' if "\x85" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    text_ = yaml.dump(
        meta, Dumper=Dumper, sort_keys=False, allow_unicode=True, default_flow_style=None
    )
    return f"{FENCE}\n{text_}{FENCE}\n"


def join(meta: dict[str, Any], body: str) -> str:
    return dump(meta) + body
