"""APIs: per API or consumer, request rate, error rates by class, latency percentiles, top errors, SLAs."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from analytics.report import By
from dashboards.figures import apis as apis_fig
from dashboards.queries import apis as q
from dashboards.ui import widgets
from dashboards.ui.frame import PageContext, banners, render
from dashboards.ui.resources import engine_for

TTL_S = 30
GROUPINGS: dict[str, By] = {
    "per API": "api",
    "per consumer": "consumer",
    "per API and consumer": "api_consumer",
}
ANY = "any"
ROW_WORDS = {"api": "API", "consumer": "consumer", "api_consumer": "API and consumer"}


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _page(url: str, config_dir: str, start_ns: int, end_ns: int, *, by: By, service: str | None) -> q.ApiPage:
    return q.load(engine_for(url), Path(config_dir), start_ns, end_ns, by=by, service=service)


def body(ctx: PageContext) -> None:
    st.title("APIs")
    if not banners(ctx):
        return
    tr = ctx.tr
    c1, c2 = st.columns(2)
    grouping = c1.segmented_control("Rows", list(GROUPINGS), default="per API", key="apis-by") or "per API"
    by = GROUPINGS[grouping]
    config_dir = str(ctx.res.settings.config_dir)
    everything = _page(ctx.url, config_dir, tr.start_ns, tr.end_ns, by="api", service=None)
    service = c2.selectbox("Service", [ANY, *everything.services], key="apis-service")
    chosen = None if service == ANY else service
    page = _page(ctx.url, config_dir, tr.start_ns, tr.end_ns, by=by, service=chosen)
    if not page.stats:
        widgets.no_data(
            f"No API calls in {tr.label.lower()}. APIs come from server spans with http.route and client "
            "spans with url.template (vitals serve folds them every 30 s); consumers from client.id."
        )
        return
    st.caption(
        f"{tr.label}: from the API rollups (minute, hour and day rows), never raw spans. Percentiles are "
        "read from merged latency histograms, within 4.4 % of the exact value. Error rates are shares of "
        "all calls: 4xx and 5xx by HTTP status, other errors by span status."
    )
    if by != "consumer":
        widgets.chart(apis_fig.latency(page.stats), key="apis-latency")
    widgets.table(
        q.stats_frame(page),
        key="apis",
        file_name="apis.csv",
        caption=f"One row per {ROW_WORDS[by]}.",
        column_config={
            "requests": st.column_config.NumberColumn("requests", format="localized"),
            "per minute": st.column_config.NumberColumn("per minute", format="%.1f"),
            "error rate": st.column_config.NumberColumn("error rate", format="percent"),
            "4xx": st.column_config.NumberColumn("4xx", format="percent"),
            "5xx": st.column_config.NumberColumn("5xx", format="percent"),
            "other errors": st.column_config.NumberColumn("other errors", format="percent"),
            "p50 (s)": st.column_config.NumberColumn("p50 (s)", format="%.3f"),
            "p95 (s)": st.column_config.NumberColumn("p95 (s)", format="%.3f"),
            "p99 (s)": st.column_config.NumberColumn("p99 (s)", format="%.3f"),
        },
    )
    errors = q.error_frame(page)
    if not errors.empty:
        widgets.table(
            errors,
            key="api-errors",
            file_name="api-errors.csv",
            caption="Top errors: HTTP status and the stored (redacted) status message, numbers as #.",
            column_config={"count": st.column_config.NumberColumn("count", format="localized")},
        )


render("apis", body)
