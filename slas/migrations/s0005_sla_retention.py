"""sla retention progress

Evaluations older than the full-resolution window are thinned to one per hour per SLA and slice
(plus every status change and breach start, ``slas.downsample``); ``sla_retention`` remembers how
far, so each pass reads only the hours that crossed the window since the last one.

Revision ID: s0005
Revises: s0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "s0005"
down_revision = "s0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sla_retention",
        sa.Column("job", sa.String(length=32), nullable=False),
        sa.Column("done_unix_nano", sa.BigInteger(), nullable=False),
        sa.Column("updated_at_unix_nano", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("job", name=op.f("pk_sla_retention")),
    )


def downgrade() -> None:
    op.drop_table("sla_retention")
