"""PostgreSQL: spans and metric_points partitioned by UTC day; spans unique on (trace_id, span_id, event time)

Revision ID: c0005
Revises: c0004
Create Date: 2026-12-04

On PostgreSQL each table is rebuilt as a RANGE-partitioned table on its time column (spans:
``event_time_unix_nano``, metric_points: ``time_unix_nano``), with a default partition and a
partition for every day that holds rows (within 400 days) and for today and the next days; the
rows are copied over in this transaction and the old table dropped. The primary key becomes
(id, time) and the spans' unique key (trace_id, span_id, event_time_unix_nano): PostgreSQL
requires the partition key in both. A re-sent span has the same event time, so it is still
skipped. SQLite gets the same unique key (one table rebuild) so both stores skip alike.
"""

from __future__ import annotations

import time

from alembic import op

from collector.partitions import SCHEMA, create_day, create_default, partition_days

revision = "c0005"
down_revision = "c0004"
branch_labels = None
depends_on = None

_DAY_NS = 86_400 * 1_000_000_000

#: table -> (time column, {constraint name: definition}, {index name: columns}, old constraints)
_TABLES = {
    "spans": (
        "event_time_unix_nano",
        {
            "pk_spans": "PRIMARY KEY (id, event_time_unix_nano)",
            "uq_spans_trace_id_span_id_event_time_unix_nano": "UNIQUE (trace_id, span_id, event_time_unix_nano)",
        },
        {
            "ix_spans_start_time_unix_nano": "start_time_unix_nano",
            "ix_spans_service_name_start_time_unix_nano": "service_name, start_time_unix_nano",
            "ix_spans_hc_stage_event_time_unix_nano": "hc_stage, event_time_unix_nano",
        },
        ("pk_spans", "uq_spans_trace_id_span_id"),
    ),
    "metric_points": (
        "time_unix_nano",
        {
            "pk_metric_points": "PRIMARY KEY (id, time_unix_nano)",
            "uq_metric_points_series_id_time_unix_nano": "UNIQUE (series_id, time_unix_nano)",
        },
        {
            "ix_metric_points_name_time_unix_nano": "name, time_unix_nano",
            "ix_metric_points_queue_name_time_unix_nano": "queue, name, time_unix_nano",
        },
        ("pk_metric_points", "uq_metric_points_series_id_time_unix_nano"),
    ),
}


def _partition(table: str) -> None:
    column, constraints, indexes, old_constraints = _TABLES[table]
    conn = op.get_bind()
    old = f"{table}_unpartitioned"
    op.execute(f"ALTER TABLE {table} RENAME TO {old}")
    for name in old_constraints:
        op.execute(f"ALTER TABLE {old} DROP CONSTRAINT {name}")
    for name in indexes:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    op.execute(f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS) PARTITION BY RANGE ({column})")
    op.execute(f"ALTER SEQUENCE {table}_id_seq OWNED BY {table}.id")
    create_default(conn, table)
    days = [int(d) for (d,) in conn.exec_driver_sql(f"SELECT DISTINCT {column} / {_DAY_NS} FROM {old}")]
    for day in partition_days(days, time.time_ns()):
        create_day(conn, table, day)
    op.execute(f"INSERT INTO {table} SELECT * FROM {old}")
    op.execute(f"DROP TABLE {old}")
    for name, definition in constraints.items():
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
    for name, columns in indexes.items():
        op.execute(f"CREATE INDEX {name} ON {table} ({columns})")


def _unpartition(table: str) -> None:
    column, constraints, indexes, _old = _TABLES[table]
    partitioned = f"{table}_partitioned"
    op.execute(f"ALTER TABLE {table} RENAME TO {partitioned}")
    for name in constraints:
        op.execute(f"ALTER TABLE {partitioned} DROP CONSTRAINT {name}")
    for name in indexes:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    op.execute(f"CREATE TABLE {table} (LIKE {partitioned} INCLUDING DEFAULTS)")
    op.execute(f"ALTER SEQUENCE {table}_id_seq OWNED BY {table}.id")
    op.execute(f"INSERT INTO {table} SELECT * FROM {partitioned}")
    op.execute(f"DROP TABLE {partitioned} CASCADE")
    op.execute(f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY (id)")
    if table == "spans":
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT uq_spans_trace_id_span_id UNIQUE (trace_id, span_id)")
    else:
        op.execute(
            "ALTER TABLE metric_points ADD CONSTRAINT uq_metric_points_series_id_time_unix_nano "
            "UNIQUE (series_id, time_unix_nano)"
        )
    for name, columns in indexes.items():
        op.execute(f"CREATE INDEX {name} ON {table} ({columns})")
    del column


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in _TABLES:
            _partition(table)
        return
    with op.batch_alter_table("spans", schema=None, table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_constraint("uq_spans_trace_id_span_id", type_="unique")
        batch_op.create_unique_constraint(
            "uq_spans_trace_id_span_id_event_time_unix_nano", ["trace_id", "span_id", "event_time_unix_nano"]
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in _TABLES:
            _unpartition(table)
        op.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        return
    with op.batch_alter_table("spans", schema=None, table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_constraint("uq_spans_trace_id_span_id_event_time_unix_nano", type_="unique")
        batch_op.create_unique_constraint("uq_spans_trace_id_span_id", ["trace_id", "span_id"])
