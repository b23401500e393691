"""SQLModel mirror of the tables migration 0003 creates (the migration owns the schema)."""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class IngestRequestRow(SQLModel, table=True):
    __tablename__ = "alert_ingest_requests"

    id: int | None = Field(default=None, primary_key=True)
    received_at: str
    source: str
    actor: str
    correlation_id: str
    group_key: str | None = None
    receiver: str | None = None
    alerts: int = 0
    truncated_alerts: int = 0
    outcome: str = "{}"
