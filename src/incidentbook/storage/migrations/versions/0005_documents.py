"""Schema for issue 6 (postmortems, pre-mortems, action items).

``documents`` is the registry of postmortems and pre-mortems (including each pre-mortem's risk
register as JSON), ``action_items`` the tracked action items. Both are projections of events on
the streams ``document:<id>`` and ``action:<key>``; ``verify`` re-derives them.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "documents",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("incident_id", sa.Text),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("services", sa.Text, nullable=False, server_default="[]"),
        sa.Column("tags", sa.Text, nullable=False, server_default="[]"),
        sa.Column("risks", sa.Text, nullable=False, server_default="[]"),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Text, nullable=False),
        sa.Column("last_seq", sa.Integer, nullable=False),
    )
    op.create_index("ix_documents_incident", "documents", ["incident_id"])
    op.create_index("ix_documents_kind", "documents", ["kind"])

    op.create_table(
        "action_items",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("doc_id", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("type", sa.Text),
        sa.Column("owner", sa.Text),
        sa.Column("due", sa.Text),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("opened_at", sa.Text, nullable=False),
        sa.Column("closed_at", sa.Text),
        sa.Column("updated_at", sa.Text, nullable=False),
        sa.Column("last_seq", sa.Integer, nullable=False),
    )
    op.create_index("ix_action_items_doc", "action_items", ["doc_id"])
    op.create_index("ix_action_items_status_due", "action_items", ["status", "due"])
