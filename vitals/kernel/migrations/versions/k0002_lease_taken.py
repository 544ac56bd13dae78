"""leases: when the current holder took the lease (for /readyz and /metrics)

Revision ID: k0002
Revises: k0001
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "k0002"
down_revision = "k0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("vitals_leases") as batch_op:
        batch_op.add_column(sa.Column("taken_unix_nano", sa.BigInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("vitals_leases") as batch_op:
        batch_op.drop_column("taken_unix_nano")
