"""Alembic environment: runs on the connection ``vitals.kernel.db.migrate`` hands over."""

from __future__ import annotations

from alembic import context

from vitals.kernel.db import load_all_tables

target_metadata = load_all_tables()
connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=target_metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
