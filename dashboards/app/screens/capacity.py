"""Capacity: per queue and interface, the next month-end peak and its headroom, backlog clear times."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st
from sqlalchemy.engine import Engine

from dashboards.figures import capacity as capacity_fig
from dashboards.queries import capacity as q
from dashboards.ui import widgets
from dashboards.ui.frame import PageContext, banners, render
from dashboards.ui.resources import engine_for

#: The forecast is refitted at most this often (it changes by the hour, not the second).
_REFIT_S = 300


@st.cache_data(ttl=_REFIT_S, show_spinner="Fitting the forecasts...")
def _page(url: str, config_dir: str, now_bucket: int) -> q.CapacityPage:
    engine: Engine = engine_for(url)
    return q.load_page(engine, Path(config_dir), float(now_bucket * _REFIT_S))


def body(ctx: PageContext) -> None:
    st.title("Capacity")
    if not banners(ctx):
        return
    page = _page(ctx.url, str(ctx.res.settings.config_dir), int(ctx.now_ns / 1e9) // _REFIT_S)
    if page.problem:
        st.error(f"**capacity.yaml has errors:**\n\n```\n{page.problem}\n```", icon=":material/error:")
        return
    if not page.rows:
        widgets.no_data("No queue gauges or hc.stage spans stored in the last 90 days: nothing to forecast.")
        return
    st.caption(
        f"Forecast of the next {q.FORECAST_DAYS} days from up to {q.HISTORY_DAYS} days of history (days in "
        f"{page.zone}). Capacity: capacity.yaml's where given, else the best hourly drain rate seen. "
        "Headroom: 1 - forecast busiest hour / capacity."
    )
    backlog = q.backlog_rows(page.rows)
    st.subheader("Backlogs now")
    if backlog:
        widgets.table(
            pd.DataFrame(backlog),
            key="capacity-backlogs",
            file_name="backlogs.csv",
            caption="Time to clear at the current drain rate (mean of the last 15 minutes), against the "
            "queue's deadline in capacity.yaml.",
        )
    else:
        st.caption("No queue holds messages now.")
    st.subheader("Month-end peak and headroom")
    percent = st.column_config.NumberColumn(format="percent")
    widgets.table(
        pd.DataFrame(q.summary_rows(page.rows)),
        key="capacity-summary",
        file_name="capacity.csv",
        column_config={
            "headroom at close peak": percent,
            "headroom at 30-day peak": percent,
            "margin": percent,
            "capacity per hour": st.column_config.NumberColumn(format="localized"),
            "close peak per hour": st.column_config.NumberColumn(format="localized"),
        },
    )
    queues = [r for r in page.rows if r.kind == "queue" and r.forecast.days]
    for row in queues:
        widgets.chart(capacity_fig.forecast_peaks(row, page.zone), key=f"capacity-{row.name}")
    interfaces = [r for r in page.rows if r.kind == "interface" and r.forecast.days]
    if interfaces:
        names = [r.name for r in interfaces]
        chosen = st.selectbox("Interface (hc.stage)", names, key="capacity-interface")
        row = interfaces[names.index(chosen)] if chosen in names else interfaces[0]
        widgets.chart(capacity_fig.forecast_peaks(row, page.zone), key="capacity-interface-chart")


render("capacity", body)
