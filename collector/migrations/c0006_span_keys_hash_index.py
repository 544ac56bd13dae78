"""PostgreSQL: span_keys.key_hash indexed with a hash index (equality lookups only; a fraction of the b-tree's size)

Revision ID: c0006
Revises: c0005
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "c0006"
down_revision = "c0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_span_keys_key_hash", table_name="span_keys")
    op.create_index("ix_span_keys_key_hash", "span_keys", ["key_hash"], postgresql_using="hash")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_span_keys_key_hash", table_name="span_keys")
    op.create_index("ix_span_keys_key_hash", "span_keys", ["key_hash"])
