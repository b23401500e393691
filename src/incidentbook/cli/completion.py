"""``incidentbook completion SHELL``: print click's own shell-completion script."""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

from incidentbook.errors import UsageError

PROG_NAME = "incidentbook"
# What click reads to answer a completion request: ``_INCIDENTBOOK_COMPLETE=bash_complete``.
COMPLETE_VAR = "_INCIDENTBOOK_COMPLETE"
SHELLS = ("bash", "zsh", "fish")


@click.command("completion", short_help="Print the shell completion script (bash, zsh, fish).")
@click.argument("shell", metavar="bash|zsh|fish")
@click.pass_context
def completion_cmd(ctx: click.Context, shell: str) -> None:
    """Print the completion script for SHELL: the one click generates for
    ``_INCIDENTBOOK_COMPLETE=SHELL_source incidentbook``.

    \b
    bash:  eval "$(incidentbook completion bash)"      (in ~/.bashrc)
    zsh:   eval "$(incidentbook completion zsh)"       (in ~/.zshrc)
    fish:  incidentbook completion fish > ~/.config/fish/completions/incidentbook.fish
    """
    completion_class = get_completion_class(shell) if shell in SHELLS else None
    if completion_class is None:
        raise UsageError(f"completion: unknown shell {shell!r} (use {', '.join(SHELLS)})")
    root = ctx.find_root().command
    click.echo(completion_class(root, {}, PROG_NAME, COMPLETE_VAR).source(), nl=False)
