"""dashboard rollups

Revision ID: d0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vitals.kernel.db


revision = "d0001"
down_revision = None
branch_labels = ("dashboards",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dashboard_business_rollups",
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("stage", sa.Text(), nullable=False),
        sa.Column("facility", sa.Text(), nullable=False),
        sa.Column("service_line", sa.Text(), nullable=False),
        sa.Column("denial_code", sa.Text(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("error_count", sa.BigInteger(), nullable=False),
        sa.Column("amount_sum", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "bucket",
            "stage",
            "facility",
            "service_line",
            "denial_code",
            name=op.f("pk_dashboard_business_rollups"),
        ),
    )
    with op.batch_alter_table("dashboard_business_rollups", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dashboard_business_rollups_stage_bucket"), ["stage", "bucket"], unique=False
        )

    op.create_table(
        "dashboard_error_groups",
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("service_name", sa.Text(), nullable=False),
        sa.Column("span_name", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_ns", sa.BigInteger(), nullable=False),
        sa.Column("example_trace_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint(
            "bucket", "service_name", "span_name", "message", name=op.f("pk_dashboard_error_groups")
        ),
    )
    op.create_table(
        "dashboard_error_spans",
        sa.Column("trace_id", sa.String(length=32), nullable=False),
        sa.Column("span_id", sa.String(length=16), nullable=False),
        sa.Column("start_ns", sa.BigInteger(), nullable=False),
        sa.Column("service_name", sa.Text(), nullable=False),
        sa.Column("span_name", sa.Text(), nullable=False),
        sa.Column("facility", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("trace_id", "span_id", name=op.f("pk_dashboard_error_spans")),
    )
    with op.batch_alter_table("dashboard_error_spans", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dashboard_error_spans_service_name_start_ns"),
            ["service_name", "start_ns"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_dashboard_error_spans_span_name_start_ns"), ["span_name", "start_ns"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_dashboard_error_spans_start_ns"), ["start_ns"], unique=False)

    op.create_table(
        "dashboard_feeds",
        sa.Column("interface", sa.Text(), nullable=False),
        sa.Column("service_name", sa.Text(), nullable=False),
        sa.Column("facility", sa.Text(), nullable=False),
        sa.Column("first_seen_ns", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_ns", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("interface", "service_name", "facility", name=op.f("pk_dashboard_feeds")),
    )
    op.create_table(
        "dashboard_lag_objects",
        sa.Column("pair", sa.String(length=128), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("start_ns", sa.BigInteger(), nullable=True),
        sa.Column("end_ns", sa.BigInteger(), nullable=True),
        sa.Column("amount", sa.Float(), nullable=True),
        sa.Column("facility", sa.Text(), nullable=True),
        sa.Column("service_line", sa.Text(), nullable=True),
        sa.Column("start_trace_id", sa.String(length=32), nullable=True),
        sa.Column("end_trace_id", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("pair", "key_hash", name=op.f("pk_dashboard_lag_objects")),
    )
    with op.batch_alter_table("dashboard_lag_objects", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dashboard_lag_objects_pair_end_ns_start_ns"),
            ["pair", "end_ns", "start_ns"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_dashboard_lag_objects_pair_start_ns_end_ns_amount"),
            ["pair", "start_ns", "end_ns", "amount"],
            unique=False,
        )

    op.create_table(
        "dashboard_metric_rollups",
        sa.Column("resolution", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("queue", sa.Text(), nullable=False),
        sa.Column("samples", sa.BigInteger(), nullable=False),
        sa.Column("value_sum", sa.Float(), nullable=False),
        sa.Column("value_min", sa.Float(), nullable=False),
        sa.Column("value_max", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "resolution", "bucket", "name", "queue", name=op.f("pk_dashboard_metric_rollups")
        ),
    )
    op.create_table(
        "dashboard_rollup_state",
        sa.Column("family", sa.String(length=32), nullable=False),
        sa.Column("watermark", sa.BigInteger(), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("updated_at_unix_nano", sa.BigInteger(), nullable=False),
        sa.Column("lease_owner", sa.Text(), nullable=False),
        sa.Column("lease_until_unix_nano", sa.BigInteger(), nullable=False),
        sa.Column("seen_max", sa.BigInteger(), nullable=False),
        sa.Column("seen_at_unix_nano", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("family", name=op.f("pk_dashboard_rollup_state")),
    )
    op.create_table(
        "dashboard_service_edges",
        sa.Column("resolution", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("edge_kind", sa.String(length=8), nullable=False),
        sa.Column("via", sa.Text(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("error_count", sa.BigInteger(), nullable=False),
        sa.Column("latency_sum_ns", sa.BigInteger(), nullable=False),
        sa.Column("latency_max_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "resolution",
            "bucket",
            "source",
            "target",
            "edge_kind",
            "via",
            name=op.f("pk_dashboard_service_edges"),
        ),
    )
    op.create_table(
        "dashboard_span_rollups",
        sa.Column("resolution", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("service_name", sa.Text(), nullable=False),
        sa.Column("span_name", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("interface", sa.Text(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("error_count", sa.BigInteger(), nullable=False),
        sa.Column("duration_sum_ns", sa.BigInteger(), nullable=False),
        sa.Column("duration_max_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "resolution",
            "bucket",
            "service_name",
            "span_name",
            "kind",
            "interface",
            name=op.f("pk_dashboard_span_rollups"),
        ),
    )


def downgrade() -> None:
    op.drop_table("dashboard_span_rollups")
    op.drop_table("dashboard_service_edges")
    op.drop_table("dashboard_rollup_state")
    op.drop_table("dashboard_metric_rollups")
    with op.batch_alter_table("dashboard_lag_objects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dashboard_lag_objects_pair_start_ns_end_ns_amount"))
        batch_op.drop_index(batch_op.f("ix_dashboard_lag_objects_pair_end_ns_start_ns"))

    op.drop_table("dashboard_lag_objects")
    op.drop_table("dashboard_feeds")
    with op.batch_alter_table("dashboard_error_spans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dashboard_error_spans_start_ns"))
        batch_op.drop_index(batch_op.f("ix_dashboard_error_spans_span_name_start_ns"))
        batch_op.drop_index(batch_op.f("ix_dashboard_error_spans_service_name_start_ns"))

    op.drop_table("dashboard_error_spans")
    op.drop_table("dashboard_error_groups")
    with op.batch_alter_table("dashboard_business_rollups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dashboard_business_rollups_stage_bucket"))

    op.drop_table("dashboard_business_rollups")
