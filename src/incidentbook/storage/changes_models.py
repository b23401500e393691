"""SQLModel mirror of the table migration 0008 creates (the migration owns the schema)."""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class ChangeRow(SQLModel, table=True):
    __tablename__ = "changes"

    change_id: str = Field(primary_key=True)
    at: str
    summary: str
    source: str
    custom_details: str = "{}"
    links: str = "[]"
    received_at: str
    actor: str
    correlation_id: str
