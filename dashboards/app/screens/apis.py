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
DEFAULT_GROUPING = "per API"
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
    # Both controls are in the URL (``rows=per+consumer&service=payer-gateway``): a link opens this view.
    grouping = (
        c1.segmented_control(
            "Rows",
            list(GROUPINGS),
            default=DEFAULT_GROUPING,
            key="rows",
            bind="query-params",
            help="One row per API, per consumer, or per API and consumer (kept in the URL).",
        )
        or DEFAULT_GROUPING
    )
    by = GROUPINGS[grouping]
    config_dir = str(ctx.res.settings.config_dir)
    everything = _page(ctx.url, config_dir, tr.start_ns, tr.end_ns, by="api", service=None)
    # A service from a shared link stays selectable even when it made no calls in this range.
    linked = st.query_params.get("service")
    services = sorted({*everything.services, linked}) if linked and linked != ANY else everything.services
    service = c2.selectbox(
        "Service",
        [ANY, *services],
        key="service",
        bind="query-params",
        help="service.name of the API (kept in the URL).",
    )
    chosen = None if service in (None, ANY) else service
    page = _page(ctx.url, config_dir, tr.start_ns, tr.end_ns, by=by, service=chosen)
    if not page.stats:
        settings = q.settings(Path(config_dir))
        where = f" for {chosen}" if chosen else ""
        widgets.no_data(
            f"No API calls{where} in {tr.label.lower()}. APIs come from server spans with http.route and "
            f"client spans with url.template (vitals serve folds them every {settings.rollup_interval:g} s); "
            f"consumers from {', '.join(settings.consumer_attributes)} (analytics.yaml)."
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
