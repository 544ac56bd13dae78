"""Process-wide resources of the dashboard: settings, engine, config, SLA catalog, refresher."""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import streamlit as st
from sqlalchemy.engine import Engine

from dashboards import config as dashboard_config
from dashboards.catalog import Catalog, load_catalog
from dashboards.rollup import refresh
from dashboards.rollup_retention import RollupRetention
from vitals.kernel.configfile import ConfigError
from vitals.kernel.db import create_engine, is_sqlite
from vitals.kernel.settings import Settings

log = logging.getLogger(__name__)

#: Set to "off" to keep this process from folding telemetry into the rollups (tests do).
ENV_ROLLUPS = "VITALS_DASHBOARD_ROLLUPS"


@dataclass(frozen=True)
class Resources:
    settings: Settings
    engine: Engine
    config: dashboard_config.DashboardConfig
    catalog: Catalog

    @property
    def url(self) -> str:
        return self.settings.db_url


@st.cache_resource(show_spinner=False)
def engine_for(url: str) -> Engine:
    if is_sqlite(url):
        return create_engine(url)
    # PostgreSQL's JIT compiles every expression of a dashboard query (hundreds of ms) to save
    # a few on the rows the indexes return: off for this interactive, read-mostly workload.
    return create_engine(url, connect_args={"options": "-c jit=off"})


@st.cache_data(ttl=30, show_spinner=False)
def _config(config_dir: str, stamp: tuple[int, int]) -> dashboard_config.DashboardConfig:
    """Read again when dashboard.yaml changes (``stamp``), so a removed or demoted user loses
    access at their next interaction; the ttl catches changed ``{file: ...}`` secrets."""
    return dashboard_config.load(Path(config_dir))


def _stamp(config_dir: Path) -> tuple[int, int]:
    try:
        stat = (config_dir / dashboard_config.FILE_NAME).stat()
    except OSError:
        return (0, 0)
    return (stat.st_mtime_ns, stat.st_size)


@st.cache_data(ttl=60, show_spinner=False)
def catalog_for(config_dir: str) -> Catalog:
    return load_catalog(Path(config_dir))


class Refresher:
    """Folds new telemetry into the rollups every few seconds, in a daemon thread."""

    def __init__(self, url: str, interval_s: float, retention: RollupRetention | None = None) -> None:
        self.url, self.interval_s, self.retention = url, interval_s, retention
        self.stop = threading.Event()
        self.last_error: str | None = None
        self.thread = threading.Thread(target=self._loop, name="vitals-rollups", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self.stop.is_set():
            try:
                report = refresh(engine_for(self.url), max_batches=40, retention=self.retention)
                self.last_error = None
                if report.behind:  # more to do: go again without waiting
                    continue
            except Exception as exc:  # keep refreshing after a transient database error
                self.last_error = str(exc)
                log.warning("rollup refresh failed: %s", exc)
            self.stop.wait(self.interval_s)


@st.cache_resource(show_spinner=False)
def refresher_for(url: str, interval_s: float, minute_s: float, hour_s: float) -> Refresher:
    return Refresher(url, interval_s, RollupRetention(minute_s=minute_s, hour_s=hour_s))


def resources() -> Resources:
    """Everything a page needs from the process; raises ConfigError for a bad dashboard.yaml."""
    settings = Settings.resolve()
    config = _config(str(settings.config_dir), _stamp(settings.config_dir))
    engine = engine_for(settings.db_url)
    if config.refresh_rollups and os.environ.get(ENV_ROLLUPS, "on").lower() != "off":
        kept = config.retention
        refresher_for(
            settings.db_url,
            float(config.rollup_interval),
            float(kept.minute_rollups),
            float(kept.hour_rollups),
        )
    return Resources(settings, engine, config, catalog_for(str(settings.config_dir)))


__all__ = ["ConfigError", "Resources", "catalog_for", "engine_for", "resources"]
