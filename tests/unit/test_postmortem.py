"""``postmortem new``: golden output, prefilled facts, --refresh, and every bad input."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from incidentbook.core.documents import blocks
from incidentbook.core.documents.facts import collect
from incidentbook.core.documents.store import list_documents
from incidentbook.core.health.verify import run_verify
from incidentbook.errors import NotFoundError, UsageError
from incidentbook.frontmatter import split
from incidentbook.services import Services
from tests.support.chain import independent_chain
from tests.support.documents import GOLDEN, reconciler_incident


@pytest.fixture
def no_related(monkeypatch: pytest.MonkeyPatch) -> None:
    """Golden files must not depend on what the search index ranks today."""
    import incidentbook.core.documents.related as related

    monkeypatch.setattr(related, "search_related", lambda *a, **k: [])


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"golden file {path} missing; run with UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8")


def test_golden_postmortem_from_reconciler_incident(
    services: Services, ctx, clock, no_related: None
) -> None:
    incident_id = reconciler_incident(services, ctx, clock)
    head = independent_chain(services.db.path)[-1][2]
    path = services.postmortems.new(incident_id)
    assert path.parent == services.settings.postmortems_dir
    assert path.name.startswith(f"{incident_id}-balance-mismatch")
    text = path.read_text(encoding="utf-8")
    # The chain's head when it was written (event ids are random: the golden file has a mark)
    assert f"\nhead_hash: {head}\n---\n" in text
    _golden("postmortem_reconciler.md", text.replace(head, "<head hash>"))


def test_prefilled_facts_equal_the_incident_events(services: Services, ctx, clock) -> None:
    incident_id = reconciler_incident(services, ctx, clock)
    events = services.incidents.timeline(incident_id)
    path = services.postmortems.new(incident_id)
    text = path.read_text(encoding="utf-8")
    doc = split(text)
    lines = doc.body.split("\n")
    timeline = next(r for r in blocks.regions(lines) if r.name == "timeline")
    rows = [row for row in timeline.content if row.startswith("| 20")]
    incident_rows = [row for row in rows if "| incident |" in row]
    # One row per incident event, in order, with its time and actor (the postmortem's own
    # "postmortem started" event comes after and is not part of the story).
    story = [e for e in events if not e.type.startswith("incident.postmortem")]
    assert len(incident_rows) == len(story)
    for row, event in zip(incident_rows, story, strict=True):
        assert row.startswith(f"| {event.recorded_at[:10]} {event.recorded_at[11:19]}Z |")
        assert event.actor in row
    assert "note: Paused the webhook consumer <script>x()</script>" in text
    assert "Retry path posts without \\| an idempotency check" in text  # pipe escaped
    # Impact: three reconciler accounts, money per currency, from the alerts' labels.
    assert "- Accounts affected: 3" in text
    assert "- Money out of balance (EUR): -11.51 EUR" in text
    assert "- Money out of balance (USD): -1,000.00 USD" in text
    assert "runbooks/reconciler/balance_mismatch.md" in text
    with services.db.read() as session:
        facts = collect(session, incident_id)
    state = services.incidents.get(incident_id)
    assert facts.first_bad_event == "2026-10-17T01:40:00.000000Z"
    assert facts.tta_s is not None and state.acknowledged_at is not None
    assert facts.ttr_s is not None and facts.ttr_s > 42 * 60
    assert facts.services == ["webhooks"]
    # The document and the incident both record it; verify re-derives both.
    assert [d.id for d in list_documents(services.db)] == ["PM-" + incident_id[4:]]
    assert services.incidents.timeline(incident_id)[-1].type == "incident.postmortem_started"
    assert all(r.ok for r in run_verify(services.settings, services.db))


def test_existing_postmortem_is_refused_without_refresh(services: Services, ctx, cli) -> None:
    incident = services.incidents.open(ctx, "Fees doubled", "error").incident
    first = cli("postmortem", "new", incident.id)
    assert first.exit_code == 0, first.output
    path = next(services.settings.postmortems_dir.glob("INC-*.md"))
    before = path.read_text(encoding="utf-8")
    again = cli("postmortem", "new", incident.id)
    assert again.exit_code == 2
    assert "already exists" in again.stderr and "--refresh" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    assert path.read_text(encoding="utf-8") == before


def test_refresh_keeps_every_hand_written_line(services: Services, ctx) -> None:
    incident = services.incidents.open(ctx, "Fees doubled", "error").incident
    path = services.postmortems.new(incident.id)
    text = path.read_text(encoding="utf-8")
    hand = {
        "## What went well": "## What went well\n\nThe fee job's run log showed the double run.",
        "## Lessons": "## Lessons\n\n- Jobs need a run key.\n- Restarts must be safe.",
    }
    for anchor, replacement in hand.items():
        text = text.replace(anchor, replacement)
    text = text.replace("status: draft", "status: in review  # reviewed by payments")
    # A generated block edited by hand is kept too (its stamp no longer matches).
    text = text.replace(
        "- Accounts affected: not measured (no reconciler alerts on this incident)",
        "- Accounts affected: 312 (counted by hand from the fee run log)",
    )
    path.write_text(text, encoding="utf-8")
    # New facts arrive: a note and a resolution.
    services.incidents.add_note(ctx, incident.id, "Reversed the second run's entries")
    services.incidents.resolve(ctx, incident.id)

    result = services.postmortems.create(incident.id, refresh=True)
    assert result.path == path and not result.created
    refreshed = path.read_text(encoding="utf-8")
    hand_lines = [line for line in text.split("\n") if line not in _generated_lines(text)]
    for line in hand_lines:
        assert line in refreshed.split("\n"), line
    assert "Reversed the second run's entries" in refreshed  # timeline updated
    assert "| Status | resolved |" in refreshed
    assert "impact" in result.kept_edited
    assert "312 (counted by hand" in refreshed
    assert "timeline" in result.refreshed
    # Refreshing again with no new facts changes nothing.
    services.postmortems.create(incident.id, refresh=True)
    assert path.read_text(encoding="utf-8") == refreshed


def _generated_lines(text: str) -> set[str]:
    lines = text.split("\n")
    flags = blocks.is_generated_line(lines)
    return {line for line, generated in zip(lines, flags, strict=True) if generated}


def test_unknown_incident_is_one_line_exit_2(cli, workspace: Path) -> None:
    result = cli("postmortem", "new", "INC-0999")
    assert result.exit_code == 2
    assert result.stderr.strip() == "incidentbook: error: no incident INC-0999"
    assert list((workspace / "postmortems").iterdir()) == []


def test_unknown_incident_in_core(services: Services) -> None:
    with pytest.raises(NotFoundError):
        services.postmortems.new("INC-0042")


def test_postmortems_folder_that_is_not_a_folder(services: Services, ctx, cli) -> None:
    incident = services.incidents.open(ctx, "Fees doubled", "error").incident
    folder = services.settings.postmortems_dir
    folder.rmdir()
    folder.write_text("not a folder", encoding="utf-8")
    result = cli("postmortem", "new", incident.id)
    assert result.exit_code == 2
    assert "postmortems" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert list_documents(services.db) == []


def test_unwritable_folder_leaves_nothing_half_written(
    services: Services, ctx, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The OS refusing the temp file (as for a read-only folder; root ignores chmod here, so
    the refusal is injected at the same call) is one line, exit 2, and nothing is recorded."""
    import tempfile

    incident = services.incidents.open(ctx, "Fees doubled", "error").incident
    events_before = len(services.incidents.timeline(incident.id))

    def refuse(*args: object, **kwargs: object) -> tuple[int, str]:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    result = cli("postmortem", "new", incident.id)
    assert result.exit_code == 2
    assert "not writable" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert list(services.settings.postmortems_dir.iterdir()) == []
    assert list_documents(services.db) == []
    assert len(services.incidents.timeline(incident.id)) == events_before


