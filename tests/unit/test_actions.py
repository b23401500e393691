"""Action items: parsing, the file -> items -> file round trip, events, projection, CLI."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from incidentbook.core.documents import actions as act
from incidentbook.core.documents.model import ACTION_PREFIX
from incidentbook.core.documents.store import list_actions
from incidentbook.core.events.model import Event
from incidentbook.core.events.store import events_by_prefix
from incidentbook.core.health.verify import run_verify
from incidentbook.frontmatter import split
from incidentbook.services import Services

DOC = """---
id: PM-0007
kind: postmortem
incident: INC-0007
title: Fees doubled
---
# Fees doubled

## Summary

Fee job ran twice.

## Action items

<!-- - [ ] prevent: an example inside a comment (x, 2026-01-01) -->

### Prevent

- [ ] Add a run key to the fee job (ana, 2026-11-01)
- [x] prevent: Checkpoint the job per account (ravi, 2026-10-20)

### Process

- [ ] Review every nightly job for restarts (mikkel, 2026-12-15)
- [ ] mitigate: ~~Page on doubled fees~~ (ana, 2026-11-30)

## Lessons

- [ ] not an action item: outside the section (ana, 2026-01-01)
"""


def test_parse_items_with_types_owners_dues_and_states() -> None:
    doc = split(DOC)
    items = act.parse_items(doc.body, doc.body_offset)
    assert [(i.text, i.type, i.owner, i.due, i.status, i.line) for i in items] == [
        ("Add a run key to the fee job", "prevent", "ana", "2026-11-01", "open", 19),
        ("Checkpoint the job per account", "prevent", "ravi", "2026-10-20", "done", 20),
        ("Review every nightly job for restarts", "process", "mikkel", "2026-12-15", "open", 24),
        ("Page on doubled fees", "mitigate", "ana", "2026-11-30", "dropped", 25),
    ]
    assert DOC.split("\n")[18] == "- [ ] Add a run key to the fee job (ana, 2026-11-01)"


def test_round_trip_file_items_file() -> None:
    doc = split(DOC)
    items = act.parse_items(doc.body, doc.body_offset)
    assert act.write_items(DOC, items) == DOC
    for item in items:
        line = DOC.split("\n")[item.line - 1]
        assert act.render_item(item) == line
        again = act.parse_line(act.render_item(item), default_type=item.type, number=item.line)
        assert again is not None and again.to_dict() == item.to_dict()


def test_ticking_changes_only_that_line() -> None:
    ticked = act.set_checked(DOC, 19, True)
    before, after = DOC.split("\n"), ticked.split("\n")
    assert [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b] == [18]
    assert after[18] == "- [x] Add a run key to the fee job (ana, 2026-11-01)"


def _write(workspace: Path, body: str) -> Path:
    path = workspace / "postmortems" / "INC-0007-fees-doubled.md"
    path.write_text(body, encoding="utf-8")
    return path


def _action_events(services: Services) -> list[Event]:
    with services.db.read() as session:
        return events_by_prefix(session, ACTION_PREFIX)


def test_sync_records_items_and_ticking_closes_with_an_attributed_event(
    services: Services, workspace: Path
) -> None:
    path = _write(workspace, DOC)
    ctx = services.context("saved in editor", actor="user:ana", correlation_id="corr-1")
    report = services.documents.sync_file(ctx, path)
    assert report is not None and report.document_changed
    items = {i.text: i for i in list_actions(services.db)}
    assert items["Add a run key to the fee job"].status == "open"
    assert items["Checkpoint the job per account"].status == "done"
    assert items["Page on doubled fees"].status == "dropped"
    assert "not an action item: outside the section" not in items
    key = items["Add a run key to the fee job"].key
    assert key == "PM-0007:A1"

    # Idempotent: the same file records nothing.
    count = len(_action_events(services))
    assert not services.documents.sync_file(ctx, path).changed  # type: ignore[union-attr]
    assert len(_action_events(services)) == count

    # Tick the box and save: one action.done event, attributed.
    path.write_text(act.set_checked(DOC, 19, True), encoding="utf-8")
    closer = services.context("ticked", actor="user:ravi", correlation_id="corr-2")
    services.documents.sync_file(closer, path)
    (done,) = [e for e in _action_events(services) if e.seq > 0 and e.stream.endswith(key)][-1:]
    assert done.type == "action.done"
    assert (done.actor, done.reason, done.correlation_id) == ("user:ravi", "ticked", "corr-2")
    assert {i.key: i.status for i in list_actions(services.db)}[key] == "done"

    # Untick: reopened. Remove the line: dropped. Re-add: reopened.
    path.write_text(DOC, encoding="utf-8")
    services.documents.sync_file(closer, path)
    assert {i.key: i.status for i in list_actions(services.db)}[key] == "open"
    without = DOC.replace("- [ ] Add a run key to the fee job (ana, 2026-11-01)\n", "")
    path.write_text(without, encoding="utf-8")
    services.documents.sync_file(closer, path)
    states = {i.key: i for i in list_actions(services.db)}
    assert states[key].status == "dropped"
    types = [e.type for e in _action_events(services) if e.stream == ACTION_PREFIX + key]
    assert types == [
        "action.opened",
        "action.done",
        "action.reopened",
        "action.dropped",
    ]
    assert all(r.ok for r in run_verify(services.settings, services.db))


def test_editing_text_owner_or_due_keeps_the_item(services: Services, workspace: Path) -> None:
    path = _write(workspace, DOC)
    ctx = services.context("edit")
    services.documents.sync_file(ctx, path)
    edited = DOC.replace(
        "- [ ] Add a run key to the fee job (ana, 2026-11-01)",
        "- [ ] Add a run key to the nightly fee job (ravi, 2026-11-08)",
    )
    path.write_text(edited, encoding="utf-8")
    report = services.documents.sync_file(ctx, path)
    assert report is not None
    assert [(e["key"], e["type"]) for e in report.events] == [("PM-0007:A1", "action.updated")]
    item = {i.key: i for i in list_actions(services.db)}["PM-0007:A1"]
    assert (item.text, item.owner, item.due) == (
        "Add a run key to the nightly fee job",
        "ravi",
        "2026-11-08",
    )


def test_verify_catches_a_tampered_projection(services: Services, workspace: Path) -> None:
    services.documents.sync_file(services.context("x"), _write(workspace, DOC))
    with services.db.write() as session:
        session.execute(text("UPDATE action_items SET status='done' WHERE key='PM-0007:A1'"))
        session.execute(text("UPDATE documents SET title='forged' WHERE id='PM-0007'"))
    results = {r.name: r for r in run_verify(services.settings, services.db)}
    assert not results["action_items_projection"].ok
    assert (
        "PM-0007:A1: status is 'done', events say 'open'"
        in results["action_items_projection"].problems[0]
    )
    assert not results["documents_projection"].ok


def test_overdue_follows_the_clock(services: Services, workspace: Path, clock) -> None:
    services.documents.sync_file(services.context("x"), _write(workspace, DOC))
    today = clock().date()  # 2026-10-17
    assert list_actions(services.db, overdue_on=today) == []
    clock.advance(timedelta(days=30))  # 2026-11-16: the 2026-11-01 item is overdue
    late = list_actions(services.db, overdue_on=clock().date())
    assert [i.key for i in late] == ["PM-0007:A1"]
    from incidentbook.core.documents.store import action_counts

    assert action_counts(services.db, clock().date()) == {
        "open": 2,
        "done": 1,
        "dropped": 1,
        "overdue": 1,
    }


def test_cli_actions_list_overdue_json(services: Services, workspace: Path, cli) -> None:
    # The CLI runs on the real clock: one due date long past, the others far ahead.
    body = DOC.replace("2026-11-01", "2001-01-01").replace("2026-12-15", "2999-12-15")
    _write(workspace, body)  # not synced yet: list reads the files first
    data = cli.json("actions", "list")
    assert [(i["key"], i["status"]) for i in data][:2] == [
        ("PM-0007:A1", "open"),
        ("PM-0007:A3", "open"),
    ]
    overdue = cli.json("actions", "list", "--overdue")
    assert [(i["key"], i["overdue"]) for i in overdue] == [("PM-0007:A1", True)]
    human = cli("actions", "list", "--overdue")
    assert "OVERDUE" in human.stdout and "Add a run key" in human.stdout
    assert "Review every nightly job" not in human.stdout


def test_cli_actions_sync_reports_changes(services: Services, workspace: Path, cli) -> None:
    path = _write(workspace, DOC)
    first = cli.json("actions", "sync")
    assert first[0]["doc_id"] == "PM-0007" and len(first[0]["action_events"]) >= 4
    path.write_text(act.set_checked(DOC, 24, True), encoding="utf-8")
    result = cli("actions", "sync")
    assert "PM-0007:A3: action.done -> done" in result.stdout


def test_a_broken_document_does_not_stop_the_others(
    services: Services, workspace: Path, cli
) -> None:
    _write(workspace, DOC)
    (workspace / "postmortems" / "broken.md").write_text("---\nid: [\n---\n", encoding="utf-8")
    data = cli.json("actions", "list")
    assert len(data) == 4


def test_models_match_migration_0005(services: Services) -> None:
    from sqlalchemy import inspect

    from incidentbook.storage.documents_models import ActionItemRow, DocumentRow

    inspector = inspect(services.db.engine)
    for model in (DocumentRow, ActionItemRow):
        table = model.__table__  # type: ignore[attr-defined]
        columns = {c["name"]: c for c in inspector.get_columns(table.name)}
        assert set(columns) == {c.name for c in table.columns}
        for column in table.columns:
            assert columns[column.name]["nullable"] == column.nullable, column.name


@pytest.mark.parametrize(
    "line",
    [
        "- [ ] prevent: Add a key (ana, 2026-11-01)",
        "- [x] mitigate: Page sooner (team:payments, 2026-11-02)",
        "  * [ ] process: Nested item with (parentheses) inside (mikkel, 2026-12-01)",
        "- [ ] ~~Dropped thing~~ (ana, 2026-01-01)",
        "- [ ] No owner or due",
    ],
)
def test_render_parse_round_trip_per_line(line: str) -> None:
    item = act.parse_line(line)
    assert item is not None
    assert act.render_item(item) == line
    assert json.dumps(item.to_dict())


def test_two_files_with_one_id_do_not_fight(services: Services, workspace: Path, cli) -> None:
    _write(workspace, DOC)
    twin = workspace / "postmortems" / "copy-of-fees.md"
    twin.write_text(DOC.replace("Add a run key", "Another item"), encoding="utf-8")
    ctx = services.context("x")
    services.documents.sync_all(ctx)
    with services.db.read() as session:
        first = len(events_by_prefix(session, ""))
    services.documents.sync_all(ctx)
    services.documents.sync_all(ctx)
    with services.db.read() as session:
        assert len(events_by_prefix(session, "")) == first  # no flip-flopping
    with pytest.raises(Exception, match="already used by postmortems/INC-0007"):
        services.documents.sync_file(ctx, twin)


def test_set_action_done_ticks_the_line_and_records_one_attributed_event(
    services: Services, workspace: Path
) -> None:
    """The app's "done" goes through the file: only that line changes, the event is the
    operator's, a second tick records nothing, an untick reopens."""
    path = _write(workspace, DOC)
    services.documents.sync_file(services.context("synced"), path)
    key = "PM-0007:A1"  # "- [ ] Add a run key to the fee job (ana, 2026-11-01)", line 19
    ctx = services.context("done in the app", actor="user:ravi", correlation_id="corr-9")
    report = services.documents.set_action_done(ctx, key)
    assert report.events == [{"key": key, "type": "action.done", "status": "done"}]
    lines, ticked = DOC.split("\n"), path.read_text(encoding="utf-8").split("\n")
    assert [i for i, (a, b) in enumerate(zip(lines, ticked, strict=True)) if a != b] == [18]
    assert ticked[18] == "- [x] Add a run key to the fee job (ana, 2026-11-01)"
    done = [e for e in _action_events(services) if e.stream == ACTION_PREFIX + key][-1]
    assert (done.type, done.actor, done.reason, done.correlation_id) == (
        "action.done",
        "user:ravi",
        "done in the app",
        "corr-9",
    )
    assert not services.documents.set_action_done(ctx, key).changed
    assert services.documents.set_action_done(ctx, key, done=False).events[0]["type"] == (
        "action.reopened"
    )
    assert path.read_text(encoding="utf-8") == DOC
    assert all(r.ok for r in run_verify(services.settings, services.db))


def test_set_action_done_refuses_unknown_dropped_and_removed_items(
    services: Services, workspace: Path
) -> None:
    from incidentbook.errors import ConflictError, NotFoundError, UsageError

    path = _write(workspace, DOC)
    ctx = services.context("synced")
    services.documents.sync_file(ctx, path)
    dropped = next(i.key for i in list_actions(services.db) if i.status == "dropped")
    with pytest.raises(NotFoundError):
        services.documents.set_action_done(ctx, "PM-0007:A99")
    with pytest.raises(UsageError, match="dropped"):
        services.documents.set_action_done(ctx, dropped)
    # The line was deleted in an editor and not yet synced: nothing is written or recorded.
    without = DOC.replace("- [ ] Add a run key to the fee job (ana, 2026-11-01)\n", "")
    path.write_text(without, encoding="utf-8")
    before = len(_action_events(services))
    with pytest.raises(ConflictError, match="no longer in"):
        services.documents.set_action_done(ctx, "PM-0007:A1")
    assert path.read_text(encoding="utf-8") == without
    assert len(_action_events(services)) == before
