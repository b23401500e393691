"""Workspace-level commands: init, demo, verify."""

from __future__ import annotations

from pathlib import Path

import click

from incidentbook.cli.output import cli_state, emit, json_option
from incidentbook.errors import EXIT_FINDINGS, UsageError
from incidentbook.workspace import STATE_DB_NAME, STATE_DIR_NAME, init_workspace


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@json_option
def init_cmd(directory: Path, as_json: bool) -> None:
    """Create a workspace in DIRECTORY (existing files are kept)."""

    result = init_workspace(directory)
    state_db = result.workspace / STATE_DIR_NAME / STATE_DB_NAME
    if not state_db.exists():
        # Deferred: SQLAlchemy and the migrations, only when there is a database to make.
        # Only init makes one where the workspace's documents refer to a lost one.
        from incidentbook.storage.db import Database

        db = Database(state_db)
        db.engine  # noqa: B018 -- create and migrate
        db.dispose()
        result.created.append(f"{STATE_DIR_NAME}/{STATE_DB_NAME}")

    def human() -> None:
        if result.already_existed:
            click.echo(f"workspace {result.workspace} already set up; nothing changed")
        else:
            click.echo(f"workspace ready at {result.workspace}")
            for item in result.created:
                click.echo(f"  created {item}")

    emit({"workspace": str(result.workspace), "created": result.created}, as_json, human)


@click.command("demo")
@click.option(
    "--accounts",
    type=click.IntRange(min=10),
    default=20_000,
    show_default=True,
    help="Ledger accounts to generate.",
)
@click.option(
    "--days",
    type=click.IntRange(min=1, max=3650),
    default=30,
    show_default=True,
    help="Days of ledger history.",
)
@click.option("--seed", type=int, default=7, show_default=True, help="Random seed.")
@json_option
@click.pass_context
def demo_cmd(ctx: click.Context, accounts: int, days: int, seed: int, as_json: bool) -> None:
    """Fill the workspace with a demo: past incidents, a ledger, live alerts."""
    from incidentbook.demo.model import DemoOptions
    from incidentbook.demo.run import build_demo

    services = cli_state(ctx).services
    report = build_demo(services, DemoOptions(accounts=accounts, days=days, seed=seed))
    # `make run` builds the demo once; this stamp says it is complete.
    (services.settings.state_dir / "demo-built").write_text(
        f"accounts={accounts} days={days} seed={seed}\n", encoding="utf-8"
    )
    emit(
        {"workspace": str(services.settings.workspace), "steps": report.lines},
        as_json,
        lambda: click.echo("\n".join(report.lines)),
    )


@click.command(
    "verify", short_help="Re-derive all state from the event log and compare; exit 1 on drift."
)
@click.option(
    "--since-head",
    "since_head",
    metavar="HASH",
    help="Only prove that the chain up to this head (an earlier verify's head hash) is unchanged.",
)
@json_option
@click.pass_context
def verify_cmd(ctx: click.Context, since_head: str | None, as_json: bool) -> None:
    """Re-derive all state from the event log and compare; exit 1 on any difference.

    Also recomputes the event log's hash chain and prints its head hash: keep it (a commit, a
    ticket) and ``verify --since-head HASH`` later proves nothing up to it has changed."""
    # Deferred: verify imports every feature's checks (SQLAlchemy-heavy); --help needs none.
    from incidentbook.core.events.chain import ChainResult, prove_head
    from incidentbook.core.health.verify import run_verify

    services = cli_state(ctx).services
    if since_head is not None:
        head = since_head.strip().lower()
        if len(head) != 64 or any(c not in "0123456789abcdef" for c in head):
            raise UsageError("--since-head takes a head hash: 64 hex digits, as verify prints")
        proof = prove_head(services.db, head)
        emit(
            {"ok": proof.ok, "head_hash": head, "seq": proof.seq, "reason": proof.reason},
            as_json,
            lambda: click.echo(proof.reason),
        )
        if not proof.ok:
            ctx.exit(EXIT_FINDINGS)
        return
    results = run_verify(services.settings, services.db)
    ok = all(r.ok for r in results)
    chain = next(r for r in results if isinstance(r, ChainResult))

    def human() -> None:
        for result in results:
            mark = "ok  " if result.ok else "FAIL"
            click.echo(
                f"{mark} {result.name}: {result.checked} checked, {len(result.problems)} problems"
            )
            for problem in result.problems[:50]:
                click.echo(f"     {problem}")
            if len(result.problems) > 50:
                click.echo(f"     … and {len(result.problems) - 50} more")
        click.echo(f"head {chain.head_hash} (seq {chain.head_seq}, {chain.events} events)")

    emit(
        {
            "ok": ok,
            "head_hash": chain.head_hash,
            "events": chain.events,
            "checks": [r.to_dict() for r in results],
        },
        as_json,
        human,
    )
    if not ok:
        ctx.exit(EXIT_FINDINGS)
