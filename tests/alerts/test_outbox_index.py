"""Migration a0007: the alert outbox's ``created_at_unix_nano`` index, which alerting's retention
reads finished rows by, on both stores."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from vitals.kernel.db import _alembic_config, current_heads, migrate

INDEX = "ix_alert_outbox_created_at_unix_nano"


def outbox_indexes(engine: Engine) -> dict[str, list[str | None]]:
    return {str(ix["name"]): list(ix["column_names"]) for ix in inspect(engine).get_indexes("alert_outbox")}


def test_the_migrated_store_has_the_created_at_index(engine: Engine) -> None:
    assert "a0007" in current_heads(engine)
    assert outbox_indexes(engine)[INDEX] == ["created_at_unix_nano"]


def test_a0007_applies_over_a0006_and_goes_back(engine: Engine) -> None:
    with engine.begin() as connection:
        command.downgrade(_alembic_config(connection), "a0006")
    assert INDEX not in outbox_indexes(engine)
    assert "a0006" in current_heads(engine)
    migrate(engine)
    assert outbox_indexes(engine)[INDEX] == ["created_at_unix_nano"]
    assert "a0007" in current_heads(engine)


def test_the_retention_read_can_use_it(engine: Engine) -> None:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SET enable_seqscan = off")
            plan = "\n".join(
                str(row[0])
                for row in conn.exec_driver_sql(
                    "EXPLAIN SELECT id FROM alert_outbox WHERE created_at_unix_nano < 5"
                )
            )
        else:
            plan = "\n".join(
                str(row[-1])
                for row in conn.exec_driver_sql(
                    "EXPLAIN QUERY PLAN SELECT id FROM alert_outbox WHERE created_at_unix_nano < 5"
                )
            )
    assert INDEX in plan
