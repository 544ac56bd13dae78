"""sla engine state

Revision ID: s0002
Revises: s0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vitals.kernel.db


revision = "s0002"
down_revision = "s0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sla_cursors",
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("watermark", sa.BigInteger(), nullable=False),
        sa.Column("seen", vitals.kernel.db.JsonDocument(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("updated_at_unix_nano", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_sla_cursors")),
    )
    op.create_table(
        "sla_definitions",
        sa.Column("sla_id", sa.String(length=128), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("spans_todo", vitals.kernel.db.JsonDocument(), nullable=False),
        sa.Column("points_todo", vitals.kernel.db.JsonDocument(), nullable=False),
        sa.Column("definition", vitals.kernel.db.JsonDocument(), nullable=False),
        sa.Column("registered_at_unix_nano", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("sla_id", name=op.f("pk_sla_definitions")),
    )
    op.create_table(
        "sla_lag_objects",
        sa.Column("sla_id", sa.String(length=128), nullable=False),
        sa.Column("key_hash", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("start_unix_nano", sa.BigInteger(), nullable=True),
        sa.Column("end_unix_nano", sa.BigInteger(), nullable=True),
        sa.Column("deadline_unix_nano", sa.BigInteger(), nullable=True),
        sa.Column("slice", sa.Text(), nullable=False),
        sa.Column("labels", vitals.kernel.db.JsonDocument(), nullable=False),
        sa.Column("amount", sa.Float(), nullable=True),
        sa.Column("counted_slice", sa.Text(), nullable=True),
        sa.Column("counted_minute_unix_nano", sa.BigInteger(), nullable=True),
        sa.Column("counted_amount", sa.Float(), nullable=True),
        sa.Column("expires_unix_nano", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("sla_id", "key_hash", name=op.f("pk_sla_lag_objects")),
    )
    with op.batch_alter_table("sla_lag_objects", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sla_lag_objects_expires_unix_nano"), ["expires_unix_nano"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_sla_lag_objects_state_deadline_unix_nano"),
            ["state", "deadline_unix_nano"],
            unique=False,
        )

    op.create_table(
        "sla_minutes",
        sa.Column("sla_id", sa.String(length=128), nullable=False),
        sa.Column("slice", sa.Text(), nullable=False),
        sa.Column("minute_unix_nano", sa.BigInteger(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("bad", sa.BigInteger(), nullable=False),
        sa.Column("bad_amount", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("sla_id", "slice", "minute_unix_nano", name=op.f("pk_sla_minutes")),
    )
    op.create_table(
        "sla_series",
        sa.Column("sla_id", sa.String(length=128), nullable=False),
        sa.Column("slice", sa.Text(), nullable=False),
        sa.Column("labels", vitals.kernel.db.JsonDocument(), nullable=False),
        sa.Column("first_minute_unix_nano", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("sla_id", "slice", name=op.f("pk_sla_series")),
    )


def downgrade() -> None:
    op.drop_table("sla_series")
    op.drop_table("sla_minutes")
    with op.batch_alter_table("sla_lag_objects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sla_lag_objects_state_deadline_unix_nano"))
        batch_op.drop_index(batch_op.f("ix_sla_lag_objects_expires_unix_nano"))

    op.drop_table("sla_lag_objects")
    op.drop_table("sla_definitions")
    op.drop_table("sla_cursors")