def test_failed_rename_removes_the_temp_file(
    services: Services, ctx, monkeypatch: pytest.MonkeyPatch
) -> None:
    incident = services.incidents.open(ctx, "Fees doubled", "error").incident

    def broken_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(UsageError, match="No space left"):
        services.postmortems.new(incident.id)
    assert list(services.settings.postmortems_dir.iterdir()) == []
    assert list_documents(services.db) == []


def test_broken_workspace_template_names_template_and_line(
    services: Services, ctx, cli, workspace: Path
) -> None:
    incident = services.incidents.open(ctx, "Fees doubled", "error").incident
    templates = workspace / "templates"
    templates.mkdir()
    (templates / "postmortem.md.j2").write_text(
        "# {{ incident.title }}\n\n{% for x in facts.timeline %}\n- {{ x.text }\n",
        encoding="utf-8",
    )
    result = cli("postmortem", "new", incident.id)
    assert result.exit_code == 2
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1
    assert "postmortem.md.j2" in message and "line 4" in message
    assert list((workspace / "postmortems").iterdir()) == []


def test_undefined_variable_in_template_names_line(
    services: Services, ctx, workspace: Path
) -> None:
    incident = services.incidents.open(ctx, "Fees doubled", "error").incident
    templates = workspace / "templates"
    templates.mkdir()
    (templates / "postmortem.md.j2").write_text(
        "# ok\n\nline two\n{{ no_such_thing.field }}\n", encoding="utf-8"
    )
    with pytest.raises(UsageError, match=r"postmortem\.md\.j2 line 4: 'no_such_thing'"):
        services.postmortems.new(incident.id)


@pytest.mark.parametrize(
    "escape",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ incident.__class__.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    ],
)
def test_sandbox_refuses_escapes(
    services: Services, ctx, cli, workspace: Path, escape: str
) -> None:
    incident = services.incidents.open(ctx, "Fees doubled", "error").incident
    templates = workspace / "templates"
    templates.mkdir()
    (templates / "postmortem.md.j2").write_text(f"# x\n{escape}\n", encoding="utf-8")
    result = cli("postmortem", "new", incident.id)
    assert result.exit_code == 2
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1
    assert "postmortem.md.j2" in message
    assert "sandbox" in message or "undefined" in message
    assert list((workspace / "postmortems").iterdir()) == []


