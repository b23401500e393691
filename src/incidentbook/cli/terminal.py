"""The one decision on whether a stream gets colour, bold or progress bars: not under
``NO_COLOR``, not on a non-TTY, not with ``TERM=dumb``. Every command asks here; nothing else in
the CLI writes escape codes. (No import of the CLI package: its root command asks too.)"""

from __future__ import annotations

import os
import sys
from typing import IO, TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rich.console import Console


def fancy(stream: IO[str] | None = None) -> bool:
    """Whether ``stream`` (stdout by default) may get ANSI colour, bold and progress bars: a
    TTY, no ``NO_COLOR`` (https://no-color.org: set and not empty), and ``TERM`` not dumb.
    Every command asks here; nothing else writes escape codes."""
    stream = stream if stream is not None else sys.stdout
    if os.environ.get("NO_COLOR", "") != "" or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def styled(text: str, **style: Any) -> str:
    """``click.style(text, **style)`` when stdout is ``fancy``, else the text alone."""
    return click.style(text, **style) if fancy() else text


def bold_marks() -> tuple[str, str]:
    """How a search hit's matches are marked: bold on a fancy stdout, else ``**`` marks."""
    return ("\x1b[1m", "\x1b[0m") if fancy() else ("**", "**")


def progress_console() -> Console | None:
    """A rich console on stderr for progress bars, or None when stderr is not ``fancy``."""
    if not fancy(sys.stderr):
        return None
    from rich.console import Console  # deferred: rich is only needed for a bar

    return Console(stderr=True)
