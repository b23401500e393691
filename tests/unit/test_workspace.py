"""``incidentbook init`` and workspace discovery (DESIGN §2)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from incidentbook.errors import WorkspaceError
from incidentbook.settings import load_settings
from incidentbook.workspace import CONFIG_NAME, init_workspace, resolve_workspace
from tests.support.cli import Cli


def test_init_creates_layout_and_ignores_state(tmp_path: Path) -> None:
    result = init_workspace(tmp_path / "ops")
    root = result.workspace
    assert (root / CONFIG_NAME).is_file()
    assert (root / "runbooks").is_dir() and (root / "postmortems").is_dir()
    assert (root / ".incidentbook" / "logs").is_dir()
    assert ".incidentbook/" in (root / ".gitignore").read_text().split()
    assert set(result.created) >= {CONFIG_NAME, "runbooks/", "postmortems/", ".gitignore"}


def test_init_twice_changes_nothing_and_keeps_edits(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ops").workspace
    config = root / CONFIG_NAME
    config.write_text(config.read_text() + "\n# my edit\n")
    again = init_workspace(root)
    assert again.already_existed
    assert config.read_text().endswith("# my edit\n")


def test_init_appends_to_an_existing_gitignore(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / ".gitignore").write_text("node_modules/\n")
    init_workspace(root)
    lines = (root / ".gitignore").read_text().split()
    assert lines == ["node_modules/", ".incidentbook/"]


def test_init_refuses_a_file(tmp_path: Path) -> None:
    target = tmp_path / "afile"
    target.write_text("x")
    with pytest.raises(WorkspaceError, match="not a directory"):
        init_workspace(target)


def test_discovery_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outer = init_workspace(tmp_path / "outer").workspace
    other = init_workspace(tmp_path / "other").workspace
    deep = outer / "runbooks" / "a" / "b"
    deep.mkdir(parents=True)
    # nearest parent with incidentbook.toml
    assert resolve_workspace(None, cwd=deep) == outer
    # the environment beats discovery
    monkeypatch.setenv("INCIDENTBOOK_WORKSPACE", str(other))
    assert resolve_workspace(None, cwd=deep) == other
    # an explicit option beats the environment
    assert resolve_workspace(str(outer), cwd=deep) == outer


def test_user_data_fallback_is_created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    nowhere = tmp_path / "empty"
    nowhere.mkdir()
    found = resolve_workspace(None, cwd=nowhere)
    assert found == tmp_path / "data" / "incidentbook"
    assert (found / CONFIG_NAME).is_file()


def test_explicit_missing_workspace_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match=r"no workspace at .*incidentbook init"):
        resolve_workspace(str(tmp_path / "missing"))
    assert not (tmp_path / "missing").exists()


def test_broken_config_is_a_clear_error(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ops").workspace
    (root / CONFIG_NAME).write_text("[workspace\n")
    with pytest.raises(WorkspaceError, match="invalid TOML"):
        load_settings(root)


def test_relative_sqlite_ledger_url_is_workspace_relative(tmp_path: Path) -> None:
    settings = load_settings(init_workspace(tmp_path / "ops").workspace)
    assert settings.ledger_url == f"sqlite:///{tmp_path}/ops/.incidentbook/ledger.sqlite"


def test_a_fresh_clone_without_state_dir_works(tmp_path: Path) -> None:
    """``.incidentbook/`` is git-ignored: a cloned workspace has only incidentbook.toml."""
    source = init_workspace(tmp_path / "ops").workspace
    clone = tmp_path / "clone"
    clone.mkdir()
    shutil.copy(source / CONFIG_NAME, clone / CONFIG_NAME)
    cli = Cli(clone)
    assert cli.json("incident", "open", "--title", "from a clone")["changed"] is True
    assert (clone / ".incidentbook" / "state.sqlite").is_file()
