"""The ``incidentbook`` command: thin over the core, lazy so ``--help`` starts fast.

Subcommands live in their own modules, listed in ``COMMANDS`` with their one-line help, and
are imported only when invoked (``--help`` lists them from the table alone). Inside a command
module the core is imported in the command's body, so ``incidentbook CMD --help`` and shell
completion load neither SQLAlchemy nor Whoosh (0.2-0.3 s each). Every expected failure is one
line on stderr and an exit code from DESIGN §10; under ``--json`` that line is JSON,
``{"error": MESSAGE, "exit_code": N}``, with the same message.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from incidentbook import __version__
from incidentbook.errors import EXIT_FINDINGS, EXIT_USAGE, IncidentbookError, UsageError

# Types only: importing them for real would load settings and the services on ``--help``.
if TYPE_CHECKING:
    from incidentbook.context import Context
    from incidentbook.services import Services


@dataclass(frozen=True)
class LazyCommand:
    """A subcommand: ``module.attribute`` is its click command, named ``name``; ``help`` is
    its one-line help, which must equal the command's short help (a unit test checks)."""

    name: str
    module: str
    attribute: str
    help: str

    def load(self) -> click.Command:
        command = getattr(importlib.import_module(self.module), self.attribute)
        assert isinstance(command, click.Command)
        return command


# The subcommands, each in its own module. Kept lazy, as module names rather than imports,
# for start-up: ``incidentbook --help`` lists them from this table without importing any
# command module (and with them SQLAlchemy and Textual; tests/unit/test_layers.py checks).
COMMANDS: list[LazyCommand] = [
    LazyCommand(
        "init",
        "incidentbook.cli.workspace_cmds",
        "init_cmd",
        "Create a workspace in DIRECTORY (existing files are kept).",
    ),
    LazyCommand(
        "demo",
        "incidentbook.cli.workspace_cmds",
        "demo_cmd",
        "Fill the workspace with a demo: past incidents, a ledger, live alerts.",
    ),
    LazyCommand(
        "verify",
        "incidentbook.cli.workspace_cmds",
        "verify_cmd",
        "Re-derive all state from the event log and compare; exit 1 on drift.",
    ),
    LazyCommand(
        "stats",
        "incidentbook.cli.stats",
        "stats_cmd",
        "Health: reconciler lag, discrepancies over full runs, open alerts, MTTA/MTTR, overdue.",
    ),
    LazyCommand(
        "incident",
        "incidentbook.cli.incident",
        "incident",
        "Open, acknowledge, annotate, resolve and inspect incidents.",
    ),
    LazyCommand(
        "runbooks", "incidentbook.cli.runbooks", "runbooks", "List, lint and match runbooks."
    ),
    LazyCommand(
        "search",
        "incidentbook.cli.search",
        "search_cmd",
        "Full-text search over incidents, alerts, runbooks and documents.",
    ),
    LazyCommand("index", "incidentbook.cli.index", "index", "Rebuild or inspect the search index."),
    LazyCommand("alerts", "incidentbook.cli.alerts", "alerts", "Ingest, list and inspect alerts."),
    LazyCommand(
        "changes",
        "incidentbook.cli.changes",
        "changes",
        "Change events: deploys, config changes, migrations.",
    ),
    LazyCommand(
        "serve",
        "incidentbook.cli.serve",
        "serve_cmd",
        "Receive alerts over HTTP (Alertmanager, PagerDuty Events v2).",
    ),
    LazyCommand(
        "postmortem",
        "incidentbook.cli.postmortem",
        "postmortem",
        "Write, lint and export postmortems.",
    ),
    LazyCommand(
        "premortem", "incidentbook.cli.premortem", "premortem", "Start a pre-mortem for a launch."
    ),
    LazyCommand(
        "actions",
        "incidentbook.cli.actions",
        "actions",
        "Action items from postmortems, tracked until done.",
    ),
    LazyCommand(
        "reconcile",
        "incidentbook.cli.reconcile",
        "reconcile_cmd",
        "Check the ledger: balances vs histories, duplicates, and more.",
    ),
    LazyCommand(
        "fix",
        "incidentbook.cli.fix",
        "fix",
        "Fix forward: plan, apply and verify corrections of an incident's findings.",
    ),
    LazyCommand(
        "audit",
        "incidentbook.cli.audit",
        "audit_cmd",
        "An account's audit trail, balances, and correlation traces.",
    ),
    LazyCommand(
        "completion",
        "incidentbook.cli.completion",
        "completion_cmd",
        "Print the shell completion script (bash, zsh, fish).",
    ),
]
LAZY_BY_NAME: dict[str, LazyCommand] = {entry.name: entry for entry in COMMANDS}
# ctx.meta key (shared by every context of one invocation): the words after the program name.
COMMAND_LINE = "incidentbook.command_line"


