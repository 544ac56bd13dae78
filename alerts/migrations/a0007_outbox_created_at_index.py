"""the alert outbox is indexed on created_at, for its retention's delete

Revision ID: a0007
Revises: a0006
Create Date: 2026-12-05

Alerting's retention deletes finished outbox rows created before ``retention.notifications``
(``alerts.retention``). Its read found them through the ``(status, not_before_unix_nano)`` index
and filtered every finished row on ``created_at_unix_nano``: on PostgreSQL, with months of sent
notifications, each batch read all of them to find the next 500 old enough. An index on
``created_at_unix_nano`` lets the read start at the oldest rows. The delete by primary key keeps
avoiding it on SQLite (``_unindexed`` in ``alerts.retention``).
"""

from __future__ import annotations

from alembic import op

revision = "a0007"
down_revision = "a0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alert_outbox", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_alert_outbox_created_at_unix_nano"), ["created_at_unix_nano"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("alert_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_outbox_created_at_unix_nano"))
