"""The ``incidentbook`` command: thin over the core, lazy so ``--help`` starts fast.

Subcommands live in their own modules and are imported only when invoked (or listed by
``--help``). Every expected failure is one line on stderr and an exit code from DESIGN §10.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from incidentbook import __version__
from incidentbook.errors import EXIT_FINDINGS, EXIT_USAGE, IncidentbookError

# name -> "module:attribute"; each module holds one command or group.
LAZY_COMMANDS: dict[str, str] = {
    "init": "incidentbook.cli.workspace_cmds:init_cmd",
    "demo": "incidentbook.cli.workspace_cmds:demo_cmd",
    "verify": "incidentbook.cli.workspace_cmds:verify_cmd",
    "stats": "incidentbook.cli.workspace_cmds:stats_cmd",
    "incident": "incidentbook.cli.incident:incident",
    "runbooks": "incidentbook.cli.runbooks:runbooks",
    "search": "incidentbook.cli.search:search_cmd",
    "index": "incidentbook.cli.index:index",
    "alerts": "incidentbook.cli.alerts:alerts",
    "serve": "incidentbook.cli.serve:serve_cmd",
    "postmortem": "incidentbook.cli.postmortem:postmortem",
    "premortem": "incidentbook.cli.premortem:premortem",
    "actions": "incidentbook.cli.actions:actions",
    "reconcile": "incidentbook.cli.reconcile:reconcile_cmd",
    "audit": "incidentbook.cli.audit:audit_cmd",
}


# One-line help for the command list, so ``incidentbook --help`` imports no command module
# (and with them SQLAlchemy and Textual). A command missing here is imported to get its help.
LAZY_HELP: dict[str, str] = {
    "init": "Create a workspace in DIRECTORY (existing files are kept).",
    "demo": "Fill the workspace with a demo: past incidents, a ledger, live alerts.",
    "verify": "Re-derive all state from the event log and compare; exit 1 on drift.",
    "stats": "Counters: incidents, alerts, events, MTTA/MTTR, pending index work.",
    "incident": "Open, acknowledge, annotate, resolve and inspect incidents.",
    "reconcile": "Check the ledger: balances vs histories, duplicates, and more.",
    "audit": "An account's audit trail, balances, and correlation traces.",
    "alerts": "Ingest, list and inspect alerts.",
    "serve": "Receive alerts over HTTP (Alertmanager, PagerDuty Events v2).",
    "runbooks": "List, lint and match runbooks.",
    "search": "Full-text search over incidents, alerts, runbooks and documents.",
    "index": "Rebuild or inspect the search index.",
    "postmortem": "Write, lint and export postmortems.",
    "premortem": "Start a pre-mortem for a launch.",
    "actions": "Action items from postmortems, tracked until done.",
}


class LazyGroup(click.Group):
    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            if name in LAZY_HELP:
                rows.append((name, LAZY_HELP[name]))
                continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=70)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS:
            module_name, _, attr = LAZY_COMMANDS[cmd_name].partition(":")
            command = getattr(importlib.import_module(module_name), attr)
            assert isinstance(command, click.Command)
            return command
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except IncidentbookError as exc:
            _fail(ctx, str(exc), exc.exit_code)
        except click.UsageError as exc:
            # one line like every other error, not click's usage, hint and error
            where = (exc.ctx or ctx).command_path
            _fail(ctx, f"{where}: {exc.format_message()} (see --help)", exc.exit_code)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            _fail(ctx, "interrupted", 130)
        except Exception as exc:
            from sqlalchemy.exc import OperationalError

            if isinstance(exc, OperationalError):
                _fail(ctx, f"database error: {exc.orig}", EXIT_FINDINGS)
            from incidentbook.obs import logger

            logger().exception("internal_error")
            _fail(ctx, f"internal error: {type(exc).__name__}: {exc}", EXIT_FINDINGS)


def _fail(ctx: click.Context, message: str, code: int) -> None:
    from incidentbook.obs import log_error

    state = ctx.find_object(CliState)
    log_error(
        "command_failed",
        message,
        state.correlation_id if state else None,
        command=ctx.invoked_subcommand,
    )
    click.echo(f"incidentbook: error: {message}", err=True)
    ctx.exit(code)


class CliState:
    """Root options, resolved into settings and services only when a command needs them."""

    def __init__(self, workspace: str | None, actor: str | None, correlation_id: str | None):
        self.workspace = workspace
        self.actor = actor
        # One correlation id per invocation ties its events and log lines together.
        from incidentbook.context import new_correlation_id

        self.correlation_id = correlation_id or new_correlation_id()
        self._services: Any = None

    @property
    def services(self) -> Any:
        if self._services is None:
            from incidentbook.obs import configure_logging
            from incidentbook.services import make_services
            from incidentbook.settings import load_settings

            settings = load_settings(self.workspace, actor=self.actor)
            configure_logging(settings.logs_dir)
            self._services = make_services(settings)
        return self._services

    def context(self, reason: str | None = None) -> Any:
        return self.services.context(reason, correlation_id=self.correlation_id)


@click.group(
    cls=LazyGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--workspace",
    "-w",
    metavar="DIR",
    envvar="INCIDENTBOOK_WORKSPACE",
    help="Workspace directory (default: nearest parent with incidentbook.toml).",
)
@click.option(
    "--actor",
    metavar="ACTOR",
    envvar="INCIDENTBOOK_ACTOR",
    help="Who is acting, recorded on every event (default: user:$USER).",
)
@click.option(
    "--correlation-id",
    metavar="ID",
    envvar="INCIDENTBOOK_CORRELATION_ID",
    help="Correlation id for every event this command records (default: generated).",
)
@click.version_option(__version__, prog_name="incidentbook")
@click.pass_context
def cli(
    ctx: click.Context, workspace: str | None, actor: str | None, correlation_id: str | None
) -> None:
    """incidentbook: incidents, alerts, runbooks and postmortems for a money ledger.

    Run with no command to open the app.
    """
    ctx.obj = CliState(workspace, actor, correlation_id)
    if ctx.invoked_subcommand is None:
        from incidentbook.ui.app import make_app

        state: CliState = ctx.obj
        make_app(state.services.settings).run()


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="incidentbook", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_USAGE)
        sys.exit(code)
