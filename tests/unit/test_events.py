"""The audit trail is append-only, and the database itself enforces it."""

from __future__ import annotations

import sqlite3

import pytest

from incidentbook.context import Context
from incidentbook.services import Services


def test_update_and_delete_on_events_are_refused_by_sqlite(
    services: Services, ctx: Context
) -> None:
    services.incidents.open(ctx, "Balances disagree", "critical")
    conn = sqlite3.connect(services.db.path)
    try:
        (before,) = conn.execute("SELECT count(*) FROM events").fetchone()
        assert before == 1
        with pytest.raises(sqlite3.IntegrityError, match="append-only: UPDATE refused"):
            conn.execute("UPDATE events SET actor = 'user:mallory'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only: DELETE refused"):
            conn.execute("DELETE FROM events")
        conn.commit()
        rows = conn.execute("SELECT count(*), min(actor) FROM events").fetchone()
        assert rows == (1, "user:test")
    finally:
        conn.close()


def test_every_event_is_attributed(services: Services, ctx: Context) -> None:
    opened = services.incidents.open(ctx.because("pager went off"), "Fees doubled")
    services.incidents.acknowledge(ctx.as_actor("user:ana").because("mine"), opened.incident.id)
    conn = sqlite3.connect(services.db.path)
    rows = conn.execute(
        "SELECT type, actor, reason, correlation_id, recorded_at FROM events ORDER BY seq"
    ).fetchall()
    conn.close()
    assert [r[:4] for r in rows] == [
        ("incident.opened", "user:test", "pager went off", "corr-test"),
        ("incident.acknowledged", "user:ana", "mine", "corr-test"),
    ]
    # UTC, from the injected clock, in recording order.
    assert rows[0][4] == "2026-10-17T02:14:00.000000Z" < rows[1][4]


def test_state_database_runs_in_wal_mode_with_busy_timeout(services: Services) -> None:
    from sqlalchemy import text

    with services.db.read() as session:
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert int(session.execute(text("PRAGMA busy_timeout")).scalar() or 0) >= 5000


def test_event_ids_are_uuid7_in_recording_order(
    services: Services, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ids ordered by the millisecond keep the unique event_id index append-only, like the
    table's seq: with a clock that moves 1 ms per reading, ids sort exactly as seq does."""
    import time
    import uuid

    from incidentbook.core.alerts.model import NativeAlert

    ticks = iter(range(1_790_000_000_000, 1_790_000_001_000))
    monkeypatch.setattr(time, "time_ns", lambda: next(ticks) * 1_000_000)
    services.incidents.open(ctx, "Balances disagree", "critical")
    alert = NativeAlert(
        source="test", name="disk_full", fingerprint="fp", status="firing", severity="error",
        summary="disk", labels={}, annotations={}, starts_at="2026-10-17T02:00:00Z",
    )  # fmt: skip
    services.alerts.ingest(ctx, [alert, alert])  # the batch path writes its own rows
    conn = sqlite3.connect(services.db.path)
    try:
        ids = [r[0] for r in conn.execute("SELECT event_id FROM events ORDER BY seq")]
    finally:
        conn.close()
    assert len(ids) == 3 and len(set(ids)) == 3
    parsed = [uuid.UUID(hex=i) for i in ids]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in parsed)
    stamps = [u.int >> 80 for u in parsed]  # Unix milliseconds, from the clock above
    assert stamps == sorted(set(stamps)) and stamps[0] >= 1_790_000_000_000
    assert ids == sorted(ids)  # the index order is the recording order
