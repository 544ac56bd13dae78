"""The APIs page's data: ``analytics``' figures per API or consumer as table frames.

Everything comes from the API rollups (``analytics.query.api_stats``); the SLA catalog from the
SLA files. Percentiles are the rollups' merged histograms (relative error at most about 4.4 %).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sqlalchemy.engine import Engine

from analytics import config as analytics_config
from analytics.query import api_stats, sla_scopes
from analytics.report import ApiStats, By
from analytics.tables import api_rollups
from vitals.kernel.configfile import ConfigError

__all__ = ["ApiPage", "error_frame", "has_rollups", "load", "settings", "stats_frame"]


class ApiPage:
    """What the page shows for one range and grouping."""

    def __init__(self, stats: list[ApiStats], by: By) -> None:
        self.stats = stats
        self.by = by

    @property
    def services(self) -> list[str]:
        return sorted({s.service for s in self.stats if s.service != "*"})


def load(
    engine: Engine, config_dir: Path, start_ns: int, end_ns: int, *, by: By, service: str | None
) -> ApiPage:
    stats = api_stats(engine, start_ns, end_ns, by=by, service=service, scopes=sla_scopes(config_dir))
    return ApiPage(stats, by)


def settings(config_dir: Path) -> analytics_config.AnalyticsConfig:
    """``analytics.yaml``, for the page's explanations; its defaults when invalid (its errors are
    ``vitals config check``'s and ``vitals serve``'s to report)."""
    try:
        return analytics_config.load(config_dir)
    except ConfigError:
        return analytics_config.AnalyticsConfig()


def has_rollups(engine: Engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(api_rollups.select().limit(1)).first() is not None


def _consumer(value: str) -> str:
    return "(unknown)" if value == "" else value


def stats_frame(page: ApiPage) -> pd.DataFrame:
    """One row per API (or consumer): the table and its CSV."""
    rows = []
    for s in page.stats:
        row: dict[str, object] = {}
        if page.by != "consumer":
            row |= {
                "service": s.service,
                "method": s.method,
                "route": s.route,
                "FHIR": f"{s.interaction} {s.resource_type}".strip(),
                "side": s.side,
            }
        if page.by != "api":
            row["consumer"] = _consumer(s.consumer)
        row |= {
            "requests": s.requests,
            "per minute": s.per_minute,
            "error rate": s.error_rate,
            "4xx": s.error_rate_4xx,
            "5xx": s.error_rate_5xx,
            "other errors": s.error_rate_other,
            "p50 (s)": s.p50_s,
            "p95 (s)": s.p95_s,
            "p99 (s)": s.p99_s,
            "top error": s.top_errors[0].signature if s.top_errors else "",
        }
        if page.by != "consumer":
            row["SLAs"] = ", ".join(s.slas)
        rows.append(row)
    return pd.DataFrame(rows)


def error_frame(page: ApiPage) -> pd.DataFrame:
    """The top error signatures of every row, most frequent first."""
    rows = [
        {
            "service": s.service,
            "method": s.method,
            "route": s.route,
            "consumer": _consumer(s.consumer),
            "class": e.error_class,
            "signature": e.signature,
            "count": e.occurrences,
            "trace": e.example_trace_id,
        }
        for s in page.stats
        for e in s.top_errors
    ]
    frame = pd.DataFrame(rows)
    return frame.sort_values("count", ascending=False) if not frame.empty else frame
