"""sla evaluations

Revision ID: s0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vitals.kernel.db


revision = "s0001"
down_revision = None
branch_labels = ("slas",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sla_evaluations",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("sla_id", sa.String(length=128), nullable=False),
        sa.Column("slice", sa.Text(), nullable=False),
        sa.Column("evaluated_at_unix_nano", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("priority", sa.String(length=2), nullable=False),
        sa.Column("domain", sa.Text(), nullable=False),
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("window_s", sa.Float(), nullable=False),
        sa.Column("window_label", sa.Text(), nullable=False),
        sa.Column("objective", sa.Float(), nullable=False),
        sa.Column("good", sa.Float(), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
        sa.Column("sli", sa.Float(), nullable=True),
        sa.Column("budget_remaining", sa.Float(), nullable=True),
        sa.Column("time_to_exhaustion_s", sa.Float(), nullable=True),
        sa.Column("at_risk_amount", sa.Float(), nullable=True),
        sa.Column("burn_rates", vitals.kernel.db.JsonDocument(), nullable=False),
        sa.Column("labels", vitals.kernel.db.JsonDocument(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_evaluations")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("sla_evaluations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sla_evaluations_evaluated_at_unix_nano"), ["evaluated_at_unix_nano"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_sla_evaluations_sla_id_slice_evaluated_at_unix_nano"),
            ["sla_id", "slice", "evaluated_at_unix_nano"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("sla_evaluations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sla_evaluations_sla_id_slice_evaluated_at_unix_nano"))
        batch_op.drop_index(batch_op.f("ix_sla_evaluations_evaluated_at_unix_nano"))

    op.drop_table("sla_evaluations")
