"""Event-sourced incidents: lifecycle, idempotency, derivation."""

from __future__ import annotations

import threading

import pytest

from incidentbook.context import Context
from incidentbook.core.events.store import stream_events
from incidentbook.core.incidents import model as inc
from incidentbook.errors import ConflictError, NotFoundError, UsageError
from incidentbook.services import Services


def _event_count(services: Services) -> int:
    import sqlite3

    conn = sqlite3.connect(services.db.path)
    try:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
    finally:
        conn.close()


def test_full_lifecycle_is_derived_from_events(services: Services, ctx: Context) -> None:
    svc = services.incidents
    opened = svc.open(ctx, "Balances disagree with history", "error")
    iid = opened.incident.id
    assert iid == "INC-0001" and opened.changed
    svc.acknowledge(ctx, iid)
    svc.set_severity(ctx, iid, "critical")
    svc.add_note(ctx, iid, "4,812 accounts; webhook retries suspected")
    svc.link_runbook(ctx, iid, "balance_mismatch")
    svc.resolve(ctx, iid)
    state = svc.get(iid)
    assert (state.status, state.severity, state.notes_count, state.runbooks) == (
        "resolved",
        "critical",
        1,
        ("balance_mismatch",),
    )
    times = {e.type: e.recorded_at for e in svc.timeline(iid)}
    assert state.acknowledged_at == times["incident.acknowledged"]
    assert state.resolved_at == times["incident.resolved"] > state.acknowledged_at
    with services.db.read() as session:
        derived = inc.derive(stream_events(session, "incident:" + iid))
    assert derived == state
    reopened = svc.reopen(ctx, iid).incident
    assert (reopened.status, reopened.resolved_at, reopened.acknowledged_at) == ("open", None, None)


def test_ids_are_human_and_sequential(services: Services, ctx: Context) -> None:
    ids = [services.incidents.open(ctx, f"incident {n}").incident.id for n in range(3)]
    assert ids == ["INC-0001", "INC-0002", "INC-0003"]
    assert services.incidents.get("inc-2").id == "INC-0002"
    assert services.incidents.get("3").id == "INC-0003"


def test_open_with_the_same_key_returns_the_same_incident(services: Services, ctx: Context) -> None:
    first = services.incidents.open(ctx, "Duplicate postings", idempotency_key="k-1")
    again = services.incidents.open(ctx, "Duplicate postings", idempotency_key="k-1")
    assert again.incident.id == first.incident.id and not again.changed
    assert _event_count(services) == 1
    with pytest.raises(ConflictError, match="different title"):
        services.incidents.open(ctx, "Something else", idempotency_key="k-1")
    assert _event_count(services) == 1


def test_open_without_key_returns_the_unresolved_twin(services: Services, ctx: Context) -> None:
    first = services.incidents.open(ctx, "Ledger  writer down")
    twin = services.incidents.open(ctx, "Ledger writer down")
    assert twin.incident.id == first.incident.id and not twin.changed
    services.incidents.resolve(ctx, first.incident.id)
    later = services.incidents.open(ctx, "Ledger writer down")
    assert later.changed and later.incident.id == "INC-0002"


def test_repeated_transitions_record_nothing(services: Services, ctx: Context) -> None:
    iid = services.incidents.open(ctx, "x").incident.id
    services.incidents.acknowledge(ctx, iid)
    assert services.incidents.add_note(ctx, iid, "same note").changed
    before = _event_count(services)
    for _ in range(3):
        assert not services.incidents.acknowledge(ctx, iid).changed
        assert not services.incidents.add_note(ctx, iid, "same note").changed
    assert _event_count(services) == before
    assert not services.incidents.set_severity(ctx, iid, "error").changed
    assert not services.incidents.reopen(ctx, iid).changed
    services.incidents.resolve(ctx, iid)
    assert not services.incidents.resolve(ctx, iid).changed


def test_note_with_explicit_keys_can_repeat_text(services: Services, ctx: Context) -> None:
    iid = services.incidents.open(ctx, "x").incident.id
    services.incidents.add_note(ctx, iid, "still investigating", idempotency_key="a")
    services.incidents.add_note(ctx, iid, "still investigating", idempotency_key="b")
    services.incidents.add_note(ctx, iid, "still investigating", idempotency_key="b")
    assert services.incidents.get(iid).notes_count == 2


def test_acknowledging_a_resolved_incident_is_refused(services: Services, ctx: Context) -> None:
    iid = services.incidents.open(ctx, "x").incident.id
    services.incidents.resolve(ctx, iid)
    with pytest.raises(ConflictError, match="reopen it"):
        services.incidents.acknowledge(ctx, iid)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda s, c: s.incidents.open(c, "   "), UsageError),
        (lambda s, c: s.incidents.open(c, "t", "sev9"), UsageError),
        (lambda s, c: s.incidents.acknowledge(c, "INC-0042"), NotFoundError),
        (lambda s, c: s.incidents.acknowledge(c, "banana"), UsageError),
        (lambda s, c: s.incidents.add_note(c, "INC-0001", "  "), UsageError),
        (lambda s, c: s.incidents.set_severity(c, "INC-0001", "loud"), UsageError),
    ],
)
def test_bad_input_writes_nothing(
    services: Services, ctx: Context, call: object, error: type[Exception]
) -> None:
    services.incidents.open(ctx, "existing")
    before = _event_count(services)
    with pytest.raises(error):
        call(services, ctx)  # type: ignore[operator]
    assert _event_count(services) == before


def test_concurrent_writers_allocate_distinct_ids(services: Services, ctx: Context) -> None:
    """Writers in several threads (own connections each) never collide on INC numbers."""
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for k in range(5):
                services.incidents.open(ctx, f"thread {n} incident {k}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    states = services.incidents.list_incidents()
    assert sorted(s.number for s in states) == list(range(1, 21))
