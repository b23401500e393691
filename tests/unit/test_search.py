"""Search: the outbox, file scanning, rebuild vs incremental, query syntax, snippets, drift."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from incidentbook.context import Context
from incidentbook.core import search as S
from incidentbook.core.alerts.model import NativeAlert
from incidentbook.services import Services
from incidentbook.settings import Settings
from tests.support.cli import Cli


@pytest.fixture(autouse=True)
def _fresh_searchers() -> None:
    S.close_searchers()


def ids(hits: list[S.Hit]) -> list[str]:
    return [h.doc_id for h in hits]


def seed(services: Services, ctx: Context) -> dict[str, str]:
    inc = services.incidents
    a = inc.open(ctx, "Webhook retries double-posted processor payments", "critical").incident.id
    inc.add_note(ctx, a, "The retry path of the webhook handler lacked an idempotency check.")
    inc.add_note(ctx, a, "Reversal entries posted for every duplicate; balances recomputed.")
    inc.resolve(ctx.because("fixed forward"), a)
    b = inc.open(ctx, "Refunds posted in the wrong currency", "error").incident.id
    inc.add_note(ctx, b, "FX config rollout swapped the refund currency source.")
    c = inc.open(ctx, "Clock skew on ledger writer host", "warning").incident.id
    inc.add_note(ctx, c, "NTP daemon stopped after a package upgrade; recorded_at went backwards.")
    return {"webhook": a, "refund": b, "clock": c}


def write_pm(workspace: Path, name: str, text: str) -> Path:
    path = workspace / "postmortems" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


PM = """---
id: PM-0001
kind: postmortem
incident: {incident}
title: Double-posted webhook payments
services: [payments, ledger]
tags: [webhook, idempotency]
severity: critical
created: 2025-09-12T10:00:00Z
---
# Double-posted webhook payments

## Summary
A processor webhook retry posted payments twice for 4,800 accounts.

