"""Append-only events; incident and alert projections; the search outbox.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.Text, nullable=False, unique=True),
        sa.Column("stream", sa.Text, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("data", sa.Text, nullable=False, server_default="{}"),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("correlation_id", sa.Text, nullable=False),
        sa.Column("recorded_at", sa.Text, nullable=False),
        sa.Column("idempotency_key", sa.Text, unique=True),
    )
    op.create_index("ix_events_stream_seq", "events", ["stream", "seq"])
    op.create_index("ix_events_correlation", "events", ["correlation_id"])
    # The audit trail is append-only, enforced by the database, not by politeness.
    op.execute(
        "CREATE TRIGGER events_no_update BEFORE UPDATE ON events "
        "BEGIN SELECT RAISE(ABORT, 'events are append-only: UPDATE refused'); END"
    )
    op.execute(
        "CREATE TRIGGER events_no_delete BEFORE DELETE ON events "
        "BEGIN SELECT RAISE(ABORT, 'events are append-only: DELETE refused'); END"
    )

    op.create_table(
        "incidents",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("number", sa.Integer, nullable=False, unique=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("severity", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("group_key", sa.Text),
        sa.Column("opened_at", sa.Text, nullable=False),
        sa.Column("opened_by", sa.Text, nullable=False),
        sa.Column("acknowledged_at", sa.Text),
        sa.Column("resolved_at", sa.Text),
        sa.Column("updated_at", sa.Text, nullable=False),
        sa.Column("notes_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("runbooks", sa.Text, nullable=False, server_default="[]"),
        sa.Column("alerts", sa.Text, nullable=False, server_default="[]"),
        sa.Column("last_seq", sa.Integer, nullable=False),
    )
    op.create_index("ix_incidents_status", "incidents", ["status"])

    op.create_table(
        "alerts",
        sa.Column("fingerprint", sa.Text, primary_key=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("severity", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False, server_default=""),
        sa.Column("labels", sa.Text, nullable=False, server_default="{}"),
        sa.Column("annotations", sa.Text, nullable=False, server_default="{}"),
        sa.Column("group_key", sa.Text, nullable=False),
        sa.Column("starts_at", sa.Text, nullable=False),
        sa.Column("ends_at", sa.Text),
        sa.Column("first_seen", sa.Text, nullable=False),
        sa.Column("last_seen", sa.Text, nullable=False),
        sa.Column("occurrences", sa.Integer, nullable=False, server_default="1"),
        sa.Column("episodes", sa.Integer, nullable=False, server_default="1"),
        sa.Column("incident_id", sa.Text),
        sa.Column("last_seq", sa.Integer, nullable=False),
    )
    op.create_index("ix_alerts_status_group", "alerts", ["status", "group_key"])

    # Receipts make a replayed input (the same file line, the same reconciler batch) a no-op.
    op.create_table(
        "alert_receipts",
        sa.Column("receipt_key", sa.Text, primary_key=True),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("received_at", sa.Text, nullable=False),
    )

    # The search outbox: queued in the same transaction as the change it indexes.
    op.create_table(
        "index_outbox",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("doc_kind", sa.Text, nullable=False),
        sa.Column("doc_id", sa.Text, nullable=False),
        sa.Column("queued_at", sa.Text, nullable=False),
    )
