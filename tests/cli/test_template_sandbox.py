"""Workspace templates through the real CLI: includes that leave ``templates/`` (a symlink, an
absolute or ``..`` path) and loop bombs are refused in one line naming the template, and no
document is written; a good workspace template still renders."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from incidentbook.core.documents import templating
from tests.support.cli import Cli, event_count


def _templates(workspace: Path) -> Path:
    folder = workspace / "templates"
    folder.mkdir(exist_ok=True)
    return folder


def _documents(workspace: Path) -> set[str]:
    return {p.name for p in (workspace / "postmortems").glob("*.md")}


def _open_incident(cli: Cli) -> str:
    return str(cli.json("incident", "open", "--title", "Disk full")["incident"]["id"])


def _refused(cli: Cli, workspace: Path, *args: str) -> str:
    before_docs, before_events = _documents(workspace), event_count(workspace)
    result = cli(*args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    assert _documents(workspace) == before_docs  # nothing written
    assert event_count(workspace) == before_events
    return lines[0]


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "outside" / "secret.txt"
    path.parent.mkdir()
    path.write_text("TOP-SECRET-OUTSIDE\n", encoding="utf-8")
    return path


def test_symlinked_include_is_refused(cli: Cli, workspace: Path, secret: Path) -> None:
    folder = _templates(workspace)
    (folder / "leak.md.j2").symlink_to(secret)
    (folder / "premortem.md.j2").write_text('{% include "leak.md.j2" %}\n', encoding="utf-8")
    line = _refused(cli, workspace, "premortem", "new", "Launch")
    assert "premortem.md.j2" in line and "leak.md.j2" in line and "refused" in line
    assert "TOP-SECRET" not in line
    incident = _open_incident(cli)
    (folder / "postmortem.md.j2").write_text('{% extends "leak.md.j2" %}\n', encoding="utf-8")
    line = _refused(cli, workspace, "postmortem", "new", incident)
    assert "postmortem.md.j2" in line and "leak.md.j2" in line and "refused" in line


def test_symlinked_template_folder_entry_is_refused(
    cli: Cli, workspace: Path, secret: Path
) -> None:
    """The template itself a symlink to a file outside: refused, not rendered."""
    target = secret.parent / "premortem.md.j2"
    target.write_text("---\nkind: premortem\n---\nfrom outside\n", encoding="utf-8")
    (_templates(workspace) / "premortem.md.j2").symlink_to(target)
    line = _refused(cli, workspace, "premortem", "new", "Launch")
    assert "premortem.md.j2" in line and "refused" in line


@pytest.mark.parametrize(
    "statement",
    [
        '{% include "../../outside/secret.txt" %}',
        '{% include "/etc/passwd" %}',
        '{% import "../x.j2" as x %}',
    ],
)
def test_include_outside_the_folder_is_refused(
    cli: Cli, workspace: Path, secret: Path, statement: str
) -> None:
    (_templates(workspace) / "premortem.md.j2").write_text(statement + "\n", encoding="utf-8")
    line = _refused(cli, workspace, "premortem", "new", "Launch")
    assert "premortem.md.j2" in line and "refused" in line
    assert "TOP-SECRET" not in line and "root:" not in line


def test_silent_loop_bomb_stops_at_the_time_limit(
    cli: Cli, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nested loops that would run for minutes and print nothing: stopped by the time limit
    (lowered here so the test is quick; the loop is far beyond any limit)."""
    monkeypatch.setattr(templating, "RENDER_SECONDS", 0.5)
    bomb = (
        "{% for a in range(100000) %}{% for b in range(100000) %}"
        "{% if a == -1 %}x{% endif %}{% endfor %}{% endfor %}\n"
    )
    (_templates(workspace) / "premortem.md.j2").write_text(bomb, encoding="utf-8")
    line = _refused(cli, workspace, "premortem", "new", "Launch")
    assert "premortem.md.j2" in line and "longer than" in line
    assert not [t for t in threading.enumerate() if t.name.startswith("template ")]


def test_loud_loop_bomb_stops_at_the_output_limit(cli: Cli, workspace: Path) -> None:
    bomb = (
        "{% for a in range(100000) %}{% for b in range(100000) %}xxxxxxxx{% endfor %}{% endfor %}"
    )
    incident = _open_incident(cli)
    (_templates(workspace) / "postmortem.md.j2").write_text(bomb + "\n", encoding="utf-8")
    line = _refused(cli, workspace, "postmortem", "new", incident)
    assert "postmortem.md.j2" in line and "larger than" in line


@pytest.mark.parametrize("expression", ["'x' * 10**12", "2 ** (10 ** 8)", "(10**60) ** 1000"])
def test_huge_expressions_are_refused(cli: Cli, workspace: Path, expression: str) -> None:
    (_templates(workspace) / "premortem.md.j2").write_text(
        "{{ " + expression + " }}\n", encoding="utf-8"
    )
    line = _refused(cli, workspace, "premortem", "new", "Launch")
    assert "premortem.md.j2" in line and "sandbox" in line


def test_a_good_workspace_template_with_an_include_still_works(cli: Cli, workspace: Path) -> None:
    folder = _templates(workspace)
    (folder / "parts").mkdir()
    (folder / "parts" / "footer.md.j2").write_text("Written by our template.\n", encoding="utf-8")
    (folder / "premortem.md.j2").write_text(
        "# Pre-mortem: {{ title }}\n\n"
        "{% for n in range(3) %}- risk {{ n }}\n{% endfor %}\n"
        '{% include "parts/footer.md.j2" %}',
        encoding="utf-8",
    )
    created = cli.json("premortem", "new", "Launch refunds")
    text = Path(created["path"]).read_text(encoding="utf-8")
    assert "# Pre-mortem: Launch refunds" in text
    assert "- risk 2" in text and "Written by our template." in text
