"""Schema for issue 4 (alert receiver): a log of accepted ingest requests.

Every request the receiver accepts (an Alertmanager notification, a PagerDuty event) and every
Alertmanager payload ingested from a file leaves one row here, written in the same transaction
as the alerts it carried, so ``truncatedAlerts`` reported by Alertmanager stays visible.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_ingest_requests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("received_at", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("correlation_id", sa.Text, nullable=False),
        sa.Column("group_key", sa.Text),
        sa.Column("receiver", sa.Text),
        sa.Column("alerts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("truncated_alerts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("outcome", sa.Text, nullable=False, server_default="{}"),
    )
    op.create_index("ix_alert_ingest_requests_received", "alert_ingest_requests", ["received_at"])
    op.create_index(
        "ix_alert_ingest_requests_truncated", "alert_ingest_requests", ["truncated_alerts"]
    )
