"""Reconcile runs keep their own summary, so the findings of old runs can be let go.

``summary`` is a complete run's per-check counts (found, new, resolved), written when the run
completes (for runs from before this revision: when they are pruned). ``pruned_at`` marks a
run whose findings, checkpoints, scope and resolutions were deleted once a newer run of the
same ledger had superseded it; its alerts and their events stay, as always.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("reconcile_runs", sa.Column("summary", sa.Text))
    op.add_column("reconcile_runs", sa.Column("pruned_at", sa.Text))
