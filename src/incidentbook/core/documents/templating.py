"""The one Jinja2 environment for documents: sandboxed, workspace templates first.

A workspace's ``templates/`` overrides the shipped templates by file name. Templates run in
``jinja2.sandbox.SandboxedEnvironment``: attribute escapes such as ``''.__class__.__mro__`` raise
``SecurityError``, and the loaders only read from the two template folders, so a workspace
template cannot reach the file system. HTML templates (``*.html.j2``) are autoescaped.

Every failure becomes one ``UsageError`` line naming the template and, when known, the line.
"""

from __future__ import annotations

import re
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from jinja2 import (
    ChoiceLoader,
    FileSystemLoader,
    StrictUndefined,
    TemplateNotFound,
    TemplateSyntaxError,
    UndefinedError,
)
from jinja2.exceptions import SecurityError
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
    env = SandboxedEnvironment(
        loader=ChoiceLoader([FileSystemLoader(str(d)) for d in template_dirs(settings)]),
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
    """Render template ``name`` with ``context``; any failure is one line naming the template."""
    env = make_environment(settings)
    try:
        template = env.get_template(name)
    except TemplateNotFound:
        where = " or ".join(str(d) for d in template_dirs(settings)) or "no template folder"
        raise UsageError(f"template {name} not found in {where}") from None
    except TemplateSyntaxError as exc:
        label = exc.filename or exc.name or name
        raise UsageError(f"template {label} line {exc.lineno}: {exc.message}") from None
    try:
        return template.render(**context)
    except SecurityError as exc:
        line = _template_line(exc, template.filename)
        raise UsageError(
            f"template {template.filename}{line}: refused by the sandbox: {exc}"
        ) from None
    except UndefinedError as exc:
        line = _template_line(exc, template.filename)
        raise UsageError(f"template {template.filename}{line}: {exc.message}") from None
    except TemplateSyntaxError as exc:  # e.g. an included template is broken
        label = exc.filename or exc.name or name
        raise UsageError(f"template {label} line {exc.lineno}: {exc.message}") from None
    except Exception as exc:
        line = _template_line(exc, template.filename)
        detail = " ".join(str(exc).split())  # one line: a message may quote a value's text
        raise UsageError(
            f"template {template.filename}{line}: {type(exc).__name__}: {detail}"
        ) from None


def _template_line(exc: BaseException, filename: str | None) -> str:
    """Jinja rewrites tracebacks so template frames carry the template's file and line."""
    if not filename:
        return ""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == filename:
            line = frame.lineno
    return f" line {line}" if line is not None else ""
