"""alert_audit moves into access's audit_log (one table for who did what)

Revision ID: a0006
Revises: a0005
Create Date: 2026-12-04

Alerting records acknowledgements, silences and reloads in ``audit_log`` (access branch,
``x0001``) like every other component. The old rows are copied in their order (``remote`` empty:
alerting did not keep it) and ``alert_audit`` is dropped. Ids are not copied: ``audit_log`` numbers
its own rows, so PostgreSQL's identity sequence stays right. The copy is one ``INSERT ... SELECT``
in the migration's transaction on both databases, so a failure leaves the old table in place.

Downgrade recreates ``alert_audit`` and copies back every row of ``audit_log`` but the tokens'
(``token.*``), which the older alerting never wrote; ``audit_log`` itself is access's to drop.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vitals.kernel.db

revision = "a0006"
down_revision = "a0005"
branch_labels = None
depends_on = "x0001"

_COLUMNS = "at_unix_nano, actor, action, target, source, detail"


def upgrade() -> None:
    op.execute(
        f"INSERT INTO audit_log ({_COLUMNS}, remote) SELECT {_COLUMNS}, '' FROM alert_audit ORDER BY id"
    )
    with op.batch_alter_table("alert_audit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_audit_at_unix_nano"))
    op.drop_table("alert_audit")


def downgrade() -> None:
    op.create_table(
        "alert_audit",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("at_unix_nano", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("detail", vitals.kernel.db.JsonDocument(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_audit")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("alert_audit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_audit_at_unix_nano"), ["at_unix_nano"], unique=False)
    op.execute(
        f"INSERT INTO alert_audit ({_COLUMNS}) SELECT at_unix_nano, actor, substr(action, 1, 32), "
        "target, source, detail FROM audit_log WHERE action NOT LIKE 'token.%' ORDER BY id"
    )
