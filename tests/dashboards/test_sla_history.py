"""SLA history from the SLA engine's per-minute rollups: the numbers the engine reports then.

The store is filled with the known estate and run through the real SLA engine (its rollups and
one evaluation tick, as `vitals serve` would after a back-fill). The charts must show the SLI and
error budget the engine computes at each sampled instant, not the one evaluation it stored.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete
from sqlalchemy.engine import Engine
from streamlit.testing.v1 import AppTest

from dashboards import views
from dashboards.catalog import load_catalog
from dashboards.rollup import refresh
from slas.engine import SlaEngine
from slas.history import sla_history, summable
from slas.model import Evaluation
from slas.service import engine_from, load_config_dir
from slas.tables import sla_evaluations
from tests.dashboards import estate
from tests.dashboards.conftest import no_exceptions, open_page, texts
from vitals.kernel.units import NS


@dataclass
class EngineStore:
    url: str
    engine: Engine
    config_dir: Path
    estate: estate.Estate
    slas: SlaEngine
    now_ns: int

    def engine_says(self, sla_id: str, slice_: str | None, at_ns: int) -> Evaluation:
        return next(e for e in self.slas.evaluate(at_ns, ids=[sla_id]) if e.slice == slice_)


#: SLAs that take the other paths and shapes: a calendar window, a correction, a sliced gauge,
#: a gauge counted only during set hours (with the estate's own, which cover every SLI kind).
EXTRA_SLAS = """\
slas:
  - id: charges-this-month
    title: Charges post within 6 h, per calendar month
    domain: revenue-cycle
    owner: revenue-integrity
    priority: P3
    objective: 90%
    window: {{calendar: month, time_zone: America/Chicago}}
    slice_by: [hc.facility]
    sli:
      lag:
        from: {{stage: procedure.documented}}
        to: {{stage: charge.posted}}
        key: charge
        within: 6h
  - id: gl-maintenance
    title: GL postings succeed outside maintenance
    domain: finance
    owner: erp-integration
    priority: P2
    objective: 95%
    window: 1d
    corrections:
      - {{reason: ERP maintenance, start: "{maintenance_start}", end: "{maintenance_end}"}}
    sli:
      ratio:
        total: {{span: erp.gl.post}}
        bad: {{status: error}}
  - id: queue-depth
    title: Queues stay short
    domain: integration
    owner: integration-oncall
    priority: P3
    objective: 90%
    window: 6h
    slice_by: [queue]
    sli:
      gauge:
        metric: queue.depth
        max: 100
  - id: queue-depth-day
    title: Queues stay short in the day
    domain: integration
    owner: integration-oncall
    priority: P3
    objective: 90%
    window: 6h
    sli:
      gauge:
        metric: queue.depth
        max: 100
        during: {{times: [{{start_time: "06:00", end_time: "22:00"}}], location: UTC}}
"""


def _run_engine(engine: Engine, url: str, config_dir: Path, *, extra: bool) -> EngineStore:
    est = estate.build(engine)
    if extra:
        maintenance = datetime.fromtimestamp(est.now_s - 5 * 3600, UTC)
        (config_dir / "slas" / "extra.yaml").write_text(
            EXTRA_SLAS.format(
                maintenance_start=maintenance.isoformat(),
                maintenance_end=(maintenance + timedelta(hours=2)).isoformat(),
            )
        )
    with engine.begin() as conn:  # only what the engine itself writes
        conn.execute(delete(sla_evaluations))
    now = int(est.now_s * NS)
    slas = engine_from(engine, load_config_dir(config_dir), clock=lambda: now)
    slas.catch_up()
    assert slas.tick().evaluations
    refresh(engine, horizon_s=0, edge_timing=estate.SETTLED, clock=lambda: now)
    return EngineStore(url, engine, config_dir, est, slas, now)


@pytest.fixture
def engine_store(engine: Engine, store_url: str, tmp_path: Path) -> EngineStore:
    return _run_engine(engine, store_url, estate.write_config(tmp_path / "config"), extra=True)


@pytest.fixture
def sqlite_engine_store(sqlite_engine: Engine, sqlite_url: str, tmp_path: Path) -> EngineStore:
    return _run_engine(sqlite_engine, sqlite_url, estate.write_config(tmp_path / "config"), extra=False)


@pytest.mark.parametrize(("days", "points"), [(2, 37), (0.5, 120), (40, 40)])
def test_history_equals_the_engine_at_every_instant(
    engine_store: EngineStore, days: float, points: int
) -> None:
    """Every SLA and slice, both ways of computing (window sums, minute by minute)."""
    catalog = load_catalog(engine_store.config_dir)
    assert {summable(sla) for sla in catalog.definitions} == {True, False}
    start = engine_store.now_ns - int(days * 86400 * NS)
    checked = 0
    for sla in catalog.definitions:
        slices: list[str | None] = [None]
        if sla.slice_by:
            now = engine_store.now_ns
            slices += sorted({e.slice for e in engine_store.slas.evaluate(now, ids=[sla.id]) if e.slice})
        for slice_ in slices:
            found = sla_history(
                engine_store.engine, sla, slice_, start_ns=start, end_ns=engine_store.now_ns, points=points
            )
            assert found.usable, (sla.id, found.reason)
            assert 2 <= len(found.points) <= points + 1
            assert found.points[-1].at_ns == engine_store.now_ns
            assert found.points[0].at_ns >= start
            for shown in found.points:
                said = engine_store.engine_says(sla.id, slice_, shown.at_ns)
                assert (shown.sli, shown.budget_remaining, shown.good, shown.total) == (
                    said.sli,
                    said.budget_remaining,
                    said.good,
                    said.total,
                ), (sla.id, slice_, shown.at_ns)
                checked += 1
    assert checked > 20 * len(catalog.definitions)


def test_history_moves_with_the_estate(engine_store: EngineStore) -> None:
    """Not a flat line: the estate's day moves the GL SLI and the charge budget."""
    catalog = load_catalog(engine_store.config_dir)
    for sla_id in ("gl-posting-errors", "charge-lag"):
        sla = catalog.definition(sla_id)
        assert sla is not None
        found = sla_history(
            engine_store.engine,
            sla,
            None,
            start_ns=engine_store.now_ns - 86400 * NS,
            end_ns=engine_store.now_ns,
            points=40,
        )
        assert len({p.budget_remaining for p in found.points if p.sli is not None}) > 3, sla_id


