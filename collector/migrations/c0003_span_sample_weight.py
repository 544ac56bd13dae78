"""spans.sample_weight: how many spans a stored span stands for (1 unless sampled)

Revision ID: c0003
Revises: c0002
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c0003"
down_revision = "c0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A constant default: PostgreSQL adds the column without rewriting the table, SQLite with
    # ALTER TABLE ADD COLUMN; existing spans stood for themselves, so 1 is right for them.
    with op.batch_alter_table("spans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sample_weight", sa.Integer(), server_default="1", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("spans", schema=None) as batch_op:
        batch_op.drop_column("sample_weight")
