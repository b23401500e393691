"""The one Jinja2 environment for documents: sandboxed, workspace templates first.

A workspace's ``templates/`` overrides the shipped templates by file name. Templates run in
``jinja2.sandbox.SandboxedEnvironment``: attribute escapes such as ``''.__class__.__mro__`` raise
``SecurityError``. Each folder's loader reads only files whose real path (symlinks resolved) is
inside that folder: a template, ``{% include %}``, ``{% extends %}`` or ``{% import %}`` that
names an absolute path, climbs with ``..`` or resolves elsewhere through a symlink is refused.
A render runs in a worker thread under a time limit (``RENDER_SECONDS``) and an output-size
limit (``MAX_OUTPUT_CHARS``); ``*`` and ``**`` are bounded so one expression cannot build a
huge value. HTML templates (``*.html.j2``) are autoescaped. The caller writes nothing until a
render has returned.

Every failure becomes one ``UsageError`` line naming the template and, when known, the line.
"""

from __future__ import annotations

import ctypes
import os
import re
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    StrictUndefined,
    Template,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    UndefinedError,
)
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from incidentbook.errors import UsageError
from incidentbook.money import format_minor
from incidentbook.present import change_before_text
from incidentbook.resources import shipped_dir

if TYPE_CHECKING:
    from incidentbook.settings import Settings


def template_dirs(settings: Settings) -> list[Path]:
    dirs = [settings.templates_dir, shipped_dir("templates")]
    seen: list[Path] = []
    for d in dirs:
        if d.is_dir() and d.resolve() not in [s.resolve() for s in seen]:
            seen.append(d)
    return seen


RENDER_SECONDS = 5.0
MAX_OUTPUT_CHARS = 4 * 1024 * 1024
MAX_REPEAT = 1024 * 1024  # longest str/list a template may build with ``*``
MAX_EXPONENT = 1024
MAX_POWER_BITS = 1 << 16


class TemplateRefused(TemplateError):
    """A template name that would read outside its folder. Not a ``TemplateNotFound``, so a
    ``ChoiceLoader`` stops at it instead of trying the next folder."""

    def __init__(self, name: str, why: str) -> None:
        super().__init__(f"{name} {why}")
        self.name = name
        self.why = why


class RenderTimeout(BaseException):
    """Raised inside the rendering thread when the time limit passes (a BaseException so no
    ``except Exception`` in a filter swallows it)."""


class OutputTooLarge(Exception):
    pass


class ConfinedLoader(BaseLoader):
    """Loads templates from one folder, and only files whose real path is inside it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.root = os.path.realpath(folder)

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        pieces = template.replace("\\", "/").split("/")
        if template.startswith(("/", "\\")) or ".." in pieces:
            raise TemplateRefused(template, f"is outside the template folder {self.folder}")
        filename = os.path.join(self.root, *[p for p in pieces if p not in ("", ".")])
        if not os.path.lexists(filename):
            raise TemplateNotFound(template)
        real = os.path.realpath(filename)
        if os.path.commonpath([real, self.root]) != self.root:
            raise TemplateRefused(
                template, f"resolves to {real}, outside the template folder {self.folder}"
            )
        if not os.path.isfile(real):
            raise TemplateNotFound(template)
        with open(real, encoding="utf-8") as handle:
            contents = handle.read()
        mtime = os.path.getmtime(real)

        def uptodate() -> bool:
            try:
                return os.path.getmtime(real) == mtime
            except OSError:
                return False

        return contents, filename, uptodate


class DocumentEnvironment(SandboxedEnvironment):
    """The sandbox with ``*`` and ``**`` bounded (a huge string or power is built in C, where
    the time limit cannot stop it)."""

    intercepted_binops = frozenset(["*", "**"])

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        ints = isinstance(left, int) and isinstance(right, int)
        if operator == "**" and ints and _power_too_large(left, right):
            raise SecurityError(f"a power of {right} is too large")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                sized = isinstance(seq, str | list | tuple) and isinstance(times, int)
                if sized and len(seq) * times > MAX_REPEAT:
                    raise SecurityError(
                        f"repeating a value would build more than {MAX_REPEAT} items"
                    )
        return super().call_binop(context, operator, left, right)


def _power_too_large(base: int, exponent: int) -> bool:
    return abs(exponent) > MAX_EXPONENT or base.bit_length() * abs(exponent) > MAX_POWER_BITS


def md_cell(value: Any) -> str:
    """Text safe inside one Markdown table cell: one line, pipes escaped, no comment markers."""
    return md_inline(value).replace("|", "\\|")


def md_inline(value: Any) -> str:
    """Text safe on one Markdown line: whitespace collapsed; HTML comment openers neutralised
    so a note can never forge an ``incidentbook:begin``/``end`` marker."""
    text = " ".join(str(value if value is not None else "").split())
    return text.replace("<!--", "&lt;!--").replace("-->", "--&gt;")


def money(minor: int, currency: str) -> str:
    """Integer minor units -> '-1,204,331.17 EUR', with the currency's ISO 4217 minor unit
    (an ASCII minus: documents are Markdown text)."""
    return format_minor(minor, currency, minus="-")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    total = round(seconds)
    sign = "-" if total < 0 else ""
    total = abs(total)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{sign}{hours}h {minutes:02d}m"
    if minutes:
        return f"{sign}{minutes}m {secs:02d}s"
    return f"{sign}{secs}s"


def hhmm(value: Any) -> str:
    """'2026-10-17T02:14:00.000000Z' -> '2026-10-17 02:14:00Z'."""
    text = str(value or "")
    match = re.match(r"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})", text)
    return f"{match.group(1)} {match.group(2)}Z" if match else text


def change_line(prior: dict[str, Any], anchor: dict[str, Any]) -> str:
    """One change before detection, in UTC (documents are in UTC): 'api v2 deployed 01:55,
    7 minutes before the first duplicate'."""
    return change_before_text(
        str(prior["summary"]),
        str(prior["at"]),
        float(prior["seconds_before"]),
        str(anchor["kind"]),
        anchor.get("check"),
        ZoneInfo("UTC"),
    )