def test_history_says_why_when_the_engine_has_not_registered_the_sla(store: Any) -> None:
    """The estate's store (the engine ran its lag SLAs only): the GL SLA is not registered."""
    sla = load_catalog(store.config_dir).definition("gl-posting-errors")
    assert sla is not None
    found = sla_history(store.engine, sla, None, start_ns=0, end_ns=3600 * NS, points=10)
    assert not found.usable and "not registered" in (found.reason or "")


def _spec(at: AppTest, title: str) -> dict[str, Any]:
    for element in at.get("plotly_chart"):
        spec: dict[str, Any] = json.loads(element.proto.spec)
        text = spec["layout"].get("title")
        if isinstance(text, dict) and text.get("text") == title:
            return spec
    raise AssertionError(f"no chart titled {title!r}")


def _instants(xs: Sequence[str]) -> list[int]:
    return [int(datetime.fromisoformat(x).timestamp() * 1_000_000) * 1000 for x in xs]


def test_sla_page_charts_follow_the_engine_and_end_at_the_headline(
    sqlite_engine_store: EngineStore, app_env: pytest.MonkeyPatch
) -> None:
    s = sqlite_engine_store
    hi = s.estate.now_s + 60
    params = {
        "range": "custom",
        "from": datetime.fromtimestamp(hi - 86400, UTC).strftime("%Y-%m-%dT%H:%M"),
        "to": datetime.fromtimestamp(hi, UTC).strftime("%Y-%m-%dT%H:%M"),
        "tz": "UTC",
        "sla": "charge-lag",
    }
    at = open_page(app_env, s.url, s.config_dir, "sla", params)
    no_exceptions(at)
    headline = s.engine_says("charge-lag", None, s.now_ns)
    assert headline.budget_remaining is not None
    assert f"Error budget left: {views.pct(headline.budget_remaining, 1)}" in texts(at)
    sli = _spec(at, "SLI against objective")["data"][0]
    burn = _spec(at, "Error-budget burn-down")["data"][0]
    assert len(sli["y"]) == len(burn["y"]) > 100  # one stored evaluation, yet a whole day drawn
    # the burn-down ends at the headline's instant, with the headline's number
    assert _instants(burn["x"])[-1] == s.now_ns
    assert burn["y"][-1] == pytest.approx(headline.budget_remaining * 100)
    for when, sli_pct, budget_pct in zip(_instants(sli["x"]), sli["y"], burn["y"], strict=True):
        engine_said = s.engine_says("charge-lag", None, when)
        assert (sli_pct is None) == (engine_said.sli is None)
        if engine_said.sli is not None:
            assert sli_pct == pytest.approx(engine_said.sli * 100)
            assert budget_pct == pytest.approx((engine_said.budget_remaining or 0) * 100)
    assert "per-minute rollups" in texts(at)


def test_scorecard_sparklines_follow_the_engine(
    sqlite_engine_store: EngineStore, app_env: pytest.MonkeyPatch
) -> None:
    s = sqlite_engine_store
    at = open_page(app_env, s.url, s.config_dir, "scorecard", {"tz": "UTC"})
    no_exceptions(at)
    sparks = [json.loads(e.proto.spec) for e in at.get("plotly_chart")]
    sparks = [spec for spec in sparks if spec["layout"].get("height") == 70]
    assert sparks
    block: Any = at.get_by_key("tile-gl-posting-errors")
    (spark,) = [json.loads(e.proto.spec) for e in block.get("plotly_chart")]
    line = spark["data"][0]
    assert len(line["y"]) > 20  # a trend, not a lone point beside a dashed objective
    for when, sli_pct in zip(_instants(line["x"]), line["y"], strict=True):
        engine_said = s.engine_says("gl-posting-errors", None, when).sli
        assert sli_pct == (None if engine_said is None else pytest.approx(engine_said * 100))
    # the trend ends at the tile's own number
    assert views.pct(line["y"][-1] / 100) == str(block.metric[0].value)


def test_a_range_the_engine_has_no_data_for_says_so_instead_of_empty_charts(
    sqlite_engine_store: EngineStore, app_env: pytest.MonkeyPatch
) -> None:
    s = sqlite_engine_store
    hi = s.estate.now_s - 20 * 86400  # weeks before the estate's first span
    params = {
        "range": "custom",
        "from": datetime.fromtimestamp(hi - 86400, UTC).strftime("%Y-%m-%dT%H:%M"),
        "to": datetime.fromtimestamp(hi, UTC).strftime("%Y-%m-%dT%H:%M"),
        "tz": "UTC",
        "sla": "gl-posting-errors",
    }
    at = open_page(app_env, s.url, s.config_dir, "sla", params)
    no_exceptions(at)
    assert s.engine_says("gl-posting-errors", None, int(hi * NS)).sli is None
    titles = [json.loads(e.proto.spec)["layout"].get("title", {}).get("text") for e in at.get("plotly_chart")]
    assert "SLI against objective" not in titles and "Error-budget burn-down" not in titles
    assert any("No data: at every instant" in str(i.value) for i in at.info)
