"""rollup state: a cursor instead of (seen_max, seen_at); the lease moves to vitals_leases

Revision ID: d0004
Revises: d0003
Create Date: 2026-12-03

Each family's state keeps the ids read above its watermark (``seen``, vitals.kernel.follow) in
place of the newest id observed and when; who refreshes a family is a lease in the kernel's
``vitals_leases`` (``dashboards.rollup.<family>``), so the lease columns go. The watermark stays:
the rollups carry on from where they were.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vitals.kernel.db


revision = "d0004"
down_revision = "d0003"
branch_labels = None
depends_on = ("k0001",)


def upgrade() -> None:
    with op.batch_alter_table("dashboard_rollup_state", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("seen", vitals.kernel.db.JsonDocument(), nullable=False, server_default="[]")
        )
        batch_op.drop_column("lease_owner")
        batch_op.drop_column("lease_until_unix_nano")
        batch_op.drop_column("seen_max")
        batch_op.drop_column("seen_at_unix_nano")


def downgrade() -> None:
    with op.batch_alter_table("dashboard_rollup_state", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("seen_at_unix_nano", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("seen_max", sa.BigInteger(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("lease_until_unix_nano", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("lease_owner", sa.Text(), nullable=False, server_default=""))
        batch_op.drop_column("seen")
