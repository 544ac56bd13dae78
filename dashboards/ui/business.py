"""The scorecard's business figures section: each figure with its window, target and status.

The queries start in the page's batch (``start``); ``section`` lays the figures out. What each
figure says is computed in ``dashboards.business`` (pure).
"""

from __future__ import annotations

from concurrent.futures import Future
from html import escape
from typing import NamedTuple

import streamlit as st

from dashboards import business, views
from dashboards.catalog import LagPair
from dashboards.figures import ops as ops_fig
from dashboards.queries import business as business_q
from dashboards.queries.business import StageCounts
from dashboards.timerange import format_time
from dashboards.ui import cached, parallel, widgets
from dashboards.ui.frame import PageContext
from slas import LagFigures
from slas.lag_history import OpenFigures

#: The widget that chooses the age of "at risk now" (its value is read before the queries start).
AGE_KEY = "at-risk-age"


class Queries(NamedTuple):
    charge: Future[LagFigures | None]
    late: Future[LagFigures | None]
    implant: Future[LagFigures | None]
    gl: Future[StageCounts]
    remits: Future[StageCounts]
    stuck: Future[OpenFigures | None]
    stuck_at_ns: int


def chosen_age_s() -> int:
    value = st.session_state.get(AGE_KEY, business.DEFAULT_AGE_S)
    return int(value) if value in business.AGES else business.DEFAULT_AGE_S


def start(ctx: PageContext, batch: parallel.Batch) -> Queries:
    tr, url, cat, f = ctx.tr, ctx.url, ctx.catalog, ctx.filters
    charge_pair = cat.lag_pair(views.CHARGE_LAG_SLA)
    late_pair = cat.lag_pair(views.LATE_CHARGES_SLA) or charge_pair
    implant_pair = cat.lag_pair(views.IMPLANT_SLA)
    # Stuck as of the end of the range (now on a live range): never in the future.
    at_ns = min(tr.end_ns, ctx.now_ns)

    def lag(pair: LagPair | None, with_lags: bool = True) -> LagFigures | None:
        if pair is None:
            return None
        return cached.lag_figures(
            url, pair, tr.start_ns, tr.end_ns, now_ns=ctx.now_ns, filters=f, with_lags=with_lags
        )

    def stage(sla_id: str, fallback: str) -> StageCounts:
        return cached.stage_counts(url, views.figure_stage(cat, sla_id, fallback), tr.start_ns, tr.end_ns, f)

    def stuck(pair: LagPair | None, age_s: int) -> OpenFigures | None:
        if pair is None:
            return None
        return business_q.stuck_now(ctx.engine, pair, older_than_s=age_s, at_ns=at_ns, filters=f)

    return Queries(
        charge=batch.submit(lag, charge_pair),
        late=batch.submit(lag, late_pair, with_lags=False),  # counts only, not the lag distribution
        implant=batch.submit(lag, implant_pair),
        gl=batch.submit(stage, views.GL_SLA, views.GL_STAGE),
        remits=batch.submit(stage, views.DENIAL_SLA, views.REMIT_STAGE),
        stuck=batch.submit(stuck, charge_pair, chosen_age_s()),
        stuck_at_ns=at_ns,
    )


def section(ctx: PageContext, queries: Queries) -> None:
    tr, f = ctx.tr, ctx.filters
    remits = queries.remits.result()
    live = queries.stuck_at_ns >= ctx.now_ns
    stuck_when = "now" if live else f"at {format_time(queries.stuck_at_ns, ctx.tz)}"
    shown = business.figures(
        ctx.catalog,
        tr.label,
        charge=queries.charge.result(),
        late=queries.late.result(),
        gl=queries.gl.result(),
        remits=remits,
        implant=queries.implant.result(),
        stuck=queries.stuck.result(),
        stuck_when=stuck_when,
    )
    st.subheader("Business figures", anchor="figures")
    where = " · ".join(x for x in (f.facility, f.service_line) if x) or "all facilities and service lines"
    st.caption(
        f"{tr.label}, {where}. Revenue at risk, deadline passed: charges whose deadline fell in the "
        f"range and that were not posted by it. Revenue at risk {stuck_when}: charges not posted yet "
        "and older than the age chosen here, before their deadline counts them."
    )
    st.selectbox(
        "At risk now: not posted for at least",
        options=list(business.AGES),
        index=list(business.AGES).index(business.DEFAULT_AGE_S),
        format_func=business.age_text,
        key=AGE_KEY,
    )
    columns = st.columns(3)
    for index, figure in enumerate(shown):
        with columns[index % 3].container(border=True, key=f"headline-{figure.key}"):
            st.markdown(
                widgets.badge_html(figure.status) + f" &nbsp;<small>{escape(figure.window)}</small>",
                unsafe_allow_html=True,
            )
            st.metric(f"{figure.label} · {figure.window}", figure.value, help=figure.detail)
            st.caption(figure.detail)
            st.caption(figure.target)
            if figure.sla_id and ctx.catalog.get(figure.sla_id):
                st.page_link(
                    "screens/sla.py",
                    label="the rows behind it",
                    icon=":material/table_rows:",
                    query_params=ctx.page_params(sla=figure.sla_id),
                )
    if remits.denials:
        widgets.chart(ops_fig.denial_codes(remits.denials, remits.count), key="denial-codes")
    elif remits.count:
        st.caption("No denials in the range.")
