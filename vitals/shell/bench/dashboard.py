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
from vitals.shell.bench.common import (
    Figure,
    Stopwatch,
    now_option,
    out_option,
    parse_sizes,
    report,
    say,
    seed_option,
)
from vitals.shell.bench.history import SIMULATOR_SPANS_PER_DAY, History, plan_for, write_history

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


@dataclass(frozen=True)
class Place:
    """Where one size's store lives: its URL, the file that describes its history, how to empty it."""

    url: str
    meta: Path
    pg_admin: str | None = None
    pg_name: str | None = None


def _place(directory: Path, label: str, pg_url: str | None) -> Place:
    if not pg_url:
        return Place(
            f"sqlite:///{directory / f'dashboard-{label}.db'}", directory / f"dashboard-{label}.json"
        )
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


def _empty(place: Place) -> None:
    """Remove the store (file or database) so it can be built again."""
    place.meta.unlink(missing_ok=True)
    if place.pg_admin is None:
        path = Path(place.url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    import psycopg

    with psycopg.connect(place.pg_admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{place.pg_name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{place.pg_name}"')


def _exists(place: Place) -> bool:
    if place.pg_admin is not None:
        return True  # the database is created (empty) with the place; its description says what it holds
    return Path(place.url.removeprefix("sqlite:///")).exists()


def store_for(
    place: Place, total: int, *, seed: int, now: datetime, spans_per_day: int, rebuild: bool
) -> History:
    """The store of ``total`` spans at ``place``: the one built earlier, or a new one."""
    plan = plan_for(total, seed=seed, now=now, rate_scale=spans_per_day / SIMULATOR_SPANS_PER_DAY)
    found = History.load(place.meta)
    if not rebuild and found is not None and found.built_as(plan) and _exists(place):
        end = datetime.fromtimestamp(found.end_ns / NS, UTC)
        say(f"  reusing the store built up to {end:%Y-%m-%d %H:%M} UTC (--rebuild builds it again)")
        return found
    _empty(place)
    say(f"  building the store: {plan.days:.1f} days of simulated history (once; reused by later runs)")
    watch = Stopwatch()
    history = write_history(place.url, plan)
    if place.pg_admin is not None:
        _analyze(place.url)
    say(
        f"  built in {watch.seconds:,.0f} s: {history.spans:,} spans and {history.metric_points:,} queue "
        f"samples over {history.days:.1f} days"
    )
    history.save(place.meta)
    return history


def _analyze(url: str) -> None:
    """What autovacuum would do after such a load: without statistics the planner scans."""
    from vitals.kernel.db import create_engine

    engine = create_engine(url)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()


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
@click.option(
    "--spans-per-day",
    default=SPANS_PER_DAY,
    show_default=True,
    type=click.IntRange(1000),
    help="Density of the simulated history (sets how many days a size covers).",
)
@click.option(
    "--dir",
    "directory",
    default=".vitals/bench",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the SQLite stores (and the description of every store) are kept and reused "
    "(10M spans take about 7 GB).",
)
@click.option(
    "--pg",
    "pg_url",
    default=None,
    help="Measure on PostgreSQL instead: an admin URL; stores go to databases vitals_bench_dashboard_<size>.",
)
@click.option("--rebuild", is_flag=True, help="Build the stores again even when they exist.")
@click.option("--repeat", default=3, show_default=True, type=click.IntRange(1, 50), help="Runs per page.")
@seed_option()
@now_option("End of the simulated history of a store this run builds (truncated to the hour).")
@out_option()
def dashboard(
    *,
    sizes: str,
    spans_per_day: int,
    directory: Path,
    pg_url: str | None,
    rebuild: bool,
    repeat: int,
    seed: int,
    now: datetime,
    out: Path | None,
) -> None:
    """Server-side render time of every dashboard page with 1M and 10M stored spans (goal: < 1 s)."""
    from vitals.kernel.db import create_engine, migrate

    directory.mkdir(parents=True, exist_ok=True)
    hour = now.replace(minute=0, second=0, microsecond=0)
    figures: list[Figure] = []
    for label, total in parse_sizes(sizes):
        place = _place(directory, label, pg_url)
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


__all__ = ["dashboard", "page_cases", "store_for"]
