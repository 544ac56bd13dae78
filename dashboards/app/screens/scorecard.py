"""Executive scorecard: are we keeping our promises, and if not, where and what does it cost?"""

from __future__ import annotations

from concurrent.futures import Future
from datetime import datetime
from html import escape
from urllib.parse import urlencode

import streamlit as st

from dashboards import views, worst
from dashboards.figures import slo as slo_fig
from dashboards.queries.evaluations import SeriesKey
from dashboards.timerange import to_datetime
from dashboards.ui import business as business_ui
from dashboards.ui import cached, parallel, trends, widgets
from dashboards.ui.frame import PageContext, banners, render
from slas import Evaluation

SPARK_POINTS = 40


def tile(
    ctx: PageContext,
    t: views.Tile,
    spark: dict[str, tuple[list[datetime], list[float | None]]],
    whole: Evaluation | None = None,
) -> None:
    """One SLA: its worst part leads (a slice in breach under a fine whole), the whole beside it."""
    with st.container(border=True, key=f"tile-{t.sla_id}"):
        st.markdown(
            widgets.badge_html(t.status) + f" &nbsp;<small>{escape(t.priority)} · {escape(t.owner)}</small>",
            unsafe_allow_html=True,
        )
        # The whole title, wrapped: a page link's label is cut to one line ("... (posted mor").
        st.markdown(widgets.tile_title_html(t.title), unsafe_allow_html=True)
        st.metric(
            "SLI",
            # which slice, when one leads in its SLA's place (a facility filter names it already)
            worst.sli_text(t.sli, t.slice if whole is not None else None),
            help=f"{t.kind} SLI of {t.sla_id}{f' ({t.slice})' if t.slice else ''} against its objective",
            label_visibility="collapsed",
        )
        if whole is not None:
            st.caption(worst.whole_text(whole, widgets.status_text))
        st.caption(f"{t.target_text} · {views.budget_text(t, ctx.fmt)}")
        if t.at_risk_amount:
            # The SLA's window, named next to the number: the business figures follow the range.
            st.caption(business_ui.at_risk_text(t.kind, t.window_label, t.at_risk_amount))
        xs, ys = spark.get(t.sla_id, ([], []))
        if any(y is not None for y in ys):
            # no toolbar: on a phone it would cover the whole line
            widgets.chart(
                slo_fig.sparkline(xs, ys, t.objective, t.status), key=f"spark-{t.sla_id}", toolbar=False
            )
        if t.note:
            st.caption(f":material/info: {t.note}")
        st.page_link(
            "screens/sla.py",
            label="SLA detail and bad events",
            icon=":material/target:",
            help=t.title,
            query_params=tile_link(ctx, t),
        )


def tile_link(ctx: PageContext, t: views.Tile) -> dict[str, str]:
    """The SLA page of a tile, on a range that holds the bad events behind a failing status."""
    params = ctx.page_params(sla=t.sla_id, slice=t.slice or "")
    opens = worst.evidence_range(t.status, t.window_s or 0.0, ctx.tr.seconds)
    if opens is None:
        return params
    return {k: v for k, v in params.items() if k not in ("from", "to")} | {"range": opens}


def start_trends(
    ctx: PageContext, tiles: list[views.Tile], batch: parallel.Batch
) -> dict[str, Future[trends.Trend]]:
    end = min(ctx.tr.end_ns, ctx.now_ns)
    out = {}
    for t in tiles:
        if t.evaluated_at_ns is None:
            continue
        # Each trend ends where its tile's number was evaluated, so the two agree.
        until = t.evaluated_at_ns if ctx.tr.start_ns < t.evaluated_at_ns <= end else end
        out[t.sla_id] = batch.submit(
            trends.trend,
            ctx.url,
            ctx.catalog,
            SeriesKey(t.sla_id, t.slice),
            start_ns=ctx.tr.start_ns,
            end_ns=until,
            points=SPARK_POINTS,
        )
    return out


def tiles_section(
    ctx: PageContext,
    tiles: list[views.Tile],
    trend_queries: dict[str, Future[trends.Trend]],
    wholes: dict[str, Evaluation] | None = None,
) -> None:
    st.subheader("SLA scorecard", anchor="scorecard")
    if not tiles:
        widgets.no_data(
            "No SLAs yet: put SLA files under `slas/` in the config directory "
            f"(`{ctx.res.settings.config_dir}`) and start `vitals serve`."
        )
        return
    spark: dict[str, tuple[list[datetime], list[float | None]]] = {}
    for sla_id, query in trend_queries.items():
        found = query.result()
        spark[sla_id] = ([to_datetime(a, ctx.tz) for a in found.times_ns], list(found.sli))
    for domain, in_domain in views.group_by_domain(tiles):
        st.markdown(f"#### {views.domain_title(domain)}")
        columns = st.columns(3)
        for index, t in enumerate(in_domain):
            with columns[index % 3]:
                tile(ctx, t, spark, (wholes or {}).get(t.sla_id))


def status_summary(ctx: PageContext, tiles: list[views.Tile]) -> None:
    """How many SLAs are breached, at risk and fine, and the worst of them, before anything else:
    on a phone (390 px wide) it is the first screen, above the business figures."""
    if not tiles:
        return
    counts = {s: sum(1 for t in tiles if t.status == s) for s in ("breach", "warning", "ok", "no-data")}
    with st.container(key="status-summary"):
        st.markdown(
            "**SLAs:** "
            + " &nbsp; ".join(f"{widgets.badge_html(s)} {n}" for s, n in counts.items() if n)
            + f" &nbsp;<small>of {len(tiles)}</small>",
            unsafe_allow_html=True,
        )
        failing = [t for t in tiles if t.status in ("breach", "warning")][:3]  # worst first
        if failing:
            st.markdown(
                "Worst: "
                + " · ".join(
                    f"[{escape(t.title)}](sla?{urlencode(tile_link(ctx, t))}) "
                    f"({escape(worst.sli_text(t.sli, t.slice))})"
                    for t in failing
                ),
            )


def body(ctx: PageContext) -> None:
    st.title("Executive scorecard")
    banners(ctx, needs_telemetry=False, needs_evaluations=True)
    evaluations = cached.latest_evaluations(ctx.url, min(ctx.tr.end_ns, ctx.now_ns))
    tiles, wholes = worst.worst_tiles(views.build_tiles(evaluations, ctx.catalog, ctx.filters), evaluations)
    with parallel.Batch() as batch:  # every query of the page starts now; the layout waits on each
        headlines = business_ui.start(ctx, batch) if ctx.status.has_telemetry else None
        trend_queries = start_trends(ctx, tiles, batch)
        status_summary(ctx, tiles)
        if headlines is not None:
            business_ui.section(ctx, headlines)
        tiles_section(ctx, tiles, trend_queries, wholes)


render("scorecard", body)
