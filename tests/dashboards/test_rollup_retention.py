"""Rollup retention: minute rows kept 35 days, hour rows 400 by default, deleted in short batches
under the family's lease (SQLite and PostgreSQL, injected clock)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Table, func, select
from sqlalchemy.engine import Engine

from dashboards import config as dashboard_config
from dashboards.rollup import refresh
from dashboards.rollup_retention import RollupRetention, expire, expiring_tables
from dashboards.tables import (
    business_rollups,
    error_groups,
    error_spans,
    metric_rollups,
    service_edges,
    span_rollups,
)
from tests.dashboards import estate
from tests.support.factories import insert_metric_points, insert_spans, metric_row, span_row
from vitals.kernel.configfile import ConfigError
from vitals.kernel.lease import Lease, take
from vitals.kernel.units import NS

DAY = 86400
NOW_S = 1_790_000_000  # a fixed now (2026-09-21)
NOW_NS = NOW_S * NS
AGES_D = (401, 40, 0)  # days before now: past both retentions, past the minutes', inside both


def _store(engine: Engine) -> None:
    rows = []
    for age in AGES_D:
        at = NOW_S - age * DAY
        parent = span_row(name="hl7.send", service="engine", start_s=at, kind="producer")
        rows += [
            parent,
            span_row(
                name="erp.gl.post",
                service="erp",
                start_s=at + 1,
                status="error",
                trace_id=parent["trace_id"],
                parent_span_id=parent["span_id"],
                kind="server",
                attributes={"hc.stage": "charge.posted", "hc.facility": "north"},
            ),
        ]
    insert_spans(engine, rows)
    insert_metric_points(
        engine,
        [
            metric_row(name="queue.depth", value=3.0, time_s=NOW_S - age * DAY, attributes={"queue": "adt"})
            for age in AGES_D
        ],
    )


def _fold(engine: Engine, **kwargs: Any) -> dict[str, int]:
    report = refresh(engine, horizon_s=0, edge_timing=estate.SETTLED, clock=lambda: NOW_NS, **kwargs)
    assert report.behind == 0
    return {f.family: f.expired for f in report.families}


def _ages(engine: Engine, table: Table, resolution: int | None = None) -> set[int]:
    """Days before now of the table's rows (of one resolution)."""
    time = table.c.start_ns if table is error_spans else table.c.bucket
    query = select(time)
    if resolution is not None:
        query = query.where(table.c.resolution == resolution)
    with engine.connect() as conn:
        return {round((NOW_NS - t) / NS / DAY) for t in conn.execute(query).scalars()}


def test_minute_rows_go_after_35_days_and_hour_rows_after_400(engine: Engine) -> None:
    _store(engine)
    assert _fold(engine) == {"spans": 0, "metrics": 0}  # without a retention: nothing deleted
    assert _ages(engine, span_rollups, 60) == {401, 40, 0}  # nothing deleted without retention

    expired = _fold(engine, retention=RollupRetention())  # the defaults
    assert expired["spans"] > 0 and expired["metrics"] == 3  # metrics: 401 d at both, 40 d minute
    for table in (span_rollups, service_edges, metric_rollups):
        assert _ages(engine, table, 60) == {0}, table.name
        assert _ages(engine, table, 3600) == {40, 0}, table.name
    assert _ages(engine, business_rollups) == {40, 0}
    assert _ages(engine, error_groups) == {40, 0}
    assert _ages(engine, error_spans) == {0}
    assert _fold(engine, retention=RollupRetention()) == {"spans": 0, "metrics": 0}  # none left


def test_retention_is_configurable_and_works_in_small_batches(engine: Engine) -> None:
    _store(engine)
    _fold(engine)
    with engine.connect() as conn:
        minutes = conn.execute(select(func.count()).where(span_rollups.c.resolution == 60)).scalar_one()
    assert minutes == 6  # two span names at three ages
    short = RollupRetention(minute_s=2 * DAY, hour_s=30 * DAY, batch_rows=1, max_batches=1)
    deleted = []
    while True:
        report = _fold(engine, retention=short)
        if not sum(report.values()):
            break
        deleted.append(report)
        assert all(n <= 1 for n in report.values())  # one row per family and refresh
    assert len(deleted) >= 10
    assert _ages(engine, span_rollups, 60) == {0}
    assert _ages(engine, span_rollups, 3600) == {0}
    assert _ages(engine, business_rollups) == {0}
    assert _ages(engine, metric_rollups) == {0}


