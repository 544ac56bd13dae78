"""Lag objects have their own retention (``lag_object_retention``, 90 days by default): the SLI
history outlives them in the per-minute rollups (SQLite and PostgreSQL, injected clock)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from slas.engine import SlaEngine
from slas.loading import load_sla_path
from slas.source import SqlTelemetrySource
from slas.spec import EvaluationSettings
from slas.store import SqlStateStore
from slas.tables import sla_lag_objects, sla_minutes
from tests.slas.helpers import DAY, HOUR, Clock, Timeline, make_sla
from tests.slas.test_store import store_spans
from vitals.kernel.configfile import ConfigError
from vitals.kernel.units import NS

LAG = {"lag": {"from": {"stage": "a"}, "to": {"stage": "b"}, "key": "claim", "within": "1h"}}


def test_counted_lag_objects_expire_after_lag_object_retention_not_retention(engine: Engine) -> None:
    tl = Timeline()
    sla = make_sla(objective="50%", sli=LAG)  # a 1-day window: the engine needs ~3 days of objects
    store_spans(
        engine,
        [
            tl.span(0, hc__stage="a", hc__key__claim="on-time", hc__amount=5.0),
            tl.span(600, hc__stage="b", hc__key__claim="on-time"),
            tl.span(60, hc__stage="a", hc__key__claim="late", hc__amount=7.5),
        ],
    )
    settings = EvaluationSettings(lag_object_retention=10 * DAY)
    clock = Clock(2 * HOUR)
    sla_engine = SlaEngine(
        [sla], SqlStateStore(engine), SqlTelemetrySource(engine), clock=clock, settings=settings
    )
    ev = sla_engine.tick().evaluations[0]
    assert (ev.good, ev.total, ev.at_risk_amount) == (1, 2, 7.5)
    with engine.connect() as conn:
        expiry = dict(
            conn.execute(select(sla_lag_objects.c.key_hash, sla_lag_objects.c.expires_unix_nano)).all()
        )
    deadlines = sorted(expiry.values())
    # deadline (start + 1h) + 10 days, not + the 400 days of ``retention``
    t0 = Clock(0).now
    assert deadlines == [t0 + (HOUR + 10 * DAY) * NS, t0 + (60 + HOUR + 10 * DAY) * NS]

    clock.set(11 * DAY)  # past the objects' retention, well inside the rollups' 400 days
    SlaEngine([sla], SqlStateStore(engine), SqlTelemetrySource(engine), clock=clock, settings=settings).tick()
    with engine.connect() as conn:
        objects = conn.execute(select(func.count()).select_from(sla_lag_objects)).scalar_one()
        bad = conn.execute(
            select(func.coalesce(func.sum(sla_minutes.c.bad), 0)).where(sla_minutes.c.sla_id == "t")
        ).scalar_one()
    assert objects == 0
    assert bad == 1  # the late object still counts in the SLI history


def test_objects_are_kept_as_long_as_the_window_needs_them(engine: Engine) -> None:
    tl = Timeline()
    sla = make_sla(objective="50%", window="28d", sli=LAG)
    store_spans(engine, [tl.span(0, hc__stage="a", hc__key__claim="late")])
    clock = Clock(2 * HOUR)
    SlaEngine(
        [sla],
        SqlStateStore(engine),
        SqlTelemetrySource(engine),
        clock=clock,
        settings=EvaluationSettings(lag_object_retention=1 * DAY),
    ).tick()
    with engine.connect() as conn:
        (expires,) = conn.execute(select(sla_lag_objects.c.expires_unix_nano)).scalars().all()
    assert expires - Clock(HOUR).now >= 28 * DAY * NS  # the 28-day window wins over 1 day


def test_lag_object_retention_is_set_in_the_evaluation_block_and_checked(tmp_path: Path) -> None:
    assert EvaluationSettings().lag_object_retention == 90 * DAY
    folder = tmp_path / "slas"
    folder.mkdir()
    (folder / "a.yaml").write_text("evaluation:\n  lag_object_retention: 30d\n")
    assert load_sla_path(folder).evaluation.lag_object_retention == 30 * DAY
    (folder / "a.yaml").write_text("evaluation:\n  retention: 400d\n  lag_object_retention: 6h\n")
    with pytest.raises(ConfigError) as exc:
        load_sla_path(folder)
    (issue,) = exc.value.issues
    assert (Path(issue.file).name, issue.line, issue.field) == (
        "a.yaml",
        3,
        "evaluation.lag_object_retention",
    )
    assert "at least 1d" in issue.message
