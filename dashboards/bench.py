"""``vitals bench dashboard``: server-side render time of every page with 1M and 10M stored spans.

For each size the benchmark builds (once, then reuses) a store shaped like the demo estate at a
steady ~330k spans a day (1M spans ~ 3 days, 10M ~ 30 days) with correlation keys, queue
samples and SLA evaluations every 30 s, folds it into the dashboard's rollups (timed: that is
the refresher's catch-up cost), then runs every page under ``streamlit.testing.v1.AppTest`` with
the query cache cleared before each run: script, queries and figures, everything but the
browser. It prints the median and the worst of ``--repeat`` runs per page and range.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from dashboards.benchstore import SLA_FILE, StoreInfo, build_store
from vitals.kernel.units import NS

# --------------------------------------------------------------------------- measuring


@dataclass(frozen=True)
class PageCase:
    label: str
    page: str
    params: dict[str, str]


def page_cases(info: StoreInfo, trace_id: str | None, key_hash: str | None) -> list[PageCase]:
    def iso(ns: int) -> str:
        return datetime.fromtimestamp(ns / NS, UTC).strftime("%Y-%m-%dT%H:%M")

    cases = []
    for range_label, seconds in (("1d", 86400), ("30d", 30 * 86400)):
        span = {
            "range": "custom",
            "from": iso(info.end_ns - seconds * NS),
            "to": iso(info.end_ns),
            "tz": "UTC",
        }
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
        began = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - began)
        if at.exception:
            raise click.ClickException(f"{case.label}: {at.exception[0].value}")
    return times


def _sample_ids(url: str) -> tuple[str | None, str | None]:
    from sqlalchemy import select

    from collector.tables import span_keys, spans
    from vitals.kernel.db import create_engine

    engine = create_engine(url)
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
    engine.dispose()
    return trace, key


def _size(text: str) -> int:
    text = text.strip().lower().replace("_", "")
    factor = 1
    if text.endswith("m"):
        factor, text = 1_000_000, text[:-1]
    elif text.endswith("k"):
        factor, text = 1_000, text[:-1]
    return int(float(text) * factor)


def _store_info(path: Path) -> StoreInfo | None:
    meta = path.with_suffix(".json")
    if not meta.exists():
        return None
    data = json.loads(meta.read_text())
    return StoreInfo(data["url"], data["spans"], data["start_ns"], data["end_ns"])


@click.command("dashboard")
@click.option(
    "--spans", "sizes", default="1M,10M", show_default=True, help="Store sizes, e.g. 1M,10M or 200k."
)
@click.option(
    "--dir",
    "directory",
    default=".vitals/bench",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the SQLite stores are kept and reused (10M spans take about 7 GB).",
)
@click.option(
    "--pg",
    "pg_url",
    default=None,
    help="Measure on PostgreSQL instead: an admin URL; stores go to databases vitals_bench_dashboard_<size>.",
)
@click.option("--rebuild", is_flag=True, help="Build the stores again even when they exist.")
@click.option("--repeat", default=3, show_default=True, type=click.IntRange(1, 50), help="Runs per page.")
@click.option("--seed", default=7, show_default=True)
def dashboard(
    *, sizes: str, directory: Path, pg_url: str | None, rebuild: bool, repeat: int, seed: int
) -> None:
    """Server-side render time of every dashboard page with 1M and 10M stored spans (goal: < 1 s)."""
    from dashboards.catalog import load_catalog
    from dashboards.rollup import refresh
    from vitals.kernel.db import create_engine, migrate

    directory.mkdir(parents=True, exist_ok=True)
    config_dir = Path(tempfile.mkdtemp(prefix="vitals-bench-config-"))
    (config_dir / "slas").mkdir()
    (config_dir / "slas" / "bench.yaml").write_text(SLA_FILE)
    pairs = load_catalog(config_dir).lag_pairs()
    results: list[tuple[str, str, float, float]] = []
    for size_text in sizes.split(","):
        total = _size(size_text)
        label = size_text.strip()
        if pg_url:
            url, info = _pg_store(pg_url, label, total, rebuild)
        else:
            path = directory / f"dashboard-{label}.db"
            url = f"sqlite:///{path}"
            info = None if rebuild else _store_info(path)
            if info is not None and info.spans < total:
                info = None
        click.echo(f"== {label} spans ({url})")
        if info is None:
            if not pg_url:
                for suffix in ("", "-wal", "-shm", ".json"):
                    Path(f"{directory / f'dashboard-{label}.db'}{suffix}").unlink(missing_ok=True)
            click.echo("  building the store (once; reused by later runs)")
            info = build_store(url, total, seed, click.echo)
            if not pg_url:
                (directory / f"dashboard-{label}.db").with_suffix(".json").write_text(
                    json.dumps(info.__dict__)
                )
        engine = create_engine(url)
        migrate(engine)  # a store built by an older version gets the newer tables
        began = time.perf_counter()
        report = refresh(engine, pairs, batch_size=100_000, horizon_s=0)  # a static, committed store
        took = time.perf_counter() - began
        if report.processed:
            rate = report.processed / took
            click.echo(f"  rollup catch-up: {report.processed:,} rows in {took:,.1f} s ({rate:,.0f} rows/s)")
        else:
            click.echo("  rollups already current")
        _sla_rollups(engine, config_dir, info)
        engine.dispose()
        trace, key = _sample_ids(url)
        click.echo(f"  {'page':32} {'median':>9} {'worst':>9}   ({repeat} cold runs each)")
        for case in page_cases(info, trace, key):
            times = measure_page(url, config_dir, case, repeat)
            median, worst = statistics.median(times), max(times)
            flag = "" if worst < 1.0 else "  <-- over 1 s"
            click.echo(f"  {case.label:32} {median * 1000:>7.0f}ms {worst * 1000:>7.0f}ms{flag}")
            results.append((label, case.label, median, worst))
    slowest = max(results, key=lambda r: r[3]) if results else None
    if slowest:
        click.echo(f"slowest: {slowest[1]} at {slowest[0]} spans, worst {slowest[3] * 1000:.0f} ms")


def _sla_rollups(engine: Any, config_dir: Path, info: StoreInfo) -> None:
    """The SLA engine's per-minute rollups of the store, as `vitals serve` keeps them: the SLA
    page and the scorecard's sparklines evaluate them. Built once (the engine's state is kept in
    the store), as of the store's end."""
    from slas.service import engine_from, load_config_dir

    slas = engine_from(engine, load_config_dir(config_dir), clock=lambda: info.end_ns)
    began = time.perf_counter()
    read = 0

    def progress(step: Any, _left: dict[str, int]) -> None:
        nonlocal read
        read += step.spans_read + step.points_read + step.backfilled

    slas.catch_up(progress)
    took = time.perf_counter() - began
    if read > 1000:
        click.echo(
            f"  SLA engine rollups: {read:,} telemetry rows in {took:,.1f} s ({read / took:,.0f} rows/s)"
        )
    else:
        click.echo("  SLA engine rollups already current")


def _pg_store(admin_url: str, label: str, total: int, rebuild: bool) -> tuple[str, StoreInfo | None]:
    """A database of its own per size next to ``admin_url`` (never the one given): reused if complete."""
    import psycopg
    from sqlalchemy import func, select
    from sqlalchemy.engine import make_url

    from collector.tables import spans
    from vitals.kernel.db import create_engine, normalize_url

    admin = make_url(normalize_url(admin_url))
    name = f"vitals_bench_dashboard_{label.lower()}"
    target = admin.set(database=name)
    conninfo = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None
        if exists and rebuild:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = False
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    url = target.render_as_string(hide_password=False)
    if not exists:
        return url, None
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            count, low, high = conn.execute(
                select(
                    func.count(),
                    func.min(spans.c.start_time_unix_nano),
                    func.max(spans.c.start_time_unix_nano),
                )
            ).one()
    except Exception:
        count, low, high = 0, None, None
    engine.dispose()
    if count < total or low is None:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        return url, None
    hour = 3600 * NS
    return url, StoreInfo(url, int(count), int(low) // hour * hour, -(-int(high) // hour) * hour)
