"""the evaluation watermark becomes a cursor (vitals.kernel.follow)

Revision ID: a0002
Revises: a0001
Create Date: 2026-12-03

``alert_state.evaluations_watermark`` held the highest ``sla_evaluations.id`` applied; it now
holds ``{"watermark": id, "seen": [[lo, hi, first_seen_ns], ...]}``: the ids read above the
watermark, so an evaluation that PostgreSQL commits after a higher id is still applied.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vitals.kernel.db


revision = "a0002"
down_revision = "a0001"
branch_labels = None
depends_on = None

_state = sa.table(
    "alert_state",
    sa.column("name", sa.String(64)),
    sa.column("value", vitals.kernel.db.JsonDocument()),
)
_NAME = "evaluations_watermark"


def upgrade() -> None:
    conn = op.get_bind()
    value = conn.execute(sa.select(_state.c.value).where(_state.c.name == _NAME)).scalar()
    if value is not None and not isinstance(value["value"], dict):
        document = {"value": {"watermark": int(value["value"] or 0), "seen": []}}
        conn.execute(sa.update(_state).where(_state.c.name == _NAME).values(value=document))


def downgrade() -> None:
    conn = op.get_bind()
    value = conn.execute(sa.select(_state.c.value).where(_state.c.name == _NAME)).scalar()
    if value is not None and isinstance(value["value"], dict):
        # The old reader reads on above the watermark: ids read above it are applied again,
        # none is skipped.
        watermark = int(value["value"]["watermark"])
        conn.execute(sa.update(_state).where(_state.c.name == _NAME).values(value={"value": watermark}))