def test_a_store_that_stopped_receiving_telemetry_keeps_what_it_has(engine: Engine) -> None:
    _store(engine)
    later = NOW_NS + 100 * DAY * NS  # nothing new for 100 days
    refresh(engine, horizon_s=0, clock=lambda: NOW_NS)
    report = refresh(engine, horizon_s=0, clock=lambda: later, retention=RollupRetention())
    assert {f.family: f.expired for f in report.families}["spans"] > 0  # the 40 and 401 days old
    assert _ages(engine, span_rollups, 60) == {0}  # ages count from the newest minute, not now
    assert _ages(engine, span_rollups, 3600) == {40, 0}


def test_a_refresher_without_the_lease_deletes_nothing(engine: Engine) -> None:
    _store(engine)
    _fold(engine)
    with engine.begin() as conn:
        assert take(conn, "dashboards.rollup.spans", "other", NOW_NS, 60 * NS) is not None
    ours = Lease("dashboards.rollup.spans", "me", NOW_NS, NOW_NS)
    lease, deleted = expire(
        engine, "spans", ours, RollupRetention(), now_ns=NOW_NS, clock=lambda: NOW_NS, lease_ns=60 * NS
    )
    assert (lease, deleted) == (None, 0)
    assert _ages(engine, span_rollups, 60) == {401, 40, 0}
    # and a refresh that cannot take the lease neither folds nor deletes
    report = refresh(engine, horizon_s=0, clock=lambda: NOW_NS, owner="me")
    assert {f.family: f.claimed for f in report.families}["spans"] is False
    assert _ages(engine, span_rollups, 60) == {401, 40, 0}


def test_every_time_keyed_rollup_table_has_a_retention() -> None:
    assert set(expiring_tables("spans")) == {
        ("dashboard_span_rollups", 60),
        ("dashboard_span_rollups", 3600),
        ("dashboard_service_edges", 60),
        ("dashboard_service_edges", 3600),
        ("dashboard_business_rollups", 3600),
        ("dashboard_error_groups", 3600),
        ("dashboard_error_spans", 60),
    }
    assert set(expiring_tables("metrics")) == {
        ("dashboard_metric_rollups", 60),
        ("dashboard_metric_rollups", 3600),
    }


def test_retention_is_set_in_dashboard_yaml_and_checked(tmp_path: Path) -> None:
    kept = dashboard_config.load(tmp_path).retention.rollups()
    assert (kept.minute_s, kept.hour_s) == (35 * DAY, 400 * DAY)
    (tmp_path / "dashboard.yaml").write_text("retention:\n  minute_rollups: 7d\n  hour_rollups: 90d\n")
    kept = dashboard_config.load(tmp_path).retention.rollups()
    assert (kept.minute_s, kept.hour_s) == (7 * DAY, 90 * DAY)
    (tmp_path / "dashboard.yaml").write_text("refresh: 60s\nretention:\n  minute_rollups: 1d\n")
    with pytest.raises(ConfigError) as exc:
        dashboard_config.load(tmp_path)
    (issue,) = exc.value.issues
    assert (Path(issue.file).name, issue.line, issue.field) == (
        "dashboard.yaml",
        3,
        "retention.minute_rollups",
    )
    assert "at least 2d" in issue.message
    (tmp_path / "dashboard.yaml").write_text("retention:\n  minute_rollups: 40d\n  hour_rollups: 30d\n")
    with pytest.raises(ConfigError) as exc:
        dashboard_config.load(tmp_path)
    assert "hour_rollups must be at least minute_rollups" in str(exc.value)
