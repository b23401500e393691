"""Change events (DESIGN §5): deploys, config changes and migrations that senders report
(PagerDuty change events), kept as deploy context for incidents.

``changes``: one row per distinct change. ``change_id`` is the dedup key, the SHA-256 (first 32
hex digits) of the event's canonical JSON without its ``routing_key``, so a replayed identical
event is one change. ``at`` is the sender's timestamp (else the time it was received), indexed
for "the changes before this incident". The table is append-only (triggers refuse UPDATE and
DELETE); the ``change.recorded`` event in the log carries the same values.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "changes",
        sa.Column("change_id", sa.Text, primary_key=True),
        sa.Column("at", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("custom_details", sa.Text, nullable=False, server_default="{}"),
        sa.Column("links", sa.Text, nullable=False, server_default="[]"),
        sa.Column("received_at", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("correlation_id", sa.Text, nullable=False),
    )
    op.create_index("ix_changes_at", "changes", ["at"])
    op.execute(
        "CREATE TRIGGER changes_no_update BEFORE UPDATE ON changes "
        "BEGIN SELECT RAISE(ABORT, 'changes is append-only: UPDATE refused'); END"
    )
    op.execute(
        "CREATE TRIGGER changes_no_delete BEFORE DELETE ON changes "
        "BEGIN SELECT RAISE(ABORT, 'changes is append-only: DELETE refused'); END"
    )
