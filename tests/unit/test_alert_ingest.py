"""One store, one dedup rule: Alertmanager episodes, PagerDuty events, files, groups."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from incidentbook.context import Context
from incidentbook.core.alerts import service as alert_service
from incidentbook.core.alerts.formats.alertmanager import parse_alertmanager
from incidentbook.core.alerts.formats.pagerduty import parse_pagerduty
from incidentbook.core.alerts.model import REPEATED, IngestResult, NativeAlert, apply, derive
from incidentbook.core.alerts.service import AlertService
from incidentbook.core.alerts.store import with_lock_retry
from incidentbook.core.health.verify import run_verify
from incidentbook.services import Services
from tests.support.payloads import am_alert, am_payload, pd_event


def _verify_ok(services: Services) -> None:
    results = run_verify(services.settings, services.db)
    assert all(r.ok for r in results), [r.problems for r in results if not r.ok]


def _count(services: Services, sql: str) -> int:
    conn = sqlite3.connect(services.db.path)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


def _am(services: Services, ctx: Context, payload: dict[str, Any]) -> IngestResult:
    return services.alerts.ingest_alertmanager(ctx, parse_alertmanager(payload))


def test_replaying_the_same_payload_n_times_is_one_alert_with_n_occurrences(
    services: Services, ctx: Context
) -> None:
    payload = am_payload(am_alert("fp-a"), am_alert("fp-b"))
    outcomes = [_am(services, ctx, payload).counts for _ in range(5)]
    assert outcomes[0]["new"] == 2 and all(o["repeated"] == 2 for o in outcomes[1:])
    listed = services.alerts.list_alerts("all")
    assert sorted(a.fingerprint for a in listed) == ["fp-a", "fp-b"]
    assert {a.occurrences for a in listed} == {5} and {a.episodes for a in listed} == {1}
    assert _count(services, "SELECT count(*) FROM alert_ingest_requests") == 5
    _verify_ok(services)


def test_alertmanager_episode_is_fingerprint_and_starts_at(
    services: Services, ctx: Context
) -> None:
    t1, t2 = "2026-10-17T02:00:00Z", "2026-10-17T05:00:00Z"
    assert _am(services, ctx, am_payload(am_alert("fp", startsAt=t1))).counts["new"] == 1
    # A newer startsAt while still firing: we missed the resolve; a new episode.
    assert _am(services, ctx, am_payload(am_alert("fp", startsAt=t2))).counts["refired"] == 1
    # A late retry of the old episode changes nothing.
    late = _am(services, ctx, am_payload(am_alert("fp", startsAt=t1)))
    assert late.counts["stale"] == 1
    old_resolve = am_alert("fp", startsAt=t1, status="resolved", endsAt="2026-10-17T03:00:00Z")
    assert _am(services, ctx, am_payload(old_resolve)).counts["stale"] == 1
    assert services.alerts.get("fp").status == "firing"
    resolve = am_alert("fp", startsAt=t2, status="resolved", endsAt="2026-10-17T06:00:00Z")
    assert _am(services, ctx, am_payload(resolve)).counts["resolved"] == 1
    assert _am(services, ctx, am_payload(resolve)).counts["unchanged"] == 1
    state = services.alerts.get("fp")
    assert (state.status, state.episodes, state.occurrences) == ("resolved", 2, 2)
    assert state.ends_at == "2026-10-17T06:00:00.000000Z"
    # The same episode firing again after its resolve (an out-of-order copy) stays resolved.
    assert _am(services, ctx, am_payload(am_alert("fp", startsAt=t2))).counts["unchanged"] == 1
    # A new firing after resolve is a new episode of the same alert.
    t3 = "2026-10-17T07:00:00Z"
    assert _am(services, ctx, am_payload(am_alert("fp", startsAt=t3))).counts["refired"] == 1
    assert len(services.alerts.list_alerts("all")) == 1
    # The same episode listed by Alertmanager's API (milliseconds only) is not an older one.
    webhook = am_alert("fp-ms", startsAt="2026-10-17T08:00:00.123456789Z")
    listed = am_alert("fp-ms", startsAt="2026-10-17T08:00:00.123Z")
    assert _am(services, ctx, am_payload(webhook)).counts["new"] == 1
    assert _am(services, ctx, am_payload(listed)).counts["repeated"] == 1
    _verify_ok(services)


def test_truncated_alerts_are_recorded_and_visible(services: Services, ctx: Context) -> None:
    result = _am(services, ctx, am_payload(truncatedAlerts=12))
    assert result.to_dict()["truncated_alerts"] == 12
    (request,) = services.alerts.requests(truncated_only=True)
    assert (request.source, request.truncated_alerts, request.actor) == (
        "alertmanager",
        12,
        ctx.actor,
    )
    assert request.correlation_id == ctx.correlation_id


def test_a_payload_is_all_in_or_all_out(
    services: Services, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = parse_alertmanager(am_payload(am_alert("ok-1"), am_alert("ok-2")))
    real_append = alert_service.append_event
    calls: list[str] = []

    def failing_append(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[2])
        if len(calls) == 2:  # the store fails halfway through the payload
            raise RuntimeError("disk on fire")
        return real_append(*args, **kwargs)

    monkeypatch.setattr(alert_service, "append_event", failing_append)
    with pytest.raises(RuntimeError, match="disk on fire"):
        services.alerts.ingest_alertmanager(ctx, payload)
    monkeypatch.undo()
    assert calls == ["alert:ok-1", "alert:ok-2"]
    assert services.alerts.list_alerts("all") == []
    assert _count(services, "SELECT count(*) FROM events") == 0
    assert _count(services, "SELECT count(*) FROM alert_ingest_requests") == 0
    assert _am(services, ctx, am_payload(am_alert("ok-1"), am_alert("ok-2"))).counts["new"] == 2


def test_pagerduty_trigger_acknowledge_resolve(services: Services, ctx: Context) -> None:
    svc = services.alerts
    for _ in range(3):
        svc.ingest_pagerduty(ctx, parse_pagerduty(pd_event(dedup_key="Key-1")))
    svc.ingest_pagerduty(ctx, parse_pagerduty(pd_event(dedup_key="key-1")))  # case-sensitive
    assert svc.get("Key-1").occurrences == 3 and svc.get("key-1").occurrences == 1
    ack = {"routing_key": "r", "event_action": "acknowledge", "dedup_key": "Key-1"}
    assert svc.ingest_pagerduty(ctx, parse_pagerduty(ack)).counts["acknowledged"] == 1
    history = svc.history("Key-1")
    assert svc.acknowledged_at(history) == history[-1].recorded_at
    resolve = {"routing_key": "r", "event_action": "resolve", "dedup_key": "Key-1"}
    assert svc.ingest_pagerduty(ctx, parse_pagerduty(resolve)).counts["resolved"] == 1
    assert svc.ingest_pagerduty(ctx, parse_pagerduty(resolve)).counts["unchanged"] == 1
    unknown = {"routing_key": "r", "event_action": "resolve", "dedup_key": "nobody"}
    assert svc.ingest_pagerduty(ctx, parse_pagerduty(unknown)).counts["ignored"] == 1
    assert svc.get("Key-1").status == "resolved"
    # A trigger after resolve is a new occurrence (episode) of the same alert.
    later = pd_event(dedup_key="Key-1")
    later["payload"]["timestamp"] = "2026-10-18T00:00:00Z"
    assert svc.ingest_pagerduty(ctx, parse_pagerduty(later)).counts["refired"] == 1
    assert svc.acknowledged_at(svc.history("Key-1")) is None
    _verify_ok(services)


def test_acknowledging_a_big_group_links_in_one_timeline_event(
    services: Services, ctx: Context
) -> None:
    alerts = [am_alert(f"fp-{i:04d}") for i in range(300)]
    _am(services, ctx, am_payload(*alerts))
    outcome = services.alerts.acknowledge_group(ctx, "BalanceMismatch")
    assert outcome.changed and len(outcome.incident.alerts) == 300
    assert outcome.incident.status == "acknowledged"
    timeline = services.incidents.timeline(outcome.incident.id)
    assert [e.type for e in timeline] == [
        "incident.opened",
        "incident.acknowledged",
        "incident.alerts_linked",
        "incident.runbook_linked",  # the runbook the group's alerts match (issue 12)
    ]
    from incidentbook.core.incidents.timeline import describe

    assert describe(timeline[2].type, timeline[2].data).startswith("300 alerts linked: fp-0000")
    assert timeline[3].data == {"runbook": "balance_mismatch"}
    again = services.alerts.acknowledge_group(ctx, "BalanceMismatch")
    assert not again.changed and again.incident.id == outcome.incident.id
    assert len(services.incidents.timeline(outcome.incident.id)) == 4  # nothing new
    # New alerts of the acknowledged group join its timeline, again as one batch per ingest.
    result = _am(services, ctx, am_payload(*(am_alert(f"new-{i}") for i in range(3))))
    assert result.counts["joined"] == 3
    timeline = services.incidents.timeline(outcome.incident.id)
    assert timeline[-1].type == "incident.alerts_linked"
    assert timeline[-1].data["fingerprints"] == ["new-0", "new-1", "new-2"]
    assert services.alerts.get("new-1").incident_id == outcome.incident.id
    assert len(services.incidents.get(outcome.incident.id).alerts) == 303
    _verify_ok(services)


def test_group_key_is_configurable(services: Services, ctx: Context) -> None:
    svc = AlertService(services.db, services.incidents, ["alertname", "account"])
    svc.ingest_alertmanager(ctx, parse_alertmanager(am_payload(am_alert("x"))))
    assert svc.get("x").group_key == "alertname=BalanceMismatch,account=acc-1"
    assert [g.key for g in svc.groups()] == ["alertname=BalanceMismatch,account=acc-1"]


# -- files ---------------------------------------------------------------------------------


def _native(fp: str, status: str = "firing", **over: Any) -> str:
    alert = {
        "source": "test",
        "name": "disk_full",
        "fingerprint": fp,
        "status": status,
        "severity": "critical",
        "summary": "disk",
        "labels": {"host": fp},
        "annotations": {},
        "starts_at": "2026-10-17T02:00:00Z",
        "ends_at": None,
    }
    alert.update(over)
    return json.dumps(alert)


def test_ingest_file_is_idempotent_and_attributed(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    path.write_text("\n".join([_native("a"), _native("b"), "", _native("a", "resolved")]) + "\n")
    first = cli.json("alerts", "ingest", str(path))
    assert (first["new"], first["resolved"], first["received"]) == (2, 1, 3)
    events = _events(cli.workspace)
    again = cli.json("alerts", "ingest", str(path))
    assert again["replayed"] == 3 and again["new"] == 0
    assert _events(cli.workspace) == events  # nothing changed
    assert {e[0] for e in events} == {"cli:ingest"}
    shown = cli.json("alerts", "show", "a")
    assert shown["status"] == "resolved" and shown["history"][0]["actor"] == "cli:ingest"
    listed = cli.json("alerts", "list", "--status", "all")
    assert sorted(a["fingerprint"] for a in listed) == ["a", "b"]
    assert [a["fingerprint"] for a in cli.json("alerts", "list")] == ["b"]


def _events(workspace: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(workspace / ".incidentbook" / "state.sqlite")
    try:
        return conn.execute("SELECT actor, stream, type, seq FROM events ORDER BY seq").fetchall()
    finally:
        conn.close()


def test_malformed_lines_are_skipped_with_their_number(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join([_native("a"), "{not json", _native("b", status="on")]) + "\n")
    result = cli("alerts", "ingest", str(path), "--json")
    assert result.exit_code == 1  # skipped lines are a finding (issue 16)
    assert "line 2: json: not valid JSON" in result.stderr
    assert "line 3: field 'status'" in result.stderr
    summary = json.loads(result.stdout)
    assert summary["new"] == 1 and [s["line"] for s in summary["skipped"]] == [2, 3]


def test_abort_writes_nothing(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join([_native("a"), _native("b"), "[]"]) + "\n")
    assert cli("alerts", "list").exit_code == 0  # creates the database
    result = cli("alerts", "ingest", str(path), "--on-error", "abort")
    assert result.exit_code == 2
    assert "line 3:" in result.stderr and "nothing ingested" in result.stderr
    assert _events(cli.workspace) == []


def test_stdin_and_formats(cli: Any) -> None:
    am_lines = json.dumps(am_payload(am_alert("am-1"), truncatedAlerts=2)) + "\n"
    out = cli.json("alerts", "ingest", "-", "--format", "alertmanager", input=am_lines)
    assert out["new"] == 1 and out["truncated_alerts"] == 2
    assert (
        cli.json("alerts", "ingest", "-", "--format", "alertmanager", input=am_lines)["replayed"]
        == 1
    )
    raw = pd_event()
    del raw["dedup_key"]
    pd_lines = json.dumps(raw) + "\n"
    out = cli.json("alerts", "ingest", "-", "--format", "pagerduty", input=pd_lines)
    assert out["new"] == 1
    # The generated dedup key is derived from the line: a re-ingest finds the same alert.
    assert (
        cli.json("alerts", "ingest", "-", "--format", "pagerduty", input=pd_lines)["replayed"] == 1
    )
    assert len(cli.json("alerts", "list")) == 2
    requests = cli.json("alerts", "requests", "--truncated")
    assert [r["truncated_alerts"] for r in requests] == [2]
    # A re-ingested line adds no request record either; an empty notification counts once.
    empty = json.dumps({**am_payload(), "alerts": []}) + "\n"
    for _ in range(2):
        cli.json("alerts", "ingest", "-", "--format", "alertmanager", input=empty)
    assert [(r["source"], r["actor"]) for r in cli.json("alerts", "requests")] == [
        ("alertmanager", "cli:ingest"),
        ("pagerduty", "cli:ingest"),
        ("alertmanager", "cli:ingest"),
    ]
    human = cli("alerts", "list")
    assert "Alertmanager truncated 2 alerts" in human.stdout


def test_show_unknown_and_missing_file(cli: Any) -> None:
    missing = cli("alerts", "show", "nope")
    assert missing.exit_code == 2 and "no alert" in missing.stderr
    nofile = cli("alerts", "ingest", "/nonexistent/file.jsonl")
    assert nofile.exit_code == 2 and "no such file" in nofile.stderr


def test_ack_group_cli(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text(_native("a") + "\n" + _native("b") + "\n")
    cli.json("alerts", "ingest", str(path))
    groups = cli.json("alerts", "groups")
    assert [(g["key"], g["firing"]) for g in groups] == [("disk_full", 2)]
    acked = cli.json("alerts", "ack-group", "disk_full")
    assert acked["incident"]["status"] == "acknowledged"
    assert sorted(acked["incident"]["alerts"]) == ["a", "b"]
    shown = cli.json("alerts", "show", "a")
    assert shown["incident"]["id"] == acked["incident"]["id"]
    assert cli("alerts", "ack-group", "nothing").exit_code == 2
    verify = cli("verify")
    assert verify.exit_code == 0, verify.output


def test_ingest_in_inside_a_callers_transaction(services: Services, ctx: Context) -> None:
    """The reconciler's path: single alerts inside its own transaction, mixed with a batch."""
    from incidentbook.core.alerts.formats.native import parse_native

    def native(fp: str, status: str = "firing") -> NativeAlert:
        return parse_native(json.loads(_native(fp, status)))

    svc = services.alerts
    with services.db.write() as session:
        assert svc.ingest_in(session, ctx, native("r1"), "run-1/r1") == "new"
        assert svc.ingest_in(session, ctx, native("r1"), "run-1/r1") == "replayed"
        assert svc.ingest_in(session, ctx, native("r1"), "run-2/r1") == "repeated"
        result = IngestResult()
        outcomes: list[str] = []
        svc.ingest_many_in(
            session,
            ctx,
            [native("r1"), native("r2"), native("r2")],
            ["run-2/r1", None, None],
            result,
            outcomes=outcomes,
        )
        assert outcomes == ["replayed", "new", "repeated"]
        assert svc.ingest_in(session, ctx, native("r2", "resolved")) == "resolved"
    assert svc.get("r1").occurrences == 2 and svc.get("r2").status == "resolved"
    assert svc.get("r2").occurrences == 2
    _verify_ok(services)


