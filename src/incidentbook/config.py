"""incidentbook.toml's schema: one pydantic model per section, every key and its type, range and
default, validated with the environment laid over the file (``INCIDENTBOOK_<SECTION>_<KEY>``);
the first problem is one line naming the file (or the variable), the section and the key.

The rule for the environment: ``INCIDENTBOOK_`` then the section and the key in capitals, joined
by ``_`` (``INCIDENTBOOK_LEDGER_URL``, ``INCIDENTBOOK_RECONCILER_KEEP_RUNS``,
``INCIDENTBOOK_LOG_LEVEL``). A variable beats the file. A list is comma-separated
(``INCIDENTBOOK_ALERTS_GROUP_BY=alertname,env``). ``[app.keys]`` has no variable.
``INCIDENTBOOK_TOKEN`` is the older name of ``INCIDENTBOOK_SERVER_TOKEN``. The variables that
are not settings (``INCIDENTBOOK_WORKSPACE``, ``_ACTOR``, ``_CORRELATION_ID``) name no section.
"""

from __future__ import annotations

import difflib
import math
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from incidentbook.errors import UsageError

CONFIG_FILE = "incidentbook.toml"
ENV_PREFIX = "INCIDENTBOOK_"
# Older names kept working: the variable and the setting it sets.
ENV_ALIASES = {"INCIDENTBOOK_TOKEN": ("server", "token")}

TEN_YEARS_S = 10 * 365 * 86_400
WINDOW_MAX_S = 7 * 86400
_WINDOW_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
DEFAULT_LEDGER_URL = "sqlite:///.incidentbook/ledger.sqlite"
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def parse_window(value: Any, where: str = "[alerts] change_window") -> int:
    """A duration of at least 1 s and at most 7 days: an integer of seconds, or text of
    number-unit parts ("2h", "90m", "1h30m", "45s"); anything else is a UsageError."""
    seconds: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    elif isinstance(value, str):
        text = value.strip().lower()
        parts = re.findall(r"(\d+)\s*([smhd])", text)
        if parts and re.fullmatch(r"(\s*\d+\s*[smhd])+\s*", text):
            seconds = sum(int(n) * _WINDOW_UNITS[u] for n, u in parts)
        elif text.isdigit():
            seconds = int(text)
    if seconds is None or not 1 <= seconds <= WINDOW_MAX_S:
        raise UsageError(
            f"{where} is {value!r}: give a duration from 1s to 7d, like \"2h\" or \"90m\""
        )
    return seconds