## Lessons
- Every write path needs an idempotency key, retries included.
- Reconcile hourly, not nightly: we detected it nine hours late.
"""


def test_committed_changes_are_searchable_via_outbox(
    settings: Settings, services: Services, ctx: Context
) -> None:
    made = seed(services, ctx)
    hits = S.search(settings, "idempotency", kind="incident", db=services.db)
    assert ids(hits) == [made["webhook"]]
    assert S.drain_outbox(settings, services.db).rows == 0  # the search drained it
    services.incidents.add_note(ctx, made["clock"], "chronyd replaced ntpd everywhere")
    assert ids(S.search(settings, "chronyd", kind="incident", db=services.db)) == [made["clock"]]
    assert S.index_status(settings, services.db).ok


def test_alert_groups_are_indexed(settings: Settings, services: Services, ctx: Context) -> None:
    alert = NativeAlert.from_dict(
        {
            "source": "reconciler",
            "name": "balance_mismatch",
            "fingerprint": "bm/acc-1",
            "status": "firing",
            "severity": "critical",
            "summary": "stored balance differs from history by 120.00 EUR",
            "labels": {"check": "balance_mismatch", "service": "ledger"},
            "annotations": {},
            "starts_at": "2026-10-17T02:14:00Z",
        }
    )
    services.alerts.ingest(ctx, [alert])
    hits = S.search(settings, "kind:alert_group service:ledger stored balance", db=services.db)
    assert [(h.kind, h.doc_id) for h in hits] == [("alert_group", "balance_mismatch")]
    assert hits[0].status == "firing" and hits[0].severity == "critical"


def test_query_syntax(settings: Settings, services: Services, ctx: Context) -> None:
    made = seed(services, ctx)
    db = services.db

    def search(q: str) -> list[S.Hit]:
        return S.search(settings, q, kind="incident", db=db)

    # stemming: "retrying" finds "retries"/"retry"
    assert made["webhook"] in ids(search("retrying"))
    # phrase: adjacent words only
    assert ids(search('"retry path"')) == [made["webhook"]]
    assert ids(search('"path retry"')) == []
    # prefix
    assert ids(search("refu*")) == [made["refund"]]
    # filters
    assert ids(search("kind:incident severity:warning")) == [made["clock"]]
    assert ids(search("posted status:resolved")) == [made["webhook"]]
    assert ids(search("posted status:open")) == [made["refund"]]
    runbooks = S.search(settings, "posted kind:runbook", db=db)
    assert runbooks and all(h.kind == "runbook" for h in runbooks)
    assert search("posted kind:runbook") == []  # --kind and kind: both apply
    # boolean
    assert set(ids(search("currency OR skew"))) == {
        made["refund"],
        made["clock"],
    }
    assert ids(search("posted -currency kind:incident")) == [made["webhook"]]
    # incident id
    assert ids(search(made["refund"]))[0] == made["refund"]
    # dates: everything was created at the fake clock's 2026-10-17
    assert len(search("kind:incident after:2026-10-16")) == 3
    assert search("kind:incident before:2026-10-16") == []
    # all words must match; with no document holding all, any of them
    assert ids(search("webhook ntp")) != []


def test_title_is_boosted_and_snippets_highlight(
    settings: Settings, services: Services, ctx: Context
) -> None:
    inc = services.incidents
    titled = inc.open(ctx, "Settlement file late", "error").incident.id
    other = inc.open(ctx, "Unrelated outage", "error").incident.id
    inc.add_note(ctx, other, "The settlement team was told. " + "filler words here. " * 5)
    inc.add_note(ctx, titled, "Bank sent the file after the cutoff.")
    hits = S.search(settings, "settlement", kind="incident", db=services.db)
    assert ids(hits) == [titled, other]
    snippet = hits[1]
    assert snippet.marked("[", "]").count("[settlement]") == 1
    for start, end in snippet.highlights:
        assert snippet.snippet[start:end].lower() == "settlement"


def test_make_snippet_picks_the_densest_window() -> None:
    text = ("alpha " * 100) + "the ledger reconciler found a balance mismatch " + ("omega " * 100)
    snippet, spans = S.make_snippet(text, {"ledger", "balanc", "mismatch"}, [])
    assert snippet.startswith("… ") and snippet.endswith(" …")
    assert [snippet[a:b] for a, b in spans] == ["ledger", "balance", "mismatch"]


@pytest.mark.parametrize(
    ("query", "hint"),
    [
        ('"unclosed phrase', "unbalanced quote"),
        ("foo:bar", "unknown filter 'foo:'"),
        ("(retry path", "unbalanced parenthesis"),
        ("retry path)", "unbalanced parenthesis"),
        ("retry OR", "OR needs a word"),
        ("AND retry", "AND needs a word"),
        ("-retry", "at least one word that is not negated"),
        ("*try", "wildcards only at the end"),
        ("r*", "at least 2 letters"),
        ("after:yesterday", "is not a date"),
        ("kind:bogus", "unknown kind"),
        ("severity:huge", "unknown severity"),
        ("kind:", "needs a value"),
        ("   ", "empty query"),
        ("the of is", "too common"),
        ("after:2026-10-10 before:2026-10-01", "earlier than"),
    ],
)
def test_malformed_queries_give_one_line_and_exit_2(cli: Cli, query: str, hint: str) -> None:
    result = cli("search", query)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("incidentbook: error: ")
    assert hint in lines[0]
    assert "Traceback" not in result.output


def test_cli_search_json_and_kind_option(cli: Cli, services: Services, ctx: Context) -> None:
    made = seed(services, ctx)
    out = cli.json("search", "retry", "path", "kind:incident", "--limit", "5")
    assert out["hits"][0]["id"] == made["webhook"]
    hit = out["hits"][0]
    assert {"kind", "id", "title", "score", "snippet", "highlights", "created"} <= set(hit)
    assert "**retry**" in hit["snippet_marked"]
    runbook_hits = cli.json("search", "retry", "--kind", "runbook")["hits"]
    assert runbook_hits and all(h["kind"] == "runbook" for h in runbook_hits)
    human = cli("search", "refund", "--kind", "incident")
    assert human.exit_code == 0 and made["refund"] in human.output
    assert cli("search", "x", "--kind", "nope").exit_code == 2


def test_postmortems_and_premortems_are_found_by_scanning(
    settings: Settings, workspace: Path, services: Services, ctx: Context
) -> None:
    made = seed(services, ctx)
    write_pm(workspace, "PM-0001.md", PM.format(incident=made["webhook"]))
    write_pm(
        workspace,
        "launch.md",
        "---\nkind: premortem\ntitle: Instant payouts launch\n"
        "services: payouts\n---\n# Instant payouts\n\nWhat could double-post payouts?\n",
    )
    hits = S.search(settings, "kind:postmortem idempotency", db=services.db)
    assert [(h.kind, h.doc_id, h.incident) for h in hits] == [
        ("postmortem", "PM-0001", made["webhook"])
    ]
    assert hits[0].services == ("payments", "ledger")
    pre = S.search(settings, "payouts", kind="premortem", db=services.db)
    assert [(h.kind, h.doc_id) for h in pre] == [("premortem", "launch")]
    assert ids(S.search(settings, "tag:idempotency kind:postmortem", db=services.db)) == ["PM-0001"]
    lessons = S.lessons_for_incident(settings, made["webhook"])
    assert lessons[0].lessons == (
        "Every write path needs an idempotency key, retries included.",
        "Reconcile hourly, not nightly: we detected it nine hours late.",
    )


def test_files_edited_outside_the_app_are_reindexed(
    settings: Settings, workspace: Path, services: Services
) -> None:
    path = workspace / "runbooks" / "fx.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# FX feed\n\nThe quokka feed stopped.\n")
    assert ids(S.search(settings, "quokka", db=services.db)) == ["fx"]
    path.write_text("# FX feed\n\nThe wombat feed stopped.\n")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    assert S.index_status(settings, services.db).changed_files == 1
    assert ids(S.search(settings, "wombat", db=services.db)) == ["fx"]
    assert S.search(settings, "quokka", db=services.db) == []
    path.unlink()
    assert S.search(settings, "wombat", db=services.db) == []
    assert S.index_status(settings, services.db).ok


def test_rebuild_equals_incremental(
    settings: Settings, workspace: Path, services: Services, ctx: Context
) -> None:
    made = seed(services, ctx)
    write_pm(workspace, "PM-0001.md", PM.format(incident=made["webhook"]))
    S.ensure_fresh(settings, services.db)
    services.incidents.add_note(ctx, made["refund"], "Rolled back the currency config.")
    S.drain_outbox(settings, services.db)
    queries = [
        "posted",
        "currency",
        '"idempotency key"',
        "kind:runbook balance",
        "ledger*",
        "severity:critical",
    ]
    incremental = {
        q: [(h.uid, h.snippet) for h in S.search(settings, q, db=services.db, limit=50)]
        for q in queries
    }
    digests = S.indexer.indexed_digests(settings)
    result = S.rebuild(settings, services.db)
    assert result.documents == len(digests)
    S.close_searchers()
    assert S.indexer.indexed_digests(settings) == digests
    for q in queries:
        rebuilt = [(h.uid, h.snippet) for h in S.search(settings, q, db=services.db, limit=50)]
        assert rebuilt == incremental[q], q
    # Two indexing processes (what big workspaces get) build the same index.
    S.rebuild(settings, services.db, procs=2)
    S.close_searchers()
    assert S.indexer.indexed_digests(settings) == digests
    for q in queries:
        rebuilt = [h.uid for h in S.search(settings, q, db=services.db, limit=50)]
        assert rebuilt == [uid for uid, _snippet in incremental[q]], q


def test_more_like_this(
    settings: Settings, workspace: Path, services: Services, ctx: Context
) -> None:
    made = seed(services, ctx)
    twin = services.incidents.open(
        ctx, "Processor webhook retried, payments posted twice", "error"
    ).incident.id
    services.incidents.add_note(ctx, twin, "Duplicate payments from webhook retry; idempotency.")
    write_pm(workspace, "PM-0001.md", PM.format(incident=made["webhook"]))
    similar = S.more_like_this(settings, "incident", made["webhook"], db=services.db)
    assert made["webhook"] not in ids(similar)
    assert ids(similar)[0] in (twin, "PM-0001")
    pm_like = S.more_like_this(
        settings, "postmortem", "PM-0001", kinds=("incident",), db=services.db
    )
    assert ids(pm_like)[:2] and set(ids(pm_like)[:2]) == {made["webhook"], twin}
    text_like = S.similar_to_text(
        settings, "NTP stopped, clock went backwards", kinds=("incident",), db=services.db
    )
    assert ids(text_like)[0] == made["clock"]
    with pytest.raises(S.IndexBusy.__mro__[1]):
        S.more_like_this(settings, "incident", "INC-0999", db=services.db)


def test_status_and_verify_report_drift(
    settings: Settings, services: Services, ctx: Context, cli: Cli
) -> None:
    made = seed(services, ctx)
    S.ensure_fresh(settings, services.db)
    assert cli("index", "status").exit_code == 0
    # Tamper with the derived index: drop one document behind the outbox's back.
    S.remove_document(settings, "incident", made["clock"])
    status = S.index_status(settings, services.db)
    assert status.missing == [f"incident:{made['clock']}"] and not status.ok
    result = cli("verify", "--json")
    assert result.exit_code == 1
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert not checks["search_index"]["ok"]
    assert "index rebuild" in checks["search_index"]["problems"][0]
    assert cli("index", "status").exit_code == 1
    rebuilt = cli.json("index", "rebuild")
    assert rebuilt["documents"] >= 3
    assert cli.json("index", "status")["drift"] == 0
    assert cli("verify").exit_code == 0


def test_index_rebuilt_when_missing(settings: Settings, services: Services, ctx: Context) -> None:
    import shutil

    made = seed(services, ctx)
    S.ensure_fresh(settings, services.db)
    S.close_searchers()
    shutil.rmtree(settings.index_dir)
    assert ids(S.search(settings, "skew", kind="incident", db=services.db)) == [made["clock"]]


def test_seen_before_same_alert_then_similar_text_with_lessons(
    settings: Settings, workspace: Path, services: Services, ctx: Context
) -> None:
    made = seed(services, ctx)
    alert = NativeAlert.from_dict(
        {
            "source": "reconciler",
            "name": "duplicate_posting",
            "fingerprint": "dp/acc-1",
            "status": "firing",
            "severity": "critical",
            "summary": "posted twice",
            "labels": {"check": "duplicate_posting"},
            "annotations": {},
            "starts_at": "2026-10-17T02:14:00Z",
        }
    )
    services.alerts.ingest(ctx, [alert])
    grouped = services.alerts.acknowledge_group(ctx, "duplicate_posting").incident.id
    write_pm(workspace, "PM-0001.md", PM.format(incident=made["webhook"]))
    seen = S.seen_before(settings, alert_name="duplicate_posting", db=services.db)
    assert [(s.incident_id, s.why) for s in seen] == [(grouped, "same alert duplicate_posting")]
    similar = S.seen_before(
        settings,
        text="webhook retry without idempotency posted twice",
        exclude=grouped,
        db=services.db,
    )
    assert similar[0].incident_id == made["webhook"] and similar[0].why == "similar text"
    assert similar[0].postmortem == "PM-0001"
    assert similar[0].lessons[0].startswith("Every write path needs an idempotency key")
    assert grouped not in [s.incident_id for s in similar]


def test_rare_phrase_among_many_candidates_is_found_exactly(
    settings: Settings, services: Services
) -> None:
    """More candidates than the checked window: the per-document pair filter and the exact
    check find the one low-ranked holder, and no near miss."""
    from incidentbook.core.search.documents import Doc

    filler = "retry alpha path beta " * 12  # never "retry path"
    docs = [
        Doc(kind="incident", id=f"INC-{i:04d}", title=f"Noise {i}", body=filler)
        for i in range(1, 181)
    ]
    docs.append(
        Doc(
            kind="incident",
            id="INC-0500",
            title="Holder",
            body="alpha beta gamma. Once the retrying paths diverged. " + "delta " * 200,
        )
    )
    docs.append(
        Doc(
            kind="incident",
            id="INC-0501",
            title="Near miss",
            body="path retry retry pathway retried delta paths " + "delta " * 200,
        )
    )
    S.rebuild(settings, services.db, docs=iter(docs), total=len(docs))
    S.close_searchers()
    hits = S.search(settings, '"retrying path"', db=services.db, fresh=False)
    assert [h.doc_id for h in hits] == ["INC-0500"]
    assert len(S.search(settings, '"alpha path beta"', db=services.db, fresh=False)) == 10
    # Updates leave deleted copies in the big segment and add new segments: still exact.
    S.index_document(
        settings,
        Doc(kind="incident", id="INC-0500", title="Holder", body="nothing to see " + "delta " * 50),
    )
    S.index_document(
        settings,
        Doc(
            kind="incident",
            id="INC-0007",
            title="Now a holder",
            body=filler + " the retry path at last",
        ),
    )
    hits = S.search(settings, '"retrying path"', db=services.db, fresh=False)
    assert [h.doc_id for h in hits] == ["INC-0007"]