def test_a_repeat_records_only_what_changed(services: Services, ctx: Context) -> None:
    """A sender that re-sends an unchanged alert adds an event with the alert's name only
    (last_seen and occurrences move); a changed field is carried; the stored alert is the fold
    of events either way, and of the full-payload repeats older versions wrote."""
    from incidentbook.core.alerts.formats.native import parse_native
    from incidentbook.core.events.model import Event, encode_sorted
    from incidentbook.core.events.store import stream_events

    def native(fp: str, **over: Any) -> NativeAlert:
        return parse_native(json.loads(_native(fp, **over)))

    svc = services.alerts
    svc.ingest(ctx, [native("a"), native("b")])
    svc.ingest(ctx, [native("a"), native("b", summary="disk at 97%")])
    with services.db.write() as session:  # the one-alert path
        assert svc.ingest_in(session, ctx, native("a", annotations={"runbook": "rb-1"})) == (
            "repeated"
        )
    with services.db.read() as session:
        a_events = stream_events(session, "alert:a")
        b_events = stream_events(session, "alert:b")
    assert [e.type for e in a_events] == ["alert.fired", "alert.repeated", "alert.repeated"]
    assert a_events[1].data == {"alert": {"name": "disk_full"}}
    assert a_events[2].data == {"alert": {"name": "disk_full", "annotations": {"runbook": "rb-1"}}}
    assert b_events[1].data == {"alert": {"name": "disk_full", "summary": "disk at 97%"}}
    a, b = svc.get("a"), svc.get("b")
    assert a.occurrences == 3 and a.annotations == {"runbook": "rb-1"} and a.summary == "disk"
    assert b.summary == "disk at 97%" and b.last_seen == b_events[1].recorded_at
    # an older full-payload repeat folds to the same state as the compact one
    full = Event(
        seq=b_events[1].seq, stream="alert:b", type=REPEATED,
        data={"alert": native("b", summary="disk at 97%").to_dict(), "group_key": "disk_full"},
        actor=ctx.actor, reason=None, correlation_id="c", recorded_at=b_events[1].recorded_at,
        idempotency_key=None,
    )  # fmt: skip
    assert apply(apply(None, b_events[0]), full) == derive(b_events)
    # a batch that changes labels writes the new ones (an unchanged repeat reuses the stored
    # JSON); verify re-derives every row from its events
    svc.ingest(ctx, [native("b", labels={"rack": "r2", "host": "b"}), native("a")])
    conn = sqlite3.connect(services.db.path)
    try:
        rows = dict(conn.execute("SELECT fingerprint, labels FROM alerts").fetchall())
    finally:
        conn.close()
    assert json.loads(rows["b"]) == {"host": "b", "rack": "r2"}
    assert json.loads(rows["a"]) == {"host": "a"}
    assert svc.get("b").labels == {"host": "b", "rack": "r2"} and svc.get("a").occurrences == 4
    _verify_ok(services)
    # the stored text of an unchanged repeat is written back as it was (not encoded again):
    # stored in another spelling, it stays; a fingerprint twice in one batch, its labels
    # changed and changed back, is encoded afresh each time
    conn = sqlite3.connect(services.db.path)
    try:
        conn.execute("UPDATE alerts SET labels = '{ \"host\": \"a\" }' WHERE fingerprint = 'a'")
        conn.commit()
        svc.ingest(ctx, [native("a"), native("b", labels={"host": "b2"}), native("b")])
        rows = dict(conn.execute("SELECT fingerprint, labels FROM alerts").fetchall())
    finally:
        conn.close()
    assert rows["a"] == '{ "host": "a" }'
    assert rows["b"] == encode_sorted({"host": "b"}) and svc.get("b").occurrences == 5
    _verify_ok(services)


