"""collector_state table; span_keys: key_hash index instead of the unique constraint, (key_name, hc_stage, event time) index; metric_points.is_monotonic

Revision ID: c0002
Revises: c0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vitals.kernel.db


revision = "c0002"
down_revision = "c0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "collector_state",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_collector_state")),
    )
    with op.batch_alter_table("metric_points", schema=None) as batch_op:
        batch_op.add_column(sa.Column("is_monotonic", sa.Boolean(), nullable=True))

    with op.batch_alter_table("span_keys", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("uq_span_keys_key_hash_key_name_trace_id_span_id"), type_="unique"
        )
        batch_op.create_index(batch_op.f("ix_span_keys_key_hash"), ["key_hash"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_span_keys_key_name_hc_stage_event_time_unix_nano"),
            ["key_name", "hc_stage", "event_time_unix_nano"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("span_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_span_keys_key_name_hc_stage_event_time_unix_nano"))
        batch_op.drop_index(batch_op.f("ix_span_keys_key_hash"))
        batch_op.create_unique_constraint(
            batch_op.f("uq_span_keys_key_hash_key_name_trace_id_span_id"),
            ["key_hash", "key_name", "trace_id", "span_id"],
        )

    with op.batch_alter_table("metric_points", schema=None) as batch_op:
        batch_op.drop_column("is_monotonic")

    op.drop_table("collector_state")
