"""exceptions tables: exception_groups and exception_replays

Revision ID: e0001
Revises:
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "e0001"
down_revision = None
branch_labels = ("exceptions",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "exception_groups",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("stage", sa.Text(), nullable=False),
        sa.Column("system", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("workflow", sa.Text(), nullable=False),
        sa.Column("facility", sa.Text(), nullable=False),
        sa.Column("interface", sa.Text(), nullable=False),
        sa.Column("team", sa.Text(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("first_seen_unix_nano", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_unix_nano", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.Float(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("state_by", sa.Text(), nullable=False),
        sa.Column("state_at_unix_nano", sa.BigInteger(), nullable=False),
        sa.Column("replayed", sa.Integer(), nullable=False),
        sa.Column("succeeded", sa.Integer(), nullable=False),
        sa.Column("failed_again", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exception_groups")),
    )
    op.create_index(
        op.f("ix_exception_groups_state_last_seen_unix_nano"),
        "exception_groups",
        ["state", "last_seen_unix_nano"],
    )
    op.create_table(
        "exception_replays",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("group_id", sa.String(length=16), nullable=False),
        sa.Column("interface", sa.Text(), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=False),
        sa.Column("span_id", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("at_unix_nano", sa.BigInteger(), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("traceparent", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("outcome_at_unix_nano", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exception_replays")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_exception_replays_group_id_at_unix_nano"), "exception_replays", ["group_id", "at_unix_nano"]
    )
    op.create_index(
        op.f("ix_exception_replays_interface_at_unix_nano"),
        "exception_replays",
        ["interface", "at_unix_nano"],
    )


def downgrade() -> None:
    op.drop_table("exception_replays")
    op.drop_table("exception_groups")
