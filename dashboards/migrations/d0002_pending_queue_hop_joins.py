"""pending queue-hop joins

Revision ID: d0002
Revises: d0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vitals.kernel.db


revision = "d0002"
down_revision = "d0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dashboard_edge_pending",
        sa.Column("trace_id", sa.String(length=32), nullable=False),
        sa.Column("span_id", sa.String(length=16), nullable=False),
        sa.Column("link_trace_id", sa.String(length=32), nullable=False),
        sa.Column("link_span_id", sa.String(length=16), nullable=False),
        sa.Column("received_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "trace_id", "span_id", "link_trace_id", "link_span_id", name=op.f("pk_dashboard_edge_pending")
        ),
    )


def downgrade() -> None:
    op.drop_table("dashboard_edge_pending")
