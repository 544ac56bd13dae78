"""access tables: api_tokens and audit_log

Revision ID: x0001
Revises:
Create Date: 2026-12-04

The access branch (``x`` for access control, as ``a`` is alerting's). Alerting's ``a0006`` depends
on this revision: it copies ``alert_audit`` into ``audit_log`` and drops it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vitals.kernel.db

revision = "x0001"
down_revision = None
branch_labels = ("access",)
depends_on = None


def _id() -> sa.Column[int]:
    return sa.Column(
        "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        _id(),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("secret_sha256", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("scopes", vitals.kernel.db.JsonDocument(), nullable=False),
        sa.Column("created_at_unix_nano", sa.BigInteger(), nullable=False),
        sa.Column("expires_at_unix_nano", sa.BigInteger(), nullable=True),
        sa.Column("revoked_at_unix_nano", sa.BigInteger(), nullable=True),
        sa.Column("last_used_at_unix_nano", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("name", name=op.f("uq_api_tokens_name")),
        sa.UniqueConstraint("secret_sha256", name=op.f("uq_api_tokens_secret_sha256")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "audit_log",
        _id(),
        sa.Column("at_unix_nano", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("remote", sa.String(length=64), nullable=False),
        sa.Column("detail", vitals.kernel.db.JsonDocument(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_at_unix_nano"), ["at_unix_nano"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_at_unix_nano"))
    op.drop_table("audit_log")
    op.drop_table("api_tokens")