def test_workspace_template_overrides_the_shipped_one(
    services: Services, ctx, workspace: Path
) -> None:
    incident = services.incidents.open(ctx, "Fees doubled", "error").incident
    templates = workspace / "templates"
    templates.mkdir()
    (templates / "postmortem.md.j2").write_text(
        "# Our own: {{ incident.title }}\n", encoding="utf-8"
    )
    path = services.postmortems.new(incident.id)
    assert "# Our own: Fees doubled" in path.read_text(encoding="utf-8")


def test_cli_json_and_lint_of_a_fresh_postmortem(services: Services, ctx, cli) -> None:
    incident = services.incidents.open(ctx, "Fees doubled", "error").incident
    data = cli.json("postmortem", "new", incident.id)
    assert data["created"] is True and data["incident"] == incident.id
    assert data["search_backend"] in ("whoosh", "fallback")
    # A fresh postmortem is unfinished: lint names the empty sections and exits 1.
    result = cli("postmortem", "lint", data["path"])
    assert result.exit_code == 1
    assert "section 'What went well' is empty" in result.stdout


def test_new_documents_are_found_by_search(services: Services, ctx, cli) -> None:
    """The search index (issue 5) picks postmortems and pre-mortems up from their front
    matter; a search that ran before they existed finds them after."""
    cli("search", "anything", "--json")  # the index exists before the documents do
    incident = services.incidents.open(ctx, "Refund currency swapped", "error").incident
    services.postmortems.new(incident.id)
    cli("premortem", "new", "Launch: refunds v2", "--services", "refunds")
    hits = cli.json("search", "refund")["hits"]
    found = {(h["kind"], h["id"]) for h in hits}
    assert ("postmortem", "PM-" + incident.id[4:]) in found
    assert ("premortem", "PRE-0001") in found


def test_template_cannot_include_files_outside_the_template_folders(
    services: Services, ctx, cli, workspace: Path
) -> None:
    incident = services.incidents.open(ctx, "Fees doubled", "error").incident
    templates = workspace / "templates"
    templates.mkdir()
    (templates / "postmortem.md.j2").write_text(
        '# x\n{% include "../incidentbook.toml" %}\n', encoding="utf-8"
    )
    result = cli("postmortem", "new", incident.id)
    assert result.exit_code == 2
    assert "postmortem.md.j2 line 2" in result.stderr and "incidentbook.toml" in result.stderr
    assert "[ledger]" not in result.stderr
    assert list((workspace / "postmortems").iterdir()) == []


def test_concurrent_starts_of_one_postmortem_write_it_once(services: Services, ctx) -> None:
    import threading

    from incidentbook.services import make_services

    incident = services.incidents.open(ctx, "Fees doubled", "error").incident
    barrier = threading.Barrier(3)
    outcomes: list[str] = []

    def start() -> None:
        own = make_services(services.settings)
        barrier.wait()
        try:
            own.postmortems.create(incident.id)
            outcomes.append("created")
        except UsageError as exc:
            assert "already exists" in str(exc)
            outcomes.append("refused")

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["created", "refused", "refused"]
    started = [
        e
        for e in services.incidents.timeline(incident.id)
        if e.type == "incident.postmortem_started"
    ]
    assert len(started) == 1
    assert len(list(services.settings.postmortems_dir.glob("*.md"))) == 1


def test_money_is_kept_apart_per_check_and_bad_labels_are_skipped(services: Services, ctx) -> None:
    from incidentbook.core.alerts.model import NativeAlert

    def alert(check: str, account: str, annotations: dict[str, str]) -> NativeAlert:
        return NativeAlert.from_dict(
            {
                "source": "reconciler",
                "name": check,
                "fingerprint": f"{check}/{account}",
                "status": "firing",
                "severity": "critical",
                "labels": {"check": check, "account_id": account, "currency": "EUR"},
                "annotations": annotations,
                "starts_at": "2026-10-17T01:00:00Z",
            }
        )

    services.alerts.ingest(
        ctx,
        [
            alert("balance_mismatch", "a1", {"delta_minor": "-500"}),
            alert("balance_mismatch", "a2", {"delta": "-1.25"}),  # major units, decimal
            alert("balance_mismatch", "a3", {"delta_minor": "not a number"}),
            alert("duplicate_posting", "a1", {"delta_minor": "-500"}),
        ],
    )
    incident = services.alerts.acknowledge_group(ctx, "balance_mismatch").incident
    with services.db.write() as session:
        services.alerts.link_many_in(session, ctx, ["duplicate_posting/a1"], incident.id)
    text = services.postmortems.new(incident.id).read_text(encoding="utf-8")
    assert "- Accounts affected: 3" in text
    assert "- Money out of balance (EUR, balance_mismatch): -6.25 EUR" in text
    assert "- Money out of balance (EUR, duplicate_posting): -5.00 EUR" in text
