"""collector tables

Revision ID: c0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vitals.kernel.db

revision = "c0001"
down_revision = None
branch_labels = ("collector",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metric_points",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("series_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("unit", sa.Text(), nullable=True),
        sa.Column("service_name", sa.Text(), nullable=False),
        sa.Column("time_unix_nano", sa.BigInteger(), nullable=False),
        sa.Column("start_time_unix_nano", sa.BigInteger(), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("count", sa.BigInteger(), nullable=True),
        sa.Column("sum", sa.Float(), nullable=True),
        sa.Column("min", sa.Float(), nullable=True),
        sa.Column("max", sa.Float(), nullable=True),
        sa.Column("buckets", vitals.kernel.db.JsonDocument(), nullable=True),
        sa.Column("temporality", sa.String(length=12), nullable=True),
        sa.Column("attributes", vitals.kernel.db.JsonDocument(), nullable=False),
        sa.Column("resource_attributes", vitals.kernel.db.JsonDocument(), nullable=False),
        sa.Column("scope_name", sa.Text(), nullable=True),
        sa.Column("queue", sa.Text(), nullable=True),
        sa.Column("received_at_unix_nano", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metric_points")),
        sa.UniqueConstraint(
            "series_id", "time_unix_nano", name=op.f("uq_metric_points_series_id_time_unix_nano")
        ),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("metric_points", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_metric_points_name_time_unix_nano"), ["name", "time_unix_nano"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_metric_points_queue_name_time_unix_nano"),
            ["queue", "name", "time_unix_nano"],
            unique=False,
        )

    op.create_table(
        "span_keys",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("key_name", sa.String(length=64), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=False),
        sa.Column("span_id", sa.String(length=16), nullable=False),
        sa.Column("hc_stage", sa.Text(), nullable=True),
        sa.Column("event_time_unix_nano", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_span_keys")),
        sa.UniqueConstraint(
            "key_hash",
            "key_name",
            "trace_id",
            "span_id",
            name=op.f("uq_span_keys_key_hash_key_name_trace_id_span_id"),
        ),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "spans",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("trace_id", sa.String(length=32), nullable=False),
        sa.Column("span_id", sa.String(length=16), nullable=False),
        sa.Column("parent_span_id", sa.String(length=16), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("service_name", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("start_time_unix_nano", sa.BigInteger(), nullable=False),
        sa.Column("end_time_unix_nano", sa.BigInteger(), nullable=False),
        sa.Column("duration_ns", sa.BigInteger(), nullable=False),
        sa.Column("event_time_unix_nano", sa.BigInteger(), nullable=False),
        sa.Column("status_code", sa.String(length=8), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=True),
        sa.Column("attributes", vitals.kernel.db.JsonDocument(), nullable=False),
        sa.Column("resource_attributes", vitals.kernel.db.JsonDocument(), nullable=False),
        sa.Column("events", vitals.kernel.db.JsonDocument(), nullable=True),
        sa.Column("links", vitals.kernel.db.JsonDocument(), nullable=True),
        sa.Column("scope_name", sa.Text(), nullable=True),
        sa.Column("hc_workflow", sa.Text(), nullable=True),
        sa.Column("hc_stage", sa.Text(), nullable=True),
        sa.Column("hc_system", sa.Text(), nullable=True),
        sa.Column("hc_message_type", sa.Text(), nullable=True),
        sa.Column("hc_facility", sa.Text(), nullable=True),
        sa.Column("hc_service_line", sa.Text(), nullable=True),
        sa.Column("hc_amount", sa.Float(), nullable=True),
        sa.Column("hc_denial_code", sa.Text(), nullable=True),
        sa.Column("messaging_destination", sa.Text(), nullable=True),
        sa.Column("received_at_unix_nano", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spans")),
        sa.UniqueConstraint("trace_id", "span_id", name=op.f("uq_spans_trace_id_span_id")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("spans", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_spans_hc_stage_event_time_unix_nano"),
            ["hc_stage", "event_time_unix_nano"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_spans_service_name_start_time_unix_nano"),
            ["service_name", "start_time_unix_nano"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_spans_start_time_unix_nano"), ["start_time_unix_nano"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("spans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_spans_start_time_unix_nano"))
        batch_op.drop_index(batch_op.f("ix_spans_service_name_start_time_unix_nano"))
        batch_op.drop_index(batch_op.f("ix_spans_hc_stage_event_time_unix_nano"))

    op.drop_table("spans")
    op.drop_table("span_keys")
    with op.batch_alter_table("metric_points", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_metric_points_queue_name_time_unix_nano"))
        batch_op.drop_index(batch_op.f("ix_metric_points_name_time_unix_nano"))

    op.drop_table("metric_points")
