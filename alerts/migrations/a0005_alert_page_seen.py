"""alerts remember when they last burned fast

Revision ID: a0005
Revises: a0004
Create Date: 2026-12-03

An alert is one SLA slice whose severity follows the worst burn-rate tier firing. A fast burn that
dips below its threshold for a minute would otherwise flip the alert between page and ticket
(message updates, a restarted escalation); ``page_seen_at_unix_nano`` is when a page tier last
fired, so the severity falls back to ticket only after it has stayed quiet for ``resolve_after``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "a0005"
down_revision = "a0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("page_seen_at_unix_nano", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_column("page_seen_at_unix_nano")
