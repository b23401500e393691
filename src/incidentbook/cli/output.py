"""Printing results: JSON for scripts, short aligned text for people."""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import click

from incidentbook.cli import CliState


def emit(value: object, as_json: bool, human: Callable[[], None]) -> None:
    if as_json:
        click.echo(json.dumps(value, indent=2, sort_keys=False, default=str))
    else:
        human()


def record_json(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    """``--json``'s callback: the invocation's errors are printed as JSON too (``_fail``)."""
    state = ctx.find_object(CliState)
    if value and state is not None:
        state.json_errors = True
    return value


# Eager, so it is recorded before the command's other parameters can fail to convert.
json_option = click.option(
    "--json",
    "as_json",
    is_flag=True,
    is_eager=True,
    callback=record_json,
    help="Print JSON for scripts.",
)
reason_option = click.option("--reason", "-r", metavar="TEXT", help="Why: kept on the event.")


def finite(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """A float option's callback: ``nan`` and ``inf`` pass click's FloatRange (every comparison
    with NaN is false); refuse them as the usage error they are."""
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a finite number", ctx, param)
    return value


def cli_state(ctx: click.Context) -> CliState:
    """The root command's state (workspace, actor, correlation id, services)."""
    state = ctx.find_object(CliState)
    assert state is not None
    return state

