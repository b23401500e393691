"""Schema for issue 5 (search): file fingerprints and index state.

``search_files`` remembers, for every runbook and postmortem file, the size, mtime and content
hash that the search index last saw, so files edited outside the app are noticed and reindexed.
``search_state`` holds small facts about the derived index (last rebuild, its outbox watermark).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "search_files",
        sa.Column("path", sa.Text, primary_key=True),
        sa.Column("uid", sa.Text),
        sa.Column("mtime_ns", sa.Integer, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("indexed_at", sa.Text, nullable=False),
    )
    op.create_table(
        "search_state",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Text, nullable=False),
    )
