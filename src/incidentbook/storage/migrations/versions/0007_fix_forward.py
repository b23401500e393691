"""Fix forward and evidence (DESIGN §4): correction plans, their applies, and evidence frozen at
detection.

``fix_plans``: one immutable, hashed plan per row (``body`` is its canonical JSON, ``sha256``
the hash of exactly those bytes). ``fix_applies``: one apply per plan, with the batch size it
started with, so a resumed apply cuts the same batches. ``fix_batches``: a checkpoint per
applied batch, written after the batch's ledger transaction committed; the ledger stays the
truth (a batch committed without its checkpoint is found applied again on resume).

``evidence_accounts``: per incident and account, the ledger's account row and entries as
canonical JSON with their SHA-256, frozen once. ``evidence_sets``: each freeze that added
accounts records the hash over every account frozen so far. Four tables are append-only
(triggers refuse UPDATE and DELETE); ``fix_applies`` is not, its status moves forward.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

APPEND_ONLY = ("fix_plans", "fix_batches", "evidence_accounts", "evidence_sets")


def upgrade() -> None:
    op.create_table(
        "fix_plans",
        sa.Column("plan_id", sa.Text, primary_key=True),
        sa.Column("number", sa.Integer, nullable=False, unique=True),
        sa.Column("incident_id", sa.Text, nullable=False),
        sa.Column("ledger", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("accounts", sa.Integer, nullable=False),
        sa.Column("reversals", sa.Integer, nullable=False),
    )
    op.create_index("ix_fix_plans_incident", "fix_plans", ["incident_id"])
    op.create_table(
        "fix_applies",
        sa.Column("plan_id", sa.Text, primary_key=True),
        sa.Column("ledger", sa.Text, nullable=False),
        sa.Column("batch_size", sa.Integer, nullable=False),
        sa.Column("started_at", sa.Text, nullable=False),
        sa.Column("started_by", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("finished_at", sa.Text),
    )
    op.create_table(
        "fix_batches",
        sa.Column("plan_id", sa.Text, primary_key=True),
        sa.Column("batch_no", sa.Integer, primary_key=True),
        sa.Column("applied_at", sa.Text, nullable=False),
        sa.Column("accounts", sa.Integer, nullable=False),
        sa.Column("corrected", sa.Integer, nullable=False),
        sa.Column("conflicts", sa.Integer, nullable=False),
        sa.Column("entries_written", sa.Integer, nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
    )
    op.create_table(
        "evidence_accounts",
        sa.Column("incident_id", sa.Text, primary_key=True),
        sa.Column("account_id", sa.Text, primary_key=True),
        sa.Column("frozen_at", sa.Text, nullable=False),
        sa.Column("ledger", sa.Text, nullable=False),
        sa.Column("currency", sa.Text),
        sa.Column("balance_minor", sa.BigInteger),
        sa.Column("entries", sa.Integer, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_table(
        "evidence_sets",
        sa.Column("incident_id", sa.Text, primary_key=True),
        sa.Column("number", sa.Integer, primary_key=True),
        sa.Column("frozen_at", sa.Text, nullable=False),
        sa.Column("accounts", sa.Integer, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),
    )
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: UPDATE refused'); END"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: DELETE refused'); END"
        )
