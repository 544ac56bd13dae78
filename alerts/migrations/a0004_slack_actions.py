"""Slack actions applied, so a replayed request is not applied twice

Revision ID: a0004
Revises: a0003
Create Date: 2026-12-03

``alert_slack_actions`` records every Slack button click applied (by its ``action_ts`` and
``trigger_id``, user, button and value) with the answer given; a copy of the request within
Slack's 5-minute signature window gets that answer and changes nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "a0004"
down_revision = "a0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_slack_actions",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("trigger_id", sa.String(length=255), nullable=False),
        sa.Column("action_ts", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("action_id", sa.String(length=255), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("received_at_unix_nano", sa.BigInteger(), nullable=False),
        sa.Column("replays", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_alert_slack_actions")),
    )
    with op.batch_alter_table("alert_slack_actions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_alert_slack_actions_received_at_unix_nano"),
            ["received_at_unix_nano"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("alert_slack_actions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_slack_actions_received_at_unix_nano"))
    op.drop_table("alert_slack_actions")
