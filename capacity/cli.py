"""``vitals capacity``: headroom at the forecast peaks and backlog clear times, from the store."""

from __future__ import annotations

import sys
from datetime import datetime

import click

from capacity.render import to_csv, to_json, to_text
from capacity.service import DEFAULT_HISTORY_DAYS, MAX_HISTORY_DAYS
from simulator.options import now_option
from vitals.kernel.configfile import ConfigError
from vitals.kernel.options import settings_options
from vitals.kernel.settings import Settings


@click.group()
def capacity() -> None:
    """Capacity planning: measured and configured capacity, 30-day volume forecasts, headroom at
    the month-end and claims-day peaks, and when a backlog clears (configured in capacity.yaml)."""


@capacity.command()
@settings_options
@now_option("Report as of this time (ISO 8601, UTC unless it has an offset).")
@click.option("--days", type=click.IntRange(1, 90), default=30, show_default=True, help="Days to forecast.")
@click.option(
    "--history",
    type=click.IntRange(3, MAX_HISTORY_DAYS),
    default=DEFAULT_HISTORY_DAYS,
    show_default=True,
    help="Days of stored history to fit on.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "csv"]),
    default="text",
    show_default=True,
    help="text: a table; json: every forecast day too; csv: one row per interface and queue.",
)
@click.option(
    "--hourly", is_flag=True, help="With --format json: every forecast hour too ([local time, messages])."
)
def report(*, settings: Settings, now: datetime, days: int, history: int, fmt: str, hourly: bool) -> None:
    """Per queue and interface (hc.stage): capacity (configured, else the best hourly drain rate
    seen), the forecast peak hour and the next month-end close peak with their headroom, the first
    day headroom falls below the margin, and for a queue with a backlog the time to clear it at
    the current drain rate and whether that beats its deadline."""
    from capacity.config import load
    from capacity.history import SqlHistory
    from capacity.service import report_from
    from vitals.kernel.db import create_engine

    try:
        config = load(settings.config_dir)
    except ConfigError as exc:
        click.echo(f"{exc}\n{len(exc.issues)} problem(s) in capacity.yaml", err=True)
        sys.exit(1)
    now_s = now.timestamp()
    engine = create_engine(settings.db_url)
    try:
        click.echo(f"reading {history} days of history and fitting the forecasts...", err=True)
        rows = report_from(SqlHistory(engine), config, now_s, days, history)
    finally:
        engine.dispose()
    if fmt == "json":
        click.echo(to_json(rows, config.time_zone, now_s, hourly=hourly))
    elif fmt == "csv":
        click.echo(to_csv(rows), nl=False)
    else:
        click.echo(to_text(rows, config.time_zone, now_s, days))


__all__ = ["capacity"]