def make_environment(settings: Settings) -> SandboxedEnvironment:
    env = DocumentEnvironment(
        loader=ChoiceLoader([ConfinedLoader(d) for d in template_dirs(settings)]),
        autoescape=lambda name: bool(name and name.endswith((".html.j2", ".html"))),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        md_cell=md_cell,
        md_inline=md_inline,
        money=money,
        duration=duration,
        hhmm=hhmm,
        change_line=change_line,
    )
    return env


def render(settings: Settings, name: str, context: dict[str, Any]) -> str:
    """Render template ``name`` with ``context``; any failure is one line naming the template
    (whitespace folded: a message may quote a name or value with line breaks)."""
    try:
        return _render(settings, name, context)
    except UsageError as exc:
        raise UsageError(" ".join(str(exc).split())) from None


def _render(settings: Settings, name: str, context: dict[str, Any]) -> str:
    env = make_environment(settings)
    try:
        template = env.get_template(name)
    except TemplateRefused as exc:
        raise UsageError(f"template {exc.name} refused: it {exc.why}") from None
    except TemplateNotFound:
        where = " or ".join(str(d) for d in template_dirs(settings)) or "no template folder"
        raise UsageError(f"template {name} not found in {where}") from None
    except TemplateSyntaxError as exc:
        label = exc.filename or exc.name or name
        raise UsageError(f"template {label} line {exc.lineno}: {exc.message}") from None
    label = template.filename or name
    try:
        return _render_limited(template, context, name)
    except RenderTimeout:
        raise UsageError(
            f"template {label}: refused, rendering took longer than {RENDER_SECONDS:g} s "
            "(a loop too large?)"
        ) from None
    except OutputTooLarge:
        raise UsageError(
            f"template {label}: refused, its output is larger than "
            f"{MAX_OUTPUT_CHARS // (1024 * 1024)} MiB"
        ) from None
    except TemplateRefused as exc:
        line = _template_line(exc, template.filename)
        raise UsageError(f"template {label}{line}: refused {exc.name}: it {exc.why}") from None
    except SecurityError as exc:
        line = _template_line(exc, template.filename)
        raise UsageError(f"template {label}{line}: refused by the sandbox: {exc}") from None
    except UndefinedError as exc:
        line = _template_line(exc, template.filename)
        raise UsageError(f"template {label}{line}: {exc.message}") from None
    except TemplateNotFound as exc:  # an include or import of a missing template
        line = _template_line(exc, template.filename)
        raise UsageError(f"template {label}{line}: template {exc.name} not found") from None
    except TemplateSyntaxError as exc:  # e.g. an included template is broken
        label = exc.filename or exc.name or name
        raise UsageError(f"template {label} line {exc.lineno}: {exc.message}") from None
    except Exception as exc:
        line = _template_line(exc, template.filename)
        raise UsageError(f"template {label}{line}: {type(exc).__name__}: {exc}") from None


def _render_limited(template: Template, context: dict[str, Any], name: str) -> str:
    """Render in a thread; past ``RENDER_SECONDS`` the thread gets ``RenderTimeout`` raised in
    it (checked between bytecodes, so a template loop stops), and output beyond
    ``MAX_OUTPUT_CHARS`` stops it at once. Raises what the render raised."""
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            parts: list[str] = []
            size = 0
            for chunk in template.generate(**context):
                size += len(chunk)
                if size > MAX_OUTPUT_CHARS:
                    raise OutputTooLarge()
                parts.append(chunk)
            outcome["text"] = "".join(parts)
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc

    worker = threading.Thread(target=work, name=f"template {name}", daemon=True)
    worker.start()
    worker.join(RENDER_SECONDS)
    if worker.is_alive() and worker.ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(worker.ident), ctypes.py_object(RenderTimeout)
        )
        worker.join(1.0)
        if worker.is_alive():  # stuck inside one C call: abandon it (a daemon thread)
            raise RenderTimeout()
    error = outcome.get("error")
    if error is not None:
        raise error
    return str(outcome["text"])


def _template_line(exc: BaseException, filename: str | None) -> str:
    """Jinja rewrites tracebacks so template frames carry the template's file and line."""
    if not filename:
        return ""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == filename:
            line = frame.lineno
    return f" line {line}" if line is not None else ""
