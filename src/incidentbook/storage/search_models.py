"""SQLModel mirror of the tables migration 0004 creates (the migration owns the schema)."""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class SearchFileRow(SQLModel, table=True):
    __tablename__ = "search_files"

    path: str = Field(primary_key=True)
    uid: str | None = None
    mtime_ns: int
    size: int
    sha256: str
    indexed_at: str


class SearchStateRow(SQLModel, table=True):
    __tablename__ = "search_state"

    key: str = Field(primary_key=True)
    value: str
    updated_at: str
