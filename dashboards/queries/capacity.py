"""The capacity page's data: the capacity report of every queue and interface, as table rows.

The forecasting is :mod:`capacity`'s; this module only runs it over the dashboard's store and
config directory and shapes the result for the page's tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from capacity import config as capacity_config
from capacity.report import CapacityRow, format_duration
from capacity.service import report_for_store
from vitals.kernel.configfile import ConfigError

#: Days of history the page fits on: enough for weekly and monthly effects, fast to read.
HISTORY_DAYS = 90
FORECAST_DAYS = 30


@dataclass(frozen=True)
class CapacityPage:
    rows: list[CapacityRow]
    zone: str
    problem: str | None = None  # an invalid capacity.yaml, in words


def load_page(engine: Engine, config_dir: Path, now_s: float) -> CapacityPage:
    try:
        config = capacity_config.load(config_dir)
    except ConfigError as exc:
        return CapacityPage([], "America/Chicago", str(exc))
    rows = report_for_store(engine, config_dir, now_s, FORECAST_DAYS, HISTORY_DAYS)
    return CapacityPage(rows, config.time_zone)


def summary_rows(rows: list[CapacityRow]) -> list[dict[str, Any]]:
    """One row per queue and interface: capacity, the next month-end close peak and its headroom."""
    out = []
    for r in rows:
        out.append(
            {
                "kind": r.kind,
                "name": r.name,
                "capacity per hour": r.capacity_per_hour,
                "capacity from": r.capacity_source,
                "next close peak": r.close_peak.day.isoformat() if r.close_peak else None,
                "close peak per hour": r.close_peak.peak_per_hour if r.close_peak else None,
                "headroom at close peak": r.close_headroom,
                "30-day peak": r.peak.day.isoformat() if r.peak else None,
                "headroom at 30-day peak": r.headroom,
                "margin": r.margin,
                "below margin on": r.below_margin_on.isoformat() if r.below_margin_on else None,
                "history days": r.forecast.history_days,
            }
        )
    return out


def backlog_rows(rows: list[CapacityRow]) -> list[dict[str, Any]]:
    """Queues holding messages now: depth, rates and the time to clear them."""
    out = []
    for r in rows:
        b = r.backlog
        if b is None or b.depth <= 0:
            continue
        verdict = "no deadline"
        if b.clears_before_deadline is not None:
            verdict = "clears before" if b.clears_before_deadline else "misses it"
        out.append(
            {
                "queue": r.name,
                "waiting": b.depth,
                "drain per s": b.drain_per_s,
                "arrival per s": b.arrival_per_s,
                "clears in": format_duration(b.clear_s),
                "deadline": b.deadline,
                "verdict": verdict,
            }
        )
    return out


__all__ = ["FORECAST_DAYS", "HISTORY_DAYS", "CapacityPage", "backlog_rows", "load_page", "summary_rows"]
