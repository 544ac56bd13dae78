"""span_resources: each span resource stored once (spans.resource_id); spans.resource_attributes nullable; span_keys without the unused (key_name, hc_stage, event time) index

Revision ID: c0004
Revises: c0003
Create Date: 2026-12-04

Spans stored before keep their ``resource_attributes`` (readers take either) until retention
removes them; nothing is rewritten here beyond what SQLite needs to make the column nullable.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vitals.kernel.db

revision = "c0004"
down_revision = "c0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "span_resources",
        sa.Column("resource_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("attributes", vitals.kernel.db.JsonDocument(), nullable=False),
        sa.PrimaryKeyConstraint("resource_id", name=op.f("pk_span_resources")),
    )
    with op.batch_alter_table("spans", schema=None, table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.add_column(sa.Column("resource_id", sa.BigInteger(), nullable=True))
        batch_op.alter_column(
            "resource_attributes", existing_type=vitals.kernel.db.JsonDocument(), nullable=True
        )
    with op.batch_alter_table("span_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_span_keys_key_name_hc_stage_event_time_unix_nano"))


def downgrade() -> None:
    with op.batch_alter_table("span_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_span_keys_key_name_hc_stage_event_time_unix_nano"),
            ["key_name", "hc_stage", "event_time_unix_nano"],
            unique=False,
        )
    op.execute(
        "UPDATE spans SET resource_attributes = (SELECT attributes FROM span_resources r "
        "WHERE r.resource_id = spans.resource_id) WHERE resource_attributes IS NULL"
    )
    op.execute("UPDATE spans SET resource_attributes = '{}' WHERE resource_attributes IS NULL")
    with op.batch_alter_table("spans", schema=None, table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.alter_column(
            "resource_attributes", existing_type=vitals.kernel.db.JsonDocument(), nullable=False
        )
        batch_op.drop_column("resource_id")
    op.drop_table("span_resources")
