"""The one decision on whether a stream gets colour, bold or progress bars: not under
``NO_COLOR``, not on a non-TTY, not with ``TERM=dumb``. Every command asks here; nothing else in
the CLI writes escape codes. (No import of the CLI package: its root command asks too.)"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


PhaseProgress = Callable[[str, int, int], None]


@contextmanager
def phase_bars(enabled: bool = True) -> Iterator[PhaseProgress | None]:
    """Rich progress bars on stderr, one per phase (``update(phase, done, total)``), when
    ``enabled`` and stderr is ``fancy``; None otherwise (a pipe, ``NO_COLOR``, ``--json``)."""
    console = progress_console() if enabled else None
    if console is None:
        yield None
        return
    from rich.progress import (  # deferred: rich is only needed for a bar
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TimeRemainingColumn,
    )

    bars = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    tasks: dict[str, TaskID] = {}

    def update(phase: str, done: int, total: int) -> None:
        if phase not in tasks:
            tasks[phase] = bars.add_task(phase, total=max(total, done, 1))
        bars.update(tasks[phase], completed=done, total=max(total, done, 1))

    with bars:
        yield update
