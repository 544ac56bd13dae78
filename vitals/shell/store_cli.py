"""``vitals store``: how much the store holds (per table: rows, bytes, time covered)."""

from __future__ import annotations

import json

import click

from collector.retention import TIME_COLUMNS as TELEMETRY_TIME_COLUMNS
from vitals.kernel.db import create_engine
from vitals.kernel.options import settings_options
from vitals.kernel.settings import Settings
from vitals.kernel.storestats import measure, render, to_json

#: Table -> the time column whose oldest and newest value ``stats`` prints: the telemetry tables
#: by the time their retention is measured on, and the histories that grow with time.
TIME_COLUMNS: dict[str, str] = {
    **TELEMETRY_TIME_COLUMNS,
    "sla_evaluations": "evaluated_at_unix_nano",
    "sla_minutes": "minute_unix_nano",
    "alert_events": "at_unix_nano",
    "audit_log": "at_unix_nano",
    "dashboard_error_spans": "start_ns",
}


@click.group()
def store() -> None:
    """Look at what the store holds and how much room it takes."""


@store.command(context_settings={"max_content_width": 110})
@settings_options
@click.option(
    "--json", "as_json", is_flag=True, help="Print the figures as JSON (times in Unix nanoseconds)."
)
def stats(settings: Settings, as_json: bool) -> None:
    """Print rows, bytes and time covered per table, and bytes per span.

    \b
    rows             COUNT(*) of the table
    table, indexes   bytes of the table and of its indexes, as the database accounts them
                     (SQLite: the dbstat table; PostgreSQL: pg_table_size, pg_indexes_size)
    oldest, newest   the table's time column (spans: event time; metric_points: point time)
    bytes per span   spans, span_keys and span_resources, tables and indexes, divided by the
                     number of spans

    On PostgreSQL, partitioned tables (spans and metric_points, by day) are summed over their
    partitions, and a partitions line per table gives the day partitions' count and first and last
    day, and the rows in the default partition.

    On SQLite the store line also shows the free pages: space that deleted rows (retention)
    left behind, which SQLite fills with new rows before the file grows. Reads every table
    once, so it takes a while on a large store; it writes nothing.
    """
    engine = create_engine(settings.db_url)
    try:
        with engine.connect() as conn:
            figures = measure(conn, TIME_COLUMNS)
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps(to_json(figures), indent=2))
    elif not figures.tables:
        click.echo(f"empty store: no tables ({settings.db_url})")
    else:
        click.echo(render(figures))
