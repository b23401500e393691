"""``incidentbook postmortem new|lint|export|list|archive``."""

from __future__ import annotations

from pathlib import Path

import click

from incidentbook.cli.output import cli_state, emit, json_option, reason_option
from incidentbook.errors import CheckFailed, IncidentbookError, NotFoundError, UsageError
from incidentbook.fs import read_text


@click.group(short_help="Write, lint and export postmortems.")
def postmortem() -> None:
    """Write, lint and export blameless postmortems."""


@postmortem.command("new")
@click.argument("incident_id", metavar="ID")
@click.option(
    "--refresh",
    is_flag=True,
    help="Re-render only the generated blocks of an existing postmortem; keep hand edits.",
)
@reason_option
@json_option
@click.pass_context
def new_cmd(
    ctx: click.Context, incident_id: str, refresh: bool, reason: str | None, as_json: bool
) -> None:
    """Start the postmortem of incident ID from the template, prefilled with its facts."""
    state = cli_state(ctx)
    default_reason = "postmortem refreshed" if refresh else "postmortem started"
    result = state.services.postmortems.create(
        incident_id, refresh=refresh, ctx=state.context(reason or default_reason)
    )

    def human() -> None:
        if result.regenerated:
            click.echo(f"{result.id}: its file was gone; wrote it again at {result.path}")
        elif result.created:
            click.echo(f"{result.id}: wrote {result.path}")
        else:
            click.echo(
                f"{result.id}: refreshed {', '.join(result.refreshed) or 'nothing'} in "
                f"{result.path}"
            )
        if result.kept_edited:
            click.echo(f"  kept hand-edited blocks: {', '.join(result.kept_edited)}")

    emit(result.to_dict(), as_json, human)


@postmortem.command("lint")
@click.argument("files", metavar="[FILE...]", nargs=-1)
@click.option("--strict", is_flag=True, help="Warnings fail too.")
@json_option
@click.pass_context
def lint_cmd(ctx: click.Context, files: tuple[str, ...], strict: bool, as_json: bool) -> None:
    """Check sections, action items and blameless language; exit 1 on errors. With no FILE,
    every document under postmortems/. A file that cannot be read (bad front matter) is an
    error finding of its own, and the rest are still linted."""
    from incidentbook.core.documents.files import document_files, without_path
    from incidentbook.core.documents.lint import ERROR, Finding, lint_text

    if files:
        paths = [Path(name) for name in files]
    else:
        settings = cli_state(ctx).services.settings
        paths = document_files(settings)
        if not paths:
            raise UsageError(f"no documents under {settings.postmortems_dir} to lint")
    report = []
    failed = False
    for path in paths:
        name = str(path)
        try:
            findings = lint_text(read_text(path), source=name)
        except NotFoundError:
            raise  # a FILE named that is not there is a usage error (exit 2)
        except IncidentbookError as exc:
            findings = [Finding(1, 1, ERROR, "unreadable", without_path(str(exc), path))]
        errors = [f for f in findings if f.severity == ERROR or strict]
        failed = failed or bool(errors)
        report.append((name, findings))

    def human() -> None:
        for name, findings in report:
            for finding in findings:
                click.echo(finding.format(name))
            if not findings:
                click.echo(f"{name}: ok")

    emit([{"file": n, "findings": [f.to_dict() for f in fs]} for n, fs in report], as_json, human)
    if failed:
        total = sum(1 for _n, fs in report for f in fs if f.severity == ERROR or strict)
        raise CheckFailed(f"lint: {total} problem{'s' if total != 1 else ''}")


@postmortem.command("export")
@click.argument("file", metavar="FILE")
@click.option("--html", "out", metavar="OUT", required=True, help="Write a standalone HTML page.")
@json_option
@click.pass_context
def export_cmd(ctx: click.Context, file: str, out: str, as_json: bool) -> None:
    """Export a postmortem or pre-mortem to one standalone HTML page."""
    from incidentbook.core.documents.export import export_html

    state = cli_state(ctx)
    written = export_html(state.services.settings, Path(file), Path(out))
    emit({"file": file, "html": str(written)}, as_json, lambda: click.echo(f"wrote {written}"))


@postmortem.command("list")
@click.option("--kind", type=click.Choice(["postmortem", "premortem"]), help="Only this kind.")
@json_option
@click.pass_context
def list_cmd(ctx: click.Context, kind: str | None, as_json: bool) -> None:
    """List postmortems and pre-mortems (the files under postmortems/ are read first)."""
    from incidentbook.core.documents.store import list_actions, list_documents

    state = cli_state(ctx)
    services = state.services
    services.documents.sync_all(state.context("documents re-read"))
    docs = list_documents(services.db, kind)
    rows = []
    for doc in docs:
        counts: dict[str, int] = {}
        for item in list_actions(services.db, doc_id=doc.id):
            counts[item.status] = counts.get(item.status, 0) + 1
        rows.append(doc.to_dict() | {"actions": counts})

    gone = {d.id for d in services.documents.missing_files()}
    for row in rows:
        row["file_missing"] = row["id"] in gone

    def human() -> None:
        if not rows:
            click.echo("no documents")
        for row in rows:
            actions = ", ".join(f"{n} {s}" for s, n in sorted(row["actions"].items()))
            click.echo(
                f"{row['id']:<10} {row['kind']:<10} {row['status']:<9} "
                f"{row['incident_id'] or '-':<9} {row['title']}"
                + (f"  [{actions}]" if actions else "")
                + (f"  (file missing: {row['path']})" if row["file_missing"] else "")
            )

    emit(rows, as_json, human)


@postmortem.command("archive")
@click.argument("doc_id", metavar="ID")
@reason_option
@json_option
@click.pass_context
def archive_cmd(ctx: click.Context, doc_id: str, reason: str | None, as_json: bool) -> None:
    """Mark a postmortem or pre-mortem whose file is gone for good as archived (verify then
    stops reporting its missing file; it stays listed, as archived)."""
    state = cli_state(ctx)
    doc = state.services.documents.archive(state.context(reason or "archived"), doc_id)
    emit(doc.to_dict(), as_json, lambda: click.echo(f"{doc.id}: archived ({doc.path})"))
