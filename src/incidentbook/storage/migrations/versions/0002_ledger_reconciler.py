"""Schema for issue 3: reconciler runs, per-batch checkpoints, staged findings, scope, resolutions.

A run scans the ledger in batches; each batch commits its findings together with its checkpoint
row, so a run killed at any moment resumes after its last committed batch. Findings become alerts
in a publish phase (receipt keys make a replay a no-op), then alerts whose finding is gone are
resolved.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reconcile_runs",
        sa.Column("run_id", sa.Text, primary_key=True),
        sa.Column("mode", sa.Text, nullable=False),
        sa.Column("ledger", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("phase", sa.Text, nullable=False),
        sa.Column("cursor", sa.Text),
        sa.Column("batch_size", sa.Integer, nullable=False),
        sa.Column("options", sa.Text, nullable=False, server_default="{}"),
        sa.Column("watermark", sa.Text, nullable=False, server_default="{}"),
        sa.Column("batches", sa.Integer, nullable=False, server_default="0"),
        sa.Column("started_at", sa.Text, nullable=False),
        sa.Column("finished_at", sa.Text),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("correlation_id", sa.Text, nullable=False),
    )
    op.create_index("ix_reconcile_runs_status", "reconcile_runs", ["status", "started_at"])
    op.create_table(
        "reconcile_checkpoints",
        sa.Column("run_id", sa.Text, primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("phase", sa.Text, nullable=False),
        sa.Column("lo", sa.Text),
        sa.Column("hi", sa.Text),
        sa.Column("items", sa.Integer, nullable=False, server_default="0"),
        sa.Column("findings", sa.Integer, nullable=False, server_default="0"),
        sa.Column("committed_at", sa.Text, nullable=False),
    )
    op.create_table(
        "reconcile_findings",
        sa.Column("run_id", sa.Text, primary_key=True),
        sa.Column("fingerprint", sa.Text, primary_key=True),
        sa.Column("check_name", sa.Text, nullable=False),
        sa.Column("account_id", sa.Text, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("entry_id", sa.BigInteger),
        sa.Column("delta_minor", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("details", sa.Text, nullable=False, server_default="{}"),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("outcome", sa.Text),
    )
    op.create_index("ix_reconcile_findings_check", "reconcile_findings", ["run_id", "check_name"])
    op.create_table(
        "reconcile_scope",
        sa.Column("run_id", sa.Text, primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("account_id", sa.Text, nullable=False),
    )
    op.create_table(
        "reconcile_resolved",
        sa.Column("run_id", sa.Text, primary_key=True),
        sa.Column("fingerprint", sa.Text, primary_key=True),
        sa.Column("check_name", sa.Text, nullable=False),
        sa.Column("account_id", sa.Text, nullable=False),
    )