def test_lock_retry_is_bounded() -> None:
    import sqlite3 as sq

    from sqlalchemy.exc import OperationalError

    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("BEGIN", {}, sq.OperationalError("database is locked"))
        return "done"

    assert with_lock_retry(flaky, base_delay=0.001) == "done" and len(calls) == 3

    def always_locked() -> None:
        raise OperationalError("BEGIN", {}, sq.OperationalError("database is locked"))

    with pytest.raises(OperationalError):
        with_lock_retry(always_locked, attempts=3, base_delay=0.001)

    def other_error() -> None:
        calls.append(1)
        raise OperationalError("SELECT", {}, sq.OperationalError("no such table: x"))

    calls.clear()
    with pytest.raises(OperationalError):
        with_lock_retry(other_error, base_delay=0.001)
    assert len(calls) == 1  # not a lock: no retry


def test_demo_step_is_idempotent(services: Services) -> None:
    from incidentbook.demo.alerts import demo_step
    from incidentbook.demo.model import DemoOptions, DemoReport

    first, second = DemoReport(), DemoReport()
    demo_step(services, DemoOptions(), first)
    events = _count(services, "SELECT count(*) FROM events")
    demo_step(services, DemoOptions(), second)
    assert first.lines == ["webhook alerts: 4 ingested (Alertmanager, PagerDuty), 0 kept"]
    assert second.lines == ["webhook alerts: 0 ingested (Alertmanager, PagerDuty), 4 kept"]
    assert _count(services, "SELECT count(*) FROM events") == events
    actors = {
        e.actor
        for a in services.alerts.list_alerts()
        for e in services.alerts.history(a.fingerprint)
    }
    assert actors == {"webhook:alertmanager", "webhook:pagerduty"}
    _verify_ok(services)


def test_show_lists_matching_runbooks(cli: Any, tmp_path: Path) -> None:
    runbook = cli.workspace / "runbooks" / "disk_full.md"
    runbook.parent.mkdir(exist_ok=True)
    runbook.write_text("# disk_full\n\n## Meaning\n\nThe disk is full.\n")
    path = tmp_path / "a.jsonl"
    path.write_text(_native("a") + "\n")
    cli.json("alerts", "ingest", str(path))
    shown = cli.json("alerts", "show", "a")
    assert [(r["runbook"], r["rule"]) for r in shown["runbooks"]] == [("disk_full", "name")]
    assert "runbook disk_full" in cli("alerts", "show", "a").stdout


def test_ingest_lines_reports_progress_after_each_commit(services: Services, ctx: Context) -> None:
    lines = [_native(f"p{i}") for i in range(25)]
    seen: list[int] = []
    report = services.alerts.ingest_lines(
        ctx, lambda: iter(lines), "native", batch_size=10, progress=seen.append
    )
    assert seen == [10, 20, 25] and report.result.counts["new"] == 25
