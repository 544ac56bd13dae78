"""evaluation interface and breach start

An evaluation names the interface its SLA watches (alerts group one broken interface into one
incident) and the first minute of the breach under way, computed from the rollups so that a
back-filled store dates a breach as it happened. Both are nullable: rows written before stay
readable and read as "none".

Revision ID: s0004
Revises: s0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "s0004"
down_revision = "s0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sla_evaluations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("interface", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("breach_started_unix_nano", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sla_evaluations", schema=None) as batch_op:
        batch_op.drop_column("breach_started_unix_nano")
        batch_op.drop_column("interface")