class LazyGroup(click.Group):
    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            if name in LAZY_BY_NAME:
                rows.append((name, LAZY_BY_NAME[name].help))
                continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=70)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_BY_NAME})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_BY_NAME:
            return LAZY_BY_NAME[cmd_name].load()
        return super().get_command(ctx, cmd_name)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta.setdefault(COMMAND_LINE, tuple(args))
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:  # click.Group.invoke's own return type
        try:
            _refuse_undecodable(ctx.meta.get(COMMAND_LINE, ()))
            return super().invoke(ctx)
        except IncidentbookError as exc:
            _fail(ctx, str(exc), exc.exit_code)
        except click.UsageError as exc:
            # one line like every other error, not click's usage, hint and error
            where = (exc.ctx or ctx).command_path
            message = f"{where}: {exc.format_message()} (see --help)"
            _fail(ctx, message, exc.exit_code, failing=exc.ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            _fail(ctx, "interrupted", 130)
        except BrokenPipeError:
            # The reader went away (`incidentbook ... | head`): stop quietly, and with the
            # status a shell gives a tool that SIGPIPE ended (git's, cat's): 128 + 13, not 1,
            # which scripts read as "findings".
            _quiet_stdout()
            ctx.exit(EXIT_BROKEN_PIPE)
        except Exception as exc:
            # Deferred: --help must not load SQLAlchemy (nor logging set-up) to start.
            from sqlalchemy.exc import OperationalError

            if isinstance(exc, OperationalError):
                _fail(ctx, f"database error: {exc.orig}", EXIT_FINDINGS)
            from incidentbook.obs import logger

            logger().exception("internal_error")
            _fail(ctx, f"internal error: {type(exc).__name__}: {exc}", EXIT_FINDINGS)


EXIT_BROKEN_PIPE = 141


def _refuse_undecodable(words: tuple[str, ...]) -> None:
    """An argument whose bytes are not UTF-8 (Python keeps them as lone surrogates, such as
    ``\\udcff``) can be neither stored nor written to a file: a usage error, before any work."""
    for word in words:
        try:
            word.encode("utf-8")
        except UnicodeEncodeError:
            raise UsageError(f"argument {word!r} is not valid UTF-8 text") from None


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush raises nothing more."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # no real file behind stdout (tests)
        pass


def wants_json_errors(ctx: click.Context, failing: click.Context | None = None) -> bool:
    """Whether the invoked command line asked for ``--json``: its option's callback recorded
    it on the CliState; for a usage error found while parsing, before that callback ran, the
    failing command takes ``--json`` and the words before any ``--`` hold it."""
    state = ctx.find_object(CliState)
    if state is not None and state.json_errors:
        return True
    if failing is None or not any(p.name == "as_json" for p in failing.command.params):
        return False
    words: tuple[str, ...] = ctx.meta.get(COMMAND_LINE, ())
    return "--json" in (words[: words.index("--")] if "--" in words else words)


def _fail(
    ctx: click.Context, message: str, code: int, failing: click.Context | None = None
) -> None:
    from incidentbook.obs import log_error  # deferred, like every import here, for --help

    state = ctx.find_object(CliState)
    log_error(
        "command_failed",
        message,
        state.correlation_id if state else None,
        command=ctx.invoked_subcommand,
    )
    if wants_json_errors(ctx, failing):
        click.echo(json.dumps({"error": message, "exit_code": code}), err=True)
    else:
        click.echo(f"incidentbook: error: {message}", err=True)
    ctx.exit(code)


class CliState:
    """Root options, resolved into settings and services only when a command needs them."""

    def __init__(self, workspace: str | None, actor: str | None, correlation_id: str | None):
        self.workspace = workspace
        self.actor = actor
        # One correlation id per invocation ties its events and log lines together.
        # (Imported here, like the rest of this class's imports, to keep --help's start-up.)
        from incidentbook.context import new_correlation_id

        self.correlation_id = correlation_id or new_correlation_id()
        # Set by the ``--json`` option of the invoked command: errors are then JSON too.
        self.json_errors = False
        self._services: Services | None = None

    @property
    def services(self) -> Services:
        if self._services is None:
            from incidentbook.obs import LogOptions, configure_logging
            from incidentbook.services import make_services
            from incidentbook.settings import load_settings

            settings = load_settings(self.workspace, actor=self.actor)

            def log_options() -> LogOptions:
                # [log], or INCIDENTBOOK_LOG_LEVEL and the like, checked already; read on the
                # first record (the app's first paint does not wait for pydantic)
                return LogOptions(**settings.values.log.model_dump())

            configure_logging(settings.logs_dir, log_options)
            self._services = make_services(settings)
        return self._services

    def context(self, reason: str | None = None) -> Context:
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
    # NO_COLOR and a non-TTY stdout: click strips any style from what it echoes, too.
    from incidentbook.cli.terminal import fancy  # deferred, like the rest, for --help

    if not fancy():
        ctx.color = False
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
