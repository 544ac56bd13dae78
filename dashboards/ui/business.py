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
from dashboards.ui.resources import engine_for
from slas import LagFigures
from slas.lag_history import OpenFigures, slas_with_amounts
from vitals.kernel.units import HOUR_NS

#: The widget that chooses the age of "at risk now", bound to the URL parameter of the same name
#: (``age=1h``) so a shared link shows the same figure; its value is read before the queries start.
AGE_KEY = "age"


class Queries(NamedTuple):
    charge: Future[LagFigures | None]
    late: Future[LagFigures | None]
    implant: Future[LagFigures | None]
    gl: Future[StageCounts]
    remits: Future[StageCounts]
    stuck: Future[list[OpenFigures]]
    stuck_at_ns: int


def chosen_age_s() -> int:
    """The age chosen on this page, else the one the URL names (``age=4h``), else the default."""
    value = st.session_state.get(AGE_KEY)
    if not isinstance(value, str):
        value = st.query_params.get(AGE_KEY)
    return business.age_from_param(value)


def age_picker(label: str = "At risk now: stuck for at least") -> None:
    """The age of "at risk now", in the URL as ``age=`` (``15m``, ``1h``, ``4h``, ``12h``)."""
    options = list(business.AGE_PARAMS.values())
    chosen = business.AGE_PARAMS[chosen_age_s()]
    st.selectbox(
        label,
        options=options,
        index=options.index(chosen),
        format_func=lambda text: business.age_text(business.age_from_param(text)),
        key=AGE_KEY,
        bind="query-params",
        help="Kept in the URL (age=…): a shared link shows the same figure.",
    )


@st.cache_data(ttl=300, show_spinner=False)
def _with_amounts(url: str, sla_ids: tuple[str, ...], at_ns: int) -> list[str]:
    return slas_with_amounts(engine_for(url), list(sla_ids), at_ns=at_ns)


def at_risk_text(kind: str, window_label: str, amount: float | None) -> str:
    """An SLA's money in its bad events as a tile and the SLA page write it, its window named."""
    return f"{business.at_risk_label(kind)} · {business.at_risk_window(window_label)}: {views.money(amount)}"


def carries_amounts(ctx: PageContext, sla_id: str, at_ns: int) -> bool:
    """Whether a lag SLA's objects carry an amount (so it has money at risk now to show)."""
    return sla_id in _with_amounts(ctx.url, (sla_id,), at_ns // HOUR_NS * HOUR_NS)


def money_lag_pairs(ctx: PageContext, at_ns: int) -> list[LagPair]:
    """The lag SLAs "at risk now" covers: those whose objects carry an amount, one per kind of
    object (late-charges follows the same charges as charge-lag: counted once, under charge-lag)."""
    pairs = [p for s in ctx.catalog.slas if (p := s.lag_pair()) is not None]
    pairs.sort(key=lambda p: (p.name != views.CHARGE_LAG_SLA, p.within_s, p.name))
    seen: set[tuple[str, str, str]] = set()
    unique: list[LagPair] = []
    for p in pairs:
        if (p.key, p.from_stage, p.to_stage) not in seen:
            seen.add((p.key, p.from_stage, p.to_stage))
            unique.append(p)
    carrying = set(_with_amounts(ctx.url, tuple(p.name for p in unique), at_ns // HOUR_NS * HOUR_NS))
    return [p for p in unique if p.name in carrying]


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

    def stuck(age_s: int) -> list[OpenFigures]:
        return [
            business_q.stuck_now(ctx.engine, pair, older_than_s=age_s, at_ns=at_ns, filters=f)
            for pair in money_lag_pairs(ctx, at_ns)
        ]

    return Queries(
        charge=batch.submit(lag, charge_pair),
        late=batch.submit(lag, late_pair, with_lags=False),  # counts only, not the lag distribution
        implant=batch.submit(lag, implant_pair),
        gl=batch.submit(stage, views.GL_SLA, views.GL_STAGE),
        remits=batch.submit(stage, views.DENIAL_SLA, views.REMIT_STAGE),
        stuck=batch.submit(stuck, chosen_age_s()),
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
    covered = ", ".join(s.sla_id for s in queries.stuck.result())
    st.caption(
        f"At risk now covers the lag SLAs whose objects carry an amount: {covered}."
        if covered
        else "At risk now: no lag SLA's objects carry an amount (hc.amount)."
    )
    age_picker()
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
