"""SQLModel table classes mirroring the schema that the migrations create.

The migrations, not these classes, own the schema (``create_all`` is never called); a test
compares the two so they cannot drift.
"""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class EventRow(SQLModel, table=True):
    __tablename__ = "events"

    seq: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(unique=True)
    stream: str
    type: str
    data: str = "{}"
    actor: str
    reason: str | None = None
    correlation_id: str
    recorded_at: str
    idempotency_key: str | None = Field(default=None, unique=True)
    # the hash chain (migration 0009; core.events.model.link_hash)
    prev_hash: str | None = None
    hash: str | None = None


class IncidentRow(SQLModel, table=True):
    __tablename__ = "incidents"

    id: str = Field(primary_key=True)
    number: int = Field(unique=True)
    title: str
    severity: str
    status: str
    source: str
    group_key: str | None = None
    opened_at: str
    opened_by: str
    acknowledged_at: str | None = None
    resolved_at: str | None = None
    updated_at: str
    notes_count: int = 0
    runbooks: str = "[]"
    alerts: str = "[]"
    last_seq: int


class AlertRow(SQLModel, table=True):
    __tablename__ = "alerts"

    fingerprint: str = Field(primary_key=True)
    source: str
    name: str
    status: str
    severity: str
    summary: str = ""
    labels: str = "{}"
    annotations: str = "{}"
    group_key: str
    starts_at: str
    ends_at: str | None = None
    first_seen: str
    last_seen: str
    occurrences: int = 1
    episodes: int = 1
    incident_id: str | None = None
    last_seq: int


class AlertReceiptRow(SQLModel, table=True):
    __tablename__ = "alert_receipts"

    receipt_key: str = Field(primary_key=True)
    fingerprint: str
    received_at: str


class OutboxRow(SQLModel, table=True):
    __tablename__ = "index_outbox"

    seq: int | None = Field(default=None, primary_key=True)
    doc_kind: str
    doc_id: str
    queued_at: str
