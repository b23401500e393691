"""Issue 16: runbooks and documents are read only inside the workspace. A symlink that leads
out of it (``/etc/passwd``, a secret in a temp folder) is never read nor indexed, and is
reported by ``runbooks lint`` and ``verify``; a symlink that stays inside still works."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.support.cli import Cli

SECRET_WORD = "zanzibarsecretvalue"
INSIDE_WORD = "quokkainsideword"


def _outside_links(workspace: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    secret = tmp_path / "outside" / "secret.md"
    secret.parent.mkdir()
    secret.write_text(f"# Secret\n\n## Diagnosis\n{SECRET_WORD}\n## Mitigation\nx\n", "utf-8")
    passwd = workspace / "runbooks" / "passwd.md"
    passwd.symlink_to("/etc/passwd")
    runbook = workspace / "runbooks" / "nested" / "secret.md"
    runbook.parent.mkdir(parents=True)
    runbook.symlink_to(secret)
    document = workspace / "postmortems" / "leak.md"
    document.parent.mkdir(exist_ok=True)
    document.symlink_to(os.path.relpath(secret, document.parent))  # relative, still outside
    return passwd, runbook, document


def test_symlinks_out_of_the_workspace_are_not_read_and_are_reported(
    cli: Cli, workspace: Path, tmp_path: Path
) -> None:
    links = _outside_links(workspace, tmp_path)

    found = cli("search", SECRET_WORD, "--json")
    assert found.exit_code == 0, found.output
    assert json.loads(found.stdout)["hits"] == []
    root_hits = json.loads(cli("search", "root", "--json").stdout)["hits"]
    assert not [h for h in root_hits if h["path"] and h["path"].endswith("passwd.md")]
    listed = json.loads(cli("runbooks", "list", "--json").stdout)
    assert not {str(p) for p in links} & {r["path"] for r in listed}

    lint = cli("runbooks", "lint", "--json")
    assert lint.exit_code == 1
    outside = [f for f in json.loads(lint.stdout)["findings"] if f["code"] == "outside_workspace"]
    assert sorted(f["path"] for f in outside) == sorted(str(p) for p in links[:2])
    human = cli("runbooks", "lint").stdout
    assert all(str(p) in human for p in links[:2])

    verify = cli("verify", "--json")
    assert verify.exit_code == 1
    checks = {c["name"]: c for c in json.loads(verify.stdout)["checks"]}
    problems = checks["files_inside_workspace"]["problems"]
    assert len(problems) == 3
    for path in links:
        assert any(p.startswith(f"{path}: ") for p in problems), (path, problems)
    failing = [name for name, c in checks.items() if not c["ok"]]
    assert failing == ["files_inside_workspace"]
    assert "Traceback" not in verify.output


def test_a_symlink_that_stays_inside_the_workspace_still_works(cli: Cli, workspace: Path) -> None:
    shared = workspace / "shared" / "ledger-lag.md"
    shared.parent.mkdir()
    shared.write_text(
        f"# Ledger lag\n\n## Diagnosis\n{INSIDE_WORD} appears here.\n\n## Mitigation\nWait.\n",
        "utf-8",
    )
    link = workspace / "runbooks" / "ledger-lag.md"
    link.symlink_to(Path("..") / "shared" / "ledger-lag.md")

    hits = json.loads(cli("search", INSIDE_WORD, "--json").stdout)["hits"]
    assert [(h["kind"], h["path"]) for h in hits] == [("runbook", str(link))]
    lint = json.loads(cli("runbooks", "lint", "--json").stdout)["findings"]
    assert not [f for f in lint if f["code"] == "outside_workspace"]
    verify = cli("verify", "--json")
    assert verify.exit_code == 0, verify.output
