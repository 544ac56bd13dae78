"""lag objects for every reader

The engine's lag objects become the one table of business objects: the dashboard reads lag
percentiles, late objects and money at risk from it (its own ``dashboard_lag_objects`` is dropped
by the dashboards branch). Objects gain their place and traces, and indexes by start and end.
Lag SLAs are registered again, so the engine back-fills their objects with the new columns.

Revision ID: s0003
Revises: s0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "s0003"
down_revision = "s0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sla_lag_objects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("facility", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("service_line", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("start_trace_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("end_trace_id", sa.String(length=32), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_sla_lag_objects_sla_id_start_unix_nano_end_unix_nano_amount"),
            ["sla_id", "start_unix_nano", "end_unix_nano", "amount"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_sla_lag_objects_sla_id_end_unix_nano_start_unix_nano"),
            ["sla_id", "end_unix_nano", "start_unix_nano"],
            unique=False,
        )
    # A definition the engine does not know is registered afresh: its rollups and objects are
    # rebuilt from the stored telemetry on the engine's next tick.
    op.execute("DELETE FROM sla_definitions WHERE sla_id IN (SELECT DISTINCT sla_id FROM sla_lag_objects)")


def downgrade() -> None:
    with op.batch_alter_table("sla_lag_objects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sla_lag_objects_sla_id_end_unix_nano_start_unix_nano"))
        batch_op.drop_index(batch_op.f("ix_sla_lag_objects_sla_id_start_unix_nano_end_unix_nano_amount"))
        batch_op.drop_column("end_trace_id")
        batch_op.drop_column("start_trace_id")
        batch_op.drop_column("service_line")
        batch_op.drop_column("facility")