class Section(BaseModel):
    """A section: no key it does not name, no type but its own (no "300" for 300, no 1.0 for 1,
    no true for 1, no nan or inf)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


class WorkspaceSection(Section):
    # Days ("audit --on DATE") and displayed times use this IANA time zone.
    timezone: str = "UTC"


class LedgerSection(Section):
    # SQLAlchemy URL of the ledger; a relative SQLite path is relative to the workspace.
    url: str = Field(default=DEFAULT_LEDGER_URL, min_length=1)


class ReconcilerSection(Section):
    # clock_skew: how far back a recorded_at may step before it is a finding
    clock_skew_tolerance_s: float = Field(default=300, ge=1, le=TEN_YEARS_S)
    # incremental runs: accounts updated this long before the last run are looked at again
    overlap_window_s: float = Field(default=600, ge=0, le=TEN_YEARS_S)
    # incremental runs: entry ids re-read below the last run's highest
    entry_overlap: int = Field(default=1000, ge=0, le=10**12)
    # complete runs of a ledger whose findings are kept (older ones keep their summary)
    keep_runs: int = Field(default=20, ge=1, le=100_000)


class AlertsSection(Section):
    # alerts group into incident candidates by these label names (a single name is one)
    group_by: list[str] | str = ["alertname"]
    # how far before an incident's first bad entry its deploy context reaches
    change_window: int | str = "2h"

    @field_validator("change_window")
    @classmethod
    def _a_duration(cls, value: int | str) -> int | str:
        try:
            parse_window(value)
        except UsageError:
            raise ValueError(
                f"is {value!r}: give a duration from 1s to 7d, like \"2h\" or \"90m\""
            ) from None
        return value

    @property
    def group_labels(self) -> list[str]:
        return [self.group_by] if isinstance(self.group_by, str) else list(self.group_by)

    @property
    def change_window_s(self) -> int:
        return parse_window(self.change_window)


class ServerSection(Section):
    listen: str = "127.0.0.1:9797"
    # bearer token for `incidentbook serve`
    token: str = ""
    max_body_bytes: int = Field(default=1 << 20, ge=1024, le=1 << 30)
    lock_wait_seconds: float = Field(default=2.0, ge=0.05, le=600.0)
    retry_after_seconds: int = Field(default=1, ge=1, le=3600)
    tls_cert: str = ""
    tls_key: str = ""


class RunbooksSection(Section):
    review_max_age_days: int = Field(default=90, ge=1, le=100_000)


class AppSection(Section):
    # a Textual theme name (checked against the app's themes when it starts)
    theme: str | None = None
    # binding id -> key(s), comma-separated (checked against the app's bindings at start)
    keys: dict[str, str] = {}


class LogSection(Section):
    # the JSON-lines log's level, and its rotation by size
    level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    max_bytes: int = Field(default=10 * 1024 * 1024, ge=4096, le=1 << 40)
    backups: int = Field(default=5, ge=0, le=1000)

    @field_validator("level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


class Config(BaseModel):
    """The whole file: these sections and no others."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    workspace: WorkspaceSection = WorkspaceSection()
    ledger: LedgerSection = LedgerSection()
    reconciler: ReconcilerSection = ReconcilerSection()
    alerts: AlertsSection = AlertsSection()
    server: ServerSection = ServerSection()
    runbooks: RunbooksSection = RunbooksSection()
    app: AppSection = AppSection()
    log: LogSection = LogSection()


SECTIONS: dict[str, type[Section]] = {
    name: typing.cast(type[Section], field.annotation)
    for name, field in Config.model_fields.items()
}


def env_name(section: str, key: str) -> str:
    return f"{ENV_PREFIX}{section.upper()}_{key.upper()}"


def _did_you_mean(word: str, known: list[str], show: str = "'{}'") -> str:
    close = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    if close:
        return f" (did you mean {show.format(close[0])}?)"
    return f" (known: {', '.join(known)})" if known else ""


def _where(loc: tuple[int | str, ...]) -> tuple[str, str | None]:
    """``[section]`` (``[app.keys]`` for the table inside one) and the key, from an error's loc
    (which goes on past the key into a list's items or a union's member)."""
    parts = [str(p) for p in loc]
    if len(parts) == 1:
        return f"[{parts[0]}]", None
    if parts[:2] == ["app", "keys"] and len(parts) > 2:
        return "[app.keys]", parts[2]
    return f"[{parts[0]}]", parts[1]


