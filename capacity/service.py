"""The capacity report from a store and a config directory: the one entry point of its callers."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine

from capacity import config as capacity_config
from capacity.history import HistorySource, SqlHistory
from capacity.report import CapacityRow, build

#: History read by default, and at most: older volumes say little about next month.
DEFAULT_HISTORY_DAYS = 120
MAX_HISTORY_DAYS = 400


def report_from(
    source: HistorySource,
    config: capacity_config.CapacityConfig,
    now_s: float,
    days: int = 30,
    history_days: int = DEFAULT_HISTORY_DAYS,
) -> list[CapacityRow]:
    history_days = min(history_days, MAX_HISTORY_DAYS)
    return build(source.series(now_s - history_days * 86400, now_s), config, now_s, days)


def report_for_store(
    engine: Engine, config_dir: Path, now_s: float, days: int = 30, history_days: int = DEFAULT_HISTORY_DAYS
) -> list[CapacityRow]:
    """Raises ``ConfigError`` when ``capacity.yaml`` is invalid."""
    return report_from(SqlHistory(engine), capacity_config.load(config_dir), now_s, days, history_days)


__all__ = ["DEFAULT_HISTORY_DAYS", "MAX_HISTORY_DAYS", "report_for_store", "report_from"]
