"""``incidentbook premortem new``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from incidentbook.cli import CliState
from incidentbook.cli.output import emit, json_option, reason_option

if TYPE_CHECKING:
    from incidentbook.cli import CliState


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


@click.group(short_help="Start a pre-mortem for a launch.")
def premortem() -> None:
    """Pre-mortems before a launch (Klein method)."""


@premortem.command("new")
@click.argument("title")
@click.option("--services", metavar="A,B", help="Services the launch touches.")
@click.option("--tags", metavar="X,Y", help="Tags for search and risk matching.")
@reason_option
@json_option
@click.pass_context
def new_cmd(
    ctx: click.Context,
    title: str,
    services: str | None,
    tags: str | None,
    reason: str | None,
    as_json: bool,
) -> None:
    """Start a pre-mortem, with what has bitten us before already listed."""

    state: CliState | None = ctx.find_object(CliState)
    assert state is not None
    result = state.services.premortems.create(
        title,
        launch_services=_split(services),
        tags=_split(tags),
        ctx=state.context(reason or "pre-mortem started"),
    )

    def human() -> None:
        click.echo(f"{result.id}: wrote {result.path}")
        if result.related:
            click.echo(f"  prefilled {len(result.related)} related item(s) from the past")

    emit(result.to_dict(), as_json, human)
