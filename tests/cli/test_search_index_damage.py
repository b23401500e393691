"""Issue 16: a damaged search index (truncated or garbage table of contents or segments,
deleted segments, the folder replaced by a file or emptied, a Whoosh write lock kept by a
writer that is gone, ``index.lock`` a directory) never ends a command in an internal error:
``verify`` fails its search_index check (exit 1), ``search`` and ``index status`` say the
damage in one line, rebuild the index from its sources and answer as a fresh index would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import Result

from incidentbook.context import Context
from incidentbook.core import search as S
from incidentbook.services import Services
from tests.support.cli import Cli
from tests.support.search_damage import (
    DAMAGES,
    Damage,
    Truth,
    expected_kinds,
    hold_flock,
    index_dir,
    release,
    seed,
)


@pytest.fixture(autouse=True)
def _fresh_searchers() -> None:
    S.close_searchers()


def _clean(result: Result) -> None:
    text = result.output + (result.stderr or "")
    assert "internal error" not in text and "Traceback" not in text, text


def _hits(cli: Cli, word: str) -> tuple[list[tuple[str, str]], list[str]]:
    result = cli("search", word, "--json")
    _clean(result)
    assert result.exit_code == 0, result.output
    hits = [(h["kind"], h["id"]) for h in json.loads(result.stdout)["hits"]]
    return hits, result.stderr.strip().splitlines()


def _assert_answers_like_a_fresh_index(cli: Cli, truth: Truth) -> None:
    for word, doc in truth.items():
        hits, warnings = _hits(cli, word)
        assert hits == [doc], word
        assert warnings == []  # healed once, and only once
    status = cli("index", "status", "--json")
    assert status.exit_code == 0, status.output
    data = json.loads(status.stdout)
    assert data["by_kind"] == expected_kinds(truth) and data["drift"] == 0
    verify = cli("verify")
    assert verify.exit_code == 0, verify.output


def _built(cli: Cli, services: Services, ctx: Context, workspace: Path) -> Truth:
    truth = seed(services, ctx, workspace)
    assert _hits(cli, "quagmirefx")[0] == [truth["quagmirefx"]]  # builds the index
    S.close_searchers()
    return truth


@pytest.mark.parametrize("damage", DAMAGES, ids=[d.name for d in DAMAGES])
def test_verify_reports_then_search_heals(
    damage: Damage, cli: Cli, services: Services, ctx: Context, workspace: Path
) -> None:
    truth = _built(cli, services, ctx, workspace)
    damage.apply(workspace)

    verify = cli("verify", "--json")
    _clean(verify)
    assert verify.exit_code == 1
    checks = {c["name"]: c for c in json.loads(verify.stdout)["checks"]}
    (problem,) = checks["search_index"]["problems"]
    assert problem.startswith("search index damaged (") and damage.says in problem
    assert [n for n, c in checks.items() if not c["ok"]] == ["search_index"]

    hits, warnings = _hits(cli, "marzipanledger")
    assert hits == [truth["marzipanledger"]]
    (line,) = warnings
    assert line.startswith("incidentbook: warning: search index damaged (")
    assert damage.says in line and "rebuilt from sources" in line
    _assert_answers_like_a_fresh_index(cli, truth)


@pytest.mark.parametrize("damage", DAMAGES[:3], ids=[d.name for d in DAMAGES[:3]])
def test_index_status_heals(
    damage: Damage, cli: Cli, services: Services, ctx: Context, workspace: Path
) -> None:
    truth = _built(cli, services, ctx, workspace)
    damage.apply(workspace)
    status = cli("index", "status", "--json")
    _clean(status)
    assert status.exit_code == 0, status.output
    (line,) = status.stderr.strip().splitlines()
    assert "search index damaged (" in line and "rebuilt from sources" in line
    assert json.loads(status.stdout)["by_kind"] == expected_kinds(truth)
    _assert_answers_like_a_fresh_index(cli, truth)


def test_index_rebuild_replaces_a_damaged_index(
    cli: Cli, services: Services, ctx: Context, workspace: Path
) -> None:
    truth = _built(cli, services, ctx, workspace)
    DAMAGES[1].apply(workspace)
    rebuilt = cli("index", "rebuild", "--json")
    _clean(rebuilt)
    assert rebuilt.exit_code == 0, rebuilt.output
    assert json.loads(rebuilt.stdout)["by_kind"] == expected_kinds(truth)
    _assert_answers_like_a_fresh_index(cli, truth)


def test_a_whoosh_write_lock_kept_by_a_dead_writers_child_is_broken(
    cli: Cli, services: Services, ctx: Context, workspace: Path
) -> None:
    truth = _built(cli, services, ctx, workspace)
    holder = hold_flock(index_dir(workspace) / "MAIN_WRITELOCK")
    try:
        incident = truth["obsidianclock"][1]
        services.incidents.add_note(ctx, incident, "the walrusdaemon restarted")  # queued
        hits, warnings = _hits(cli, "walrusdaemon")
        assert hits == [("incident", incident)]
        (line,) = warnings
        assert "write lock is held by a writer that is gone" in line
        _assert_answers_like_a_fresh_index(cli, truth)
    finally:
        release(holder)


def test_a_stale_write_lock_file_is_harmless(
    cli: Cli, services: Services, ctx: Context, workspace: Path
) -> None:
    truth = _built(cli, services, ctx, workspace)
    (index_dir(workspace) / "MAIN_WRITELOCK").write_text("12345 left by a dead process\n")
    services.incidents.add_note(ctx, truth["quagmirefx"][1], "a narwhalqueue backlog")
    assert _hits(cli, "narwhalqueue") == ([truth["quagmirefx"]], [])
    _assert_answers_like_a_fresh_index(cli, truth)


def test_index_lock_that_is_a_directory_is_replaced(
    cli: Cli, services: Services, ctx: Context, workspace: Path
) -> None:
    truth = _built(cli, services, ctx, workspace)
    lock = workspace / ".incidentbook" / "index.lock"
    lock.unlink()
    (lock / "inner").mkdir(parents=True)
    services.incidents.add_note(ctx, truth["quagmirefx"][1], "a pangolinretry storm")  # queued
    hits, _warnings = _hits(cli, "pangolinretry")
    assert hits == [truth["quagmirefx"]]
    assert lock.is_file()
    _assert_answers_like_a_fresh_index(cli, truth)


def test_a_lock_kept_after_its_holder_died_is_taken_over(
    cli: Cli, services: Services, ctx: Context, workspace: Path
) -> None:
    """The holder recorded in index.lock is dead, but a process it forked still holds the
    flock (what a kill -9 of a rebuild with indexing children left): taken over at once."""
    truth = _built(cli, services, ctx, workspace)
    lock = workspace / ".incidentbook" / "index.lock"
    orphan = hold_flock(lock)
    try:
        lock.write_text("999999999 1\n")  # a pid no process has
        services.incidents.add_note(ctx, truth["obsidianclock"][1], "an okapiflush stall")
        assert _hits(cli, "okapiflush") == ([truth["obsidianclock"]], [])
        _assert_answers_like_a_fresh_index(cli, truth)
    finally:
        release(orphan)


def test_an_index_of_an_older_version_is_rebuilt_at_its_next_use(
    cli: Cli, services: Services, ctx: Context, workspace: Path
) -> None:
    """The documents' text changed (money formatted): an index written by an older version
    (no version file, or another number in it) is rebuilt from its sources, not trusted."""
    truth = _built(cli, services, ctx, workspace)
    version = index_dir(workspace) / "INCIDENTBOOK_INDEX_VERSION"
    assert version.read_text().strip() == "3"
    version.unlink()
    S.close_searchers()

    hits, warnings = _hits(cli, "marzipanledger")

    assert hits == [truth["marzipanledger"]]
    assert warnings == []  # an upgrade, not damage: rebuilt without a word
    assert version.read_text().strip() == "3"
    _assert_answers_like_a_fresh_index(cli, truth)
