"""API analytics: per-minute and per-hour API rollups, their error signatures, the fold's cursor

Revision ID: n0001
Revises:
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vitals.kernel.db


revision = "n0001"
down_revision = None
branch_labels = ("analytics",)
depends_on = None


def _key() -> list[sa.Column[object]]:
    return [
        sa.Column("bucket_start_ns", sa.BigInteger(), nullable=False),
        sa.Column("width_s", sa.Integer(), nullable=False),
        sa.Column("service", sa.Text(), nullable=False),
        sa.Column("side", sa.String(length=8), nullable=False),
        sa.Column("route", sa.Text(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("interaction", sa.String(length=16), nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("consumer", sa.Text(), nullable=False),
    ]


_KEY = (
    "bucket_start_ns",
    "width_s",
    "service",
    "side",
    "route",
    "method",
    "interaction",
    "resource_type",
    "consumer",
)


def upgrade() -> None:
    op.create_table(
        "analytics_api_rollups",
        *_key(),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("errors_4xx", sa.BigInteger(), nullable=False),
        sa.Column("errors_5xx", sa.BigInteger(), nullable=False),
        sa.Column("errors_other", sa.BigInteger(), nullable=False),
        sa.Column("duration_sum_ns", sa.BigInteger(), nullable=False),
        sa.Column("histogram", vitals.kernel.db.JsonDocument(), nullable=False),
        sa.PrimaryKeyConstraint(*_KEY, name=op.f("pk_analytics_api_rollups")),
    )
    op.create_index(
        op.f("ix_analytics_api_rollups_width_s_bucket_start_ns"),
        "analytics_api_rollups",
        ["width_s", "bucket_start_ns"],
        unique=False,
    )
    op.create_table(
        "analytics_api_errors",
        *_key(),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("error_class", sa.String(length=8), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_ns", sa.BigInteger(), nullable=False),
        sa.Column("example_trace_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint(*_KEY, "signature", name=op.f("pk_analytics_api_errors")),
    )
    op.create_index(
        op.f("ix_analytics_api_errors_width_s_bucket_start_ns"),
        "analytics_api_errors",
        ["width_s", "bucket_start_ns"],
        unique=False,
    )
    op.create_table(
        "analytics_rollup_state",
        sa.Column("family", sa.String(length=32), nullable=False),
        sa.Column("watermark", sa.BigInteger(), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("updated_at_unix_nano", sa.BigInteger(), nullable=False),
        sa.Column("seen", vitals.kernel.db.JsonDocument(), nullable=False),
        sa.PrimaryKeyConstraint("family", name=op.f("pk_analytics_rollup_state")),
    )


def downgrade() -> None:
    op.drop_table("analytics_rollup_state")
    op.drop_index(op.f("ix_analytics_api_errors_width_s_bucket_start_ns"), table_name="analytics_api_errors")
    op.drop_table("analytics_api_errors")
    op.drop_index(
        op.f("ix_analytics_api_rollups_width_s_bucket_start_ns"), table_name="analytics_api_rollups"
    )
    op.drop_table("analytics_api_rollups")
