"""``vitals bench dashboard``: server-side render time of every page with 1M and 10M stored spans.

For each size the benchmark builds (once, then reuses) a store of the demo estate's simulated
history (:mod:`vitals.shell.bench.history`: the simulator's telemetry stored through the
collector's own conversion) at ``--spans-per-day`` (1M spans ~ 3 days, 10M ~ 30 days at the
default), folds it into the dashboard's rollups (timed: that is the refresher's catch-up cost),
lets the SLA engine catch up on it and evaluate once, as ``vitals serve`` would, then runs every
page under ``streamlit.testing.v1.AppTest`` with the query cache cleared before each run: script,
queries and figures, everything but the browser. It prints the median and the worst of
``--repeat`` runs per page and range, against the goal of one second.
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from sqlalchemy.engine import Engine

from vitals.kernel.settings import STARTER_CONFIG_DIR
from vitals.kernel.units import NS
from vitals.shell.bench.common import Figure, Stopwatch, out_option, parse_sizes, report, say
from vitals.shell.bench.history import History, Place, store_for, store_options

#: Every page should render within this, whatever the store's size.
GOAL_S = 1.0
#: The density of the stores: a busy three-facility estate (the simulator's default is ~57k a day).
SPANS_PER_DAY = 333_000

# --------------------------------------------------------------------------- measuring


@dataclass(frozen=True)
class PageCase:
    label: str
    page: str
    params: dict[str, str]


def page_cases(end_ns: int, trace_id: str | None, key_hash: str | None) -> list[PageCase]:
    """Every page over the last day and the last 30 days before ``end_ns`` (a trace's page once)."""

    def iso(ns: int) -> str:
        return datetime.fromtimestamp(ns / NS, UTC).strftime("%Y-%m-%dT%H:%M")

    cases = []
    for range_label, seconds in (("1d", 86400), ("30d", 30 * 86400)):
        span = {"range": "custom", "from": iso(end_ns - seconds * NS), "to": iso(end_ns), "tz": "UTC"}
        cases += [
            PageCase(f"scorecard {range_label}", "scorecard", span),
            PageCase(f"sla charge-lag {range_label}", "sla", {**span, "sla": "charge-lag"}),
            PageCase(f"sla gl-posting-errors {range_label}", "sla", {**span, "sla": "gl-posting-errors"}),
            PageCase(f"operations {range_label}", "operations", span),
            PageCase(f"traces search {range_label}", "traces", span),
            PageCase(f"traces errors {range_label}", "traces", {**span, "status": "error"}),
            PageCase(f"dependencies {range_label}", "dependencies", span),
        ]
        if range_label == "1d" and trace_id and key_hash:
            cases.append(
                PageCase("traces waterfall+journey", "traces", {**span, "trace": trace_id, "key": key_hash})
            )
        cases.append(PageCase(f"alerts {range_label}", "alerts", span))
    return cases


def measure_page(url: str, config_dir: Path, case: PageCase, repeat: int) -> list[float]:
    """Seconds per render of one page, its query cache cleared before each run.

    One AppTest per page, opened once (as a browser tab would be): what is timed is the rerun of
    the app script with the page (sidebar, queries, figures, element tree), not AppTest's own
    start-up scan of installed components, which a running server does once.
    """
    import streamlit as st
    from streamlit.logger import set_log_level
    from streamlit.testing.v1 import AppTest

    set_log_level("error")  # AppTest runs without a server: no "no runtime" chatter in the figures

    from dashboards.cli import APP

    pages = {
        "sla": "screens/sla.py",
        "operations": "screens/operations.py",
        "traces": "screens/traces.py",
        "dependencies": "screens/dependencies.py",
        "alerts": "screens/alerts.py",
    }
    os.environ.update({"VITALS_DB": url, "VITALS_CONFIG": str(config_dir), "VITALS_DASHBOARD_ROLLUPS": "off"})
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params.update(case.params)
    at.run()
    if case.page != "scorecard":
        at.switch_page(pages[case.page])
        at.run()
    times = []
    for _ in range(repeat):
        st.cache_data.clear()
        watch = Stopwatch()
        at.run()
        times.append(watch.seconds)
        if at.exception:
            raise click.ClickException(f"{case.label}: {at.exception[0].value}")
    return times


def sample_ids(engine: Engine) -> tuple[str | None, str | None]:
    """A GL posting's trace and a charge's key hash: the waterfall and journey the traces page shows."""
    from sqlalchemy import select

    from collector.tables import span_keys, spans

    with engine.connect() as conn:
        trace = conn.execute(
            select(spans.c.trace_id).where(spans.c.name == "erp.gl.post").order_by(spans.c.id.desc()).limit(1)
        ).scalar()
        key = conn.execute(
            select(span_keys.c.key_hash)
            .where(span_keys.c.key_name == "charge")
            .order_by(span_keys.c.id.desc())
            .limit(1)
        ).scalar()
    return trace, key


# --------------------------------------------------------------------------- the stores


def _place(directory: Path, label: str, pg_url: str | None) -> Place:
    """Where the store of one size lives: a SQLite file in ``directory``, or a database on ``pg_url``."""
    if not pg_url:
        return Place.sqlite(directory / f"dashboard-{label}.db")
    from sqlalchemy.engine import make_url

    from vitals.kernel.db import normalize_url

    admin = make_url(normalize_url(pg_url))
    name = f"vitals_bench_dashboard_{label.lower()}"
    return Place(
        admin.set(database=name).render_as_string(hide_password=False),
        directory / f"dashboard-pg-{label}.json",
        admin.set(drivername="postgresql").render_as_string(hide_password=False),
        name,
    )


def rollups(engine: Engine, history: History) -> Figure | None:
    """Fold the store into the dashboard's rollups (the refresher's catch-up after a bulk load)."""
    from dashboards.rollup import refresh

    watch = Stopwatch()
    done = refresh(engine, batch_size=100_000, horizon_s=0, clock=lambda: history.end_ns)  # static, committed
    seconds = watch.seconds
    if not done.processed:
        say("  dashboard rollups already current")
        return None
    say(f"  dashboard rollups: {done.processed:,} rows in {seconds:,.1f} s")
    return Figure(
        "dashboard rollups catch-up", done.processed / seconds, "rows/s", detail=f"{done.processed:,} rows"
    )


def sla_engine(engine: Engine, config_dir: Path, history: History) -> Figure | None:
    """The SLA engine's per-minute rollups of the store and one evaluation at its end, as
    ``vitals serve`` keeps them: the SLA page and the scorecard evaluate the rollups and show the
    evaluation. Built once (the engine's state is kept in the store)."""
    from slas.service import engine_from, load_config_dir

    slas = engine_from(engine, load_config_dir(config_dir), clock=lambda: history.end_ns)
    watch = Stopwatch()
    read = 0

    def progress(step: Any, _left: dict[str, int]) -> None:
        nonlocal read
        read += step.spans_read + step.points_read + step.backfilled

    slas.catch_up(progress)
    seconds = watch.seconds
    slas.tick()
    if read <= 1000:
        say("  SLA engine rollups already current")
        return None
    say(f"  SLA engine rollups: {read:,} telemetry rows in {seconds:,.1f} s")
    return Figure("SLA engine catch-up", read / seconds, "rows/s", detail=f"{read:,} telemetry rows")


@click.command("dashboard")
@click.option(
    "--spans", "sizes", default="1M,10M", show_default=True, help="Store sizes, e.g. 1M,10M or 200k."
)
@store_options(
    spans_per_day=SPANS_PER_DAY,
    folder=".vitals/bench",
    folder_help="Where the SQLite stores (and the description of every store) are kept and reused "
    "(10M spans take about 7 GB).",
    now_help=" (truncated to the hour)",
)
@click.option(
    "--pg",
    "pg_url",
    default=None,
    help="Measure on PostgreSQL instead: an admin URL; stores go to databases vitals_bench_dashboard_<size>.",
)
@click.option("--repeat", default=3, show_default=True, type=click.IntRange(1, 50), help="Runs per page.")
@out_option()
def dashboard(
    *,
    sizes: str,
    spans_per_day: int,
    folder: Path,
    rebuild: bool,
    seed: int,
    now: datetime,
    pg_url: str | None,
    repeat: int,
    out: Path | None,
) -> None:
    """Server-side render time of every dashboard page with 1M and 10M stored spans (goal: < 1 s)."""
    from vitals.kernel.db import create_engine, migrate

    folder.mkdir(parents=True, exist_ok=True)
    hour = now.replace(minute=0, second=0, microsecond=0)
    figures: list[Figure] = []
    for label, total in parse_sizes(sizes):
        place = _place(folder, label, pg_url)
        say(f"== {label} spans ({place.url})")
        history = store_for(place, total, seed=seed, now=hour, spans_per_day=spans_per_day, rebuild=rebuild)
        engine = create_engine(place.url)
        migrate(engine)  # a store built by an older version gets the newer tables
        for figure in (rollups(engine, history), sla_engine(engine, STARTER_CONFIG_DIR, history)):
            if figure is not None:
                figures.append(replace(figure, measure=f"{label}: {figure.measure}"))
        trace, key = sample_ids(engine)
        engine.dispose()
        say(f"  {'page':32} {'median':>9} {'worst':>9}   ({repeat} cold runs each)")
        for case in page_cases(history.end_ns, trace, key):
            times = measure_page(place.url, STARTER_CONFIG_DIR, case, repeat)
            median, worst = statistics.median(times), max(times)
            say(f"  {case.label:32} {median * 1000:>7.0f}ms {worst * 1000:>7.0f}ms")
            figures.append(
                Figure(
                    f"{label}: {case.label}",
                    median * 1000,
                    "ms",
                    detail=f"worst {worst * 1000:,.0f} of {repeat}",
                    reference="within the 1 s goal" if worst < GOAL_S else "OVER the 1 s goal",
                )
            )
    report(figures, out)


__all__ = ["dashboard", "page_cases"]
