"""One document with hostile or broken front matter (nested past the limit, a billion laughs,
invalid YAML) never breaks a whole-workspace command: ``postmortem lint``, ``postmortem
export``, ``actions sync``, ``index rebuild``, ``verify`` and ``search`` each name the bad
file's path and go on with the good ones (exit 1 where the command reports failures)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import Cli

LAUGHS = "\n".join(
    ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    + [
        f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]"
        for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
    ]
)

BAD_FRONT_MATTER = {
    "nested-flow": "deep: " + "[" * 5000 + "]" * 5000,
    "nested-block": "deep:\n" + "".join("  " * i + "- \n" for i in range(1, 200)).rstrip("\n"),
    "nested-maps": "deep:\n" + "\n".join("  " * i + f"k{i}:" for i in range(1, 100)) + " x",
    "billion-laughs": LAUGHS,
    "invalid-yaml": "title: [unclosed",
    "not-a-mapping": "- just\n- a list",
}

GOOD_POSTMORTEM = """---
id: PM-0001
kind: postmortem
title: Disk full on the ledger host
status: draft
---
# Disk full on the ledger host

## Summary

The ledger host ran out of disk; quokkaword appears only here.

## Action items

- [ ] prevent: Alert on disk usage above 80% (ana, 2026-12-20)
"""

GOOD_PREMORTEM = """---
id: PRE-0001
kind: premortem
title: Launch of refunds v2
status: draft
---
# Pre-mortem: Launch of refunds v2

## Failure modes

Refunds double-post; wombatword appears only here.

## Action items

- [ ] prevent: Alert on duplicate refunds (ravi, 2026-12-21)
"""

GOOD_RUNBOOK = """---
id: disk-full
title: Disk full
alerts: [disk_full]
---
# Disk full

## Diagnosis

Check the volume; numbatword appears only here.

## Mitigation

Free space.
"""


@pytest.fixture(params=list(BAD_FRONT_MATTER), ids=list(BAD_FRONT_MATTER))
def bad(request: pytest.FixtureRequest, workspace: Path) -> str:
    """The workspace with good documents and a runbook, and one bad document (returned: its
    workspace path) and one bad runbook."""
    folder = workspace / "postmortems"
    (folder / "PM-0001-disk-full.md").write_text(GOOD_POSTMORTEM, encoding="utf-8")
    (folder / "PRE-0001-refunds.md").write_text(GOOD_PREMORTEM, encoding="utf-8")
    (workspace / "runbooks" / "disk-full.md").write_text(GOOD_RUNBOOK, encoding="utf-8")
    front = BAD_FRONT_MATTER[str(request.param)]
    body = "# Bad one\n\n## Action items\n\n- [ ] prevent: never tracked (ana, 2026-12-01)\n"
    text = f"---\nid: PM-0002\nkind: postmortem\n{front}\n---\n{body}"
    (folder / "PM-0002-bad.md").write_text(text, encoding="utf-8")
    (workspace / "runbooks" / "bad.md").write_text(f"---\n{front}\n---\n# Bad runbook\n")
    return "postmortems/PM-0002-bad.md"


def _no_traceback(*outputs: str) -> None:
    for output in outputs:
        assert "Traceback" not in output and "RecursionError" not in output
        assert "internal error" not in output


def test_postmortem_lint_of_the_workspace(cli: Cli, workspace: Path, bad: str) -> None:
    result = cli("postmortem", "lint", "--json")
    _no_traceback(result.stdout, result.stderr)
    assert result.exit_code == 1
    report = {Path(r["file"]).name: r["findings"] for r in json.loads(result.stdout)}
    assert set(report) == {"PM-0001-disk-full.md", "PRE-0001-refunds.md", "PM-0002-bad.md"}
    assert [f["rule"] for f in report["PM-0002-bad.md"]] == ["unreadable"]
    assert "front matter" in report["PM-0002-bad.md"][0]["message"]
    # The good ones were linted: none of their findings is the unreadable rule.
    assert all(f["rule"] != "unreadable" for f in report["PM-0001-disk-full.md"])
    # Named files, the bad one first, in text: the bad path is named and the good one linted.
    text = cli(
        "postmortem",
        "lint",
        str(workspace / bad),
        str(workspace / "postmortems" / "PM-0001-disk-full.md"),
    )
    assert text.exit_code == 1
    lines = text.stdout.splitlines()
    assert any(line.startswith(str(workspace / bad)) and "[unreadable]" in line for line in lines)
    assert any("PM-0001-disk-full.md" in line for line in lines)


def test_postmortem_export(cli: Cli, workspace: Path, tmp_path: Path, bad: str) -> None:
    out = tmp_path / "bad.html"
    result = cli("postmortem", "export", str(workspace / bad), "--html", str(out))
    _no_traceback(result.stdout, result.stderr)
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and bad in result.stderr
    assert not out.exists()
    good = tmp_path / "good.html"
    source = workspace / "postmortems" / "PM-0001-disk-full.md"
    assert cli("postmortem", "export", str(source), "--html", str(good)).exit_code == 0
    assert "quokkaword" in good.read_text(encoding="utf-8")


def test_actions_sync(cli: Cli, bad: str) -> None:
    result = cli("actions", "sync")
    _no_traceback(result.stdout, result.stderr)
    assert result.exit_code == 1
    assert f"{bad}: " in result.stderr
    items = cli.json("actions", "list", "--no-sync")
    texts = sorted(i["text"] for i in items)
    assert texts == ["Alert on disk usage above 80%", "Alert on duplicate refunds"]


def test_index_rebuild_and_search(cli: Cli, bad: str) -> None:
    result = cli("index", "rebuild")
    _no_traceback(result.stdout, result.stderr)
    assert result.exit_code == 1
    assert f"{bad}: " in result.stderr and "runbooks/bad.md: " in result.stderr
    for word, expected in (
        ("quokkaword", ("postmortem", "PM-0001")),
        ("wombatword", ("premortem", "PRE-0001")),
        ("numbatword", ("runbook", "disk-full")),
    ):
        found = cli("search", word, "--json")
        _no_traceback(found.stdout, found.stderr)
        assert found.exit_code == 0, found.output
        hits = [(h["kind"], h["id"]) for h in json.loads(found.stdout)["hits"]]
        assert hits == [expected]
        assert f"{bad}: " in found.stderr


def test_verify(cli: Cli, bad: str) -> None:
    cli("actions", "sync")
    result = cli("verify", "--json")
    _no_traceback(result.stdout, result.stderr)
    assert result.exit_code == 1
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    problems = checks["document_files"]["problems"]
    assert len(problems) == 1 and problems[0].startswith(f"{bad}: ")
    # The good documents were still checked, and everything else is green.
    assert checks["document_files"]["checked"] >= 3
    assert checks["action_items_projection"]["checked"] == 2
    assert [name for name, c in checks.items() if not c["ok"]] == ["document_files"]
