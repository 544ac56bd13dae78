"""span_keys: without hc_stage (it repeated the span's stage; no reader used it)

Revision ID: c0009
Revises: c0008
Create Date: 2026-12-05

About 20 bytes per span key (1.26 keys per span in the ingest benchmark). A reader that wants a
key's stage joins its span (``spans.hc_stage`` by trace and span id). The downgrade adds the
column back and fills it from the spans.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c0009"
down_revision = "c0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE span_keys DROP COLUMN hc_stage")
        return
    with op.batch_alter_table(
        "span_keys", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.drop_column("hc_stage")


def downgrade() -> None:
    op.add_column("span_keys", sa.Column("hc_stage", sa.Text(), nullable=True))
    op.execute(
        "UPDATE span_keys SET hc_stage = (SELECT s.hc_stage FROM spans s WHERE s.trace_id = span_keys.trace_id "
        "AND s.span_id = span_keys.span_id AND s.event_time_unix_nano = span_keys.event_time_unix_nano)"
    )
