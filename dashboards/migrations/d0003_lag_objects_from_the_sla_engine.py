"""lag objects from the SLA engine

The dashboard no longer folds its own copy of the business objects of lag SLAs: the SLA engine
writes them (``sla_lag_objects``) and the dashboard reads them through ``slas.lag_history``.
The table and the ``lag`` rollup family's state row go.

Revision ID: d0003
Revises: d0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "d0003"
down_revision = "d0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dashboard_lag_objects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dashboard_lag_objects_pair_start_ns_end_ns_amount"))
        batch_op.drop_index(batch_op.f("ix_dashboard_lag_objects_pair_end_ns_start_ns"))
    op.drop_table("dashboard_lag_objects")
    op.execute("DELETE FROM dashboard_rollup_state WHERE family = 'lag'")


def downgrade() -> None:
    # The table comes back empty; the older dashboard refills it from span_keys on its next refresh.
    op.create_table(
        "dashboard_lag_objects",
        sa.Column("pair", sa.String(length=128), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("start_ns", sa.BigInteger(), nullable=True),
        sa.Column("end_ns", sa.BigInteger(), nullable=True),
        sa.Column("amount", sa.Float(), nullable=True),
        sa.Column("facility", sa.Text(), nullable=True),
        sa.Column("service_line", sa.Text(), nullable=True),
        sa.Column("start_trace_id", sa.String(length=32), nullable=True),
        sa.Column("end_trace_id", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("pair", "key_hash", name=op.f("pk_dashboard_lag_objects")),
    )
    with op.batch_alter_table("dashboard_lag_objects", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dashboard_lag_objects_pair_end_ns_start_ns"),
            ["pair", "end_ns", "start_ns"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_dashboard_lag_objects_pair_start_ns_end_ns_amount"),
            ["pair", "start_ns", "end_ns", "amount"],
            unique=False,
        )
