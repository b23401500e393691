"""SQLModel classes for the tables of migration 0005 (documents registry, action items)."""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class DocumentRow(SQLModel, table=True):
    __tablename__ = "documents"

    id: str = Field(primary_key=True)
    kind: str
    path: str
    title: str
    incident_id: str | None = None
    status: str
    services: str = "[]"
    tags: str = "[]"
    risks: str = "[]"
    sha256: str
    created_at: str
    updated_at: str
    last_seq: int


class ActionItemRow(SQLModel, table=True):
    __tablename__ = "action_items"

    key: str = Field(primary_key=True)
    doc_id: str
    text: str
    type: str | None = None
    owner: str | None = None
    due: str | None = None
    status: str
    opened_at: str
    closed_at: str | None = None
    updated_at: str
    last_seq: int