def _shown(value: object) -> str:
    """A value as TOML spells it (true, not True)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _message(error: Mapping[str, Any], origin: str, raw: Mapping[str, Any]) -> str:
    loc: tuple[int | str, ...] = tuple(error["loc"])
    section, key = _where(loc)
    kind = error["type"]
    if kind == "extra_forbidden":
        if key is None:
            name = str(loc[0])
            return (
                f"{origin}: unknown section {section}"
                + _did_you_mean(name, list(SECTIONS), "[{}]")
            )
        model: type[BaseModel] = SECTIONS.get(str(loc[0]), Section)
        return f"{origin}: {section} unknown key '{key}'" + _did_you_mean(
            key, list(model.model_fields)
        )
    value = error.get("input")
    table = raw.get(str(loc[0]))
    if key is not None and section != "[app.keys]" and isinstance(table, dict) and key in table:
        value = table[key]  # the whole value, not the list item or union member that failed
    if key is None:
        return f"{origin}: {section} must be a table (a [section] of keys), not {_shown(value)}"
    text = str(error["msg"]).removeprefix("Value error, ")
    if text.startswith("is "):
        return f"{origin}: {section} {key} {text}"
    return f"{origin}: {section} {key} is {_shown(value)}: {text[:1].lower()}{text[1:]}"


def validate_config(
    raw: Mapping[str, Any], *, origins: Mapping[tuple[str, str], str] | None = None
) -> Config:
    """The checked config; the first problem is a UsageError of one line naming where it came
    from: the file, or the variable (``origins`` maps (section, key) to a variable's name)."""
    try:
        return Config.model_validate(dict(raw))
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(str(p) for p in first["loc"])
        variable = (origins or {}).get((loc[0], loc[1])) if len(loc) >= 2 else None
        if len(loc) >= 2 and loc[:2] == ("app", "keys"):
            variable = None  # [app.keys] comes only from the file
        raise UsageError(_message(first, variable or CONFIG_FILE, raw)) from None


def _accepts(annotation: Any, kind: type) -> bool:
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return any(_accepts(arg, kind) for arg in typing.get_args(annotation))
    return annotation is kind or typing.get_origin(annotation) is kind


def _from_env(model: type[Section], key: str, text: str, variable: str) -> Any:
    """A variable's text as the value the key's type takes: numbers and booleans read as
    such, lists comma-separated, text as is."""
    annotation: Any = model.model_fields[key].annotation
    if _accepts(annotation, list):
        return [part.strip() for part in text.split(",") if part.strip()]
    if _accepts(annotation, str) or typing.get_origin(annotation) is Literal:
        return text  # a choice of words: checked by the model
    if _accepts(annotation, dict):
        raise UsageError(f"{variable}: a table cannot come from the environment; set it in "
                         f"{CONFIG_FILE}")
    try:
        value = TypeAdapter[Any](annotation).validate_python(text, strict=False)
    except ValidationError as exc:
        reason = str(exc.errors()[0]["msg"])
        raise UsageError(f"{variable} is {text!r}: {reason[:1].lower()}{reason[1:]}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise UsageError(f"{variable} is {text!r}: give a finite number")
    return value


def overlay_env(
    raw: Mapping[str, Any], environ: Mapping[str, str]
) -> tuple[dict[str, Any], dict[tuple[str, str], str]]:
    """The file's settings with the environment's laid over them, and which variable set
    which (section, key). A variable naming a section but no key of it is an error."""
    merged: dict[str, Any] = {
        name: dict(value) if isinstance(value, dict) else value for name, value in raw.items()
    }
    origins: dict[tuple[str, str], str] = {}
    found: list[tuple[str, str, str]] = []
    for variable in sorted(environ):
        if variable in ENV_ALIASES:
            section, key = ENV_ALIASES[variable]
        elif variable.startswith(ENV_PREFIX):
            section, _, key = variable[len(ENV_PREFIX) :].lower().partition("_")
            if section not in SECTIONS or not key:
                continue  # not a setting: INCIDENTBOOK_WORKSPACE, INCIDENTBOOK_ACTOR, ...
            if key not in SECTIONS[section].model_fields:
                known = [env_name(section, k) for k in SECTIONS[section].model_fields]
                raise UsageError(
                    f"{variable}: [{section}] has no key '{key}'"
                    + _did_you_mean(variable, known, "{}")
                )
        else:
            continue
        if environ[variable] == "" and variable in ENV_ALIASES:
            continue  # an empty INCIDENTBOOK_TOKEN has always meant "not set"
        found.append((section, key, variable))
    # The documented name beats the older alias when both are set.
    found.sort(key=lambda item: item[2] in ENV_ALIASES)
    for section, key, variable in found:
        if (section, key) in origins:
            continue
        table = merged.setdefault(section, {})
        if not isinstance(table, dict):
            continue  # the file's own error (a section that is not a table) is reported
        table[key] = _from_env(SECTIONS[section], key, environ[variable], variable)
        origins[(section, key)] = variable
    return merged, origins


def load_config(
    raw: Mapping[str, Any], environ: Mapping[str, str]
) -> tuple[dict[str, Any], dict[tuple[str, str], str]]:
    """The file's mapping with the environment over it, checked, and which variable set
    which (section, key): the file is checked first (an error names it), then the variables
    over it (an error names them)."""
    validate_config(raw)
    merged, origins = overlay_env(raw, environ)
    validate_config(merged, origins=origins)
    return merged, origins
