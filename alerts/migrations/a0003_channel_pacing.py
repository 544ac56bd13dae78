"""per-lane pacing shared by every dispatcher process

Revision ID: a0003
Revises: a0002
Create Date: 2026-12-03

``alert_channel_pacing`` holds, per delivery lane (``alert_outbox.target``), the earliest moment
the next request may be sent. Dispatchers take send slots from it atomically, so several
delivery processes on one outbox together keep Slack's one message per second per channel.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "a0003"
down_revision = "a0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_channel_pacing",
        sa.Column("channel", sa.String(length=128), nullable=False),
        sa.Column("next_send_at_unix_nano", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("channel", name=op.f("pk_alert_channel_pacing")),
    )


def downgrade() -> None:
    op.drop_table("alert_channel_pacing")
