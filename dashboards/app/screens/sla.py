"""SLA detail: one promise over time, its error budget, burn rates, slices and bad events."""

from __future__ import annotations

from dataclasses import replace
from html import escape
from typing import Any

import pandas as pd
import streamlit as st

from dashboards import bad_event_tables as tables
from dashboards import business, thresholds, views, worst
from dashboards.catalog import SlaSpec
from dashboards.figures import ops as ops_fig
from dashboards.figures import slo as slo_fig
from dashboards.queries import bad_events as bad_events_q
from dashboards.queries import business as business_q
from dashboards.queries.bad_events import BadEvents
from dashboards.queries.business import Filters
from dashboards.queries.evaluations import SeriesKey
from dashboards.timerange import format_duration, to_datetime
from dashboards.ui import business as business_ui
from dashboards.ui import cached, trends, widgets
from dashboards.ui.frame import PageContext, banners, render
from dashboards.ui.resources import engine_for
from slas import Evaluation

POINTS = 120


def choose_sla(ctx: PageContext) -> tuple[str | None, str | None]:
    evaluations = cached.latest_evaluations(ctx.url, min(ctx.tr.end_ns, ctx.now_ns))
    ids = sorted({e.sla_id for e in evaluations} | {s.id for s in ctx.catalog.slas})
    if not ids:
        return None, None
    titles = {e.sla_id: e.title for e in evaluations} | {s.id: s.title for s in ctx.catalog.slas}
    left, right = st.columns([3, 2])
    # Opened without a choice, the page shows the worst SLA (and its worst slice when that is in a
    # worse state than the whole), the one the scorecard lists first. A link naming an SLA but no
    # slice means the SLA as a whole.
    chosen = "sla" in st.query_params
    opening = worst.worst_sla(evaluations, ids)
    # Options are the ids themselves: a bound widget writes its shown text into the URL.
    sla_id = left.selectbox(
        "SLA",
        ids,
        index=ids.index(opening) if opening in ids else 0,
        key="sla",
        bind="query-params",
        help="The SLA's id in its SLA file.",
    )
    left.caption(titles.get(sla_id or "", ""))
    group = [e for e in evaluations if e.sla_id == sla_id]
    slices = sorted({e.slice for e in group if e.slice})
    found = worst.worst_of(group)
    options = ["(whole SLA)", *slices]
    worst_slice = found.shown.slice if not chosen and found is not None and found.whole is not None else None
    slice_choice = right.selectbox(
        "Slice",
        options,
        index=options.index(worst_slice) if worst_slice in options else 0,
        key="slice",
        bind="query-params",
        help="One value of the SLA's slice_by.",
    )
    return sla_id, None if slice_choice == "(whole SLA)" else slice_choice


def header(ctx: PageContext, sla_id: str, slice_: str | None) -> None:
    group = cached.latest_evaluations(ctx.url, min(ctx.tr.end_ns, ctx.now_ns), sla_id)
    current = [e for e in group if (e.slice or None) == slice_]
    spec = ctx.catalog.get(sla_id)
    if not current:
        title = spec.title if spec else sla_id
        st.header(title)
        widgets.no_data(
            "No evaluation of this SLA yet. The SLA engine (in `vitals serve`) evaluates every SLA "
            "every 30 s."
        )
        return
    e = current[0]
    st.header(e.title)
    # Never fine when a part is not: beside the whole, its worst slice; beside a slice, the whole.
    found = worst.worst_of(group)
    if slice_ is None and found is not None and found.whole is not None:
        w = found.shown
        st.warning(
            f"{widgets.status_text(w.status)} in slice {worst.sli_text(w.sli, w.slice)} "
            f"({worst.whole_text(e, widgets.status_text)}): choose the slice above for its figures.",
            icon=":material/warning:",
        )
    st.markdown(
        f"{widgets.badge_html(e.status)} &nbsp; {escape(e.priority)} · owner **{escape(e.owner)}** · "
        f"{escape(views.domain_title(e.domain))} · {escape(e.kind)} SLI"
        + (f" · slice `{escape(e.slice)}`" if e.slice else ""),
        unsafe_allow_html=True,
    )
    c1, c2, c3 = st.columns(3)
    c1.metric("SLI", views.pct(e.sli), help="good events / events in the window")
    c1.caption(f"{e.good:,.0f} good of {e.total:,.0f} · target {e.objective * 100:g}% over {e.window_label}")
    whole = next((x for x in group if x.slice is None), None) if slice_ is not None else None
    if whole is not None:
        c1.caption(worst.whole_text(whole, widgets.status_text))
    tile = views.tile_of(e)
    c2.metric("Error budget left", views.pct(e.budget_remaining, 1))
    c2.caption(views.budget_text(tile))
    burn = worst.current_burn(e)
    # "budget exhausted" in the number, since when under it: the whole sentence would be cut off
    exhaustion, _, since = worst.exhaustion_text(e, ctx.fmt).partition(" since ")
    c3.metric("Time to exhaustion", exhaustion)
    c3.caption(
        (f"since {since} · " if since else "")
        + "at the current burn rate"
        + (f" ({burn_text(burn)})" if burn is not None else "")
    )
    money(ctx, e, spec, slice_)
    if spec is not None:
        st.caption(f"Definition ({spec.kind}): `{views.sli_text(thresholds.as_written(spec.body))}`")
    st.caption(f"Evaluated at {ctx.fmt(e.at_unix_nano, seconds=True)}")


def money(ctx: PageContext, e: Evaluation, spec: SlaSpec | None, slice_: str | None) -> None:
    """The scorecard's money definitions, each with its window: the SLA's money in its bad
    events over the SLA's window and, for a lag SLA whose objects carry amounts, what is stuck now."""
    if e.at_risk_amount is None and e.kind != "lag":
        return  # no money in this SLA's events: no figure rather than "n/a"
    with st.container(border=True, key="money"):
        passed, now, age = st.columns([3, 3, 2])
        passed.metric(
            f"{business.at_risk_label(e.kind)} · {e.window_label}",
            views.money(e.at_risk_amount) if e.at_risk_amount is not None else "no data",
            help="The same definition as the scorecard's tile, over the SLA's own window.",
        )
        passed.caption(
            f"in the bad objects whose deadline fell in the SLA's {e.window_label} window"
            if e.kind == "lag"
            else f"in its bad events over the SLA's {e.window_label} window"
        )
        if spec is not None:
            at_risk_now(ctx, spec, slice_, now, age)


def at_risk_now(ctx: PageContext, spec: SlaSpec, slice_: str | None, column: Any, picker: Any) -> None:
    """For a lag SLA whose objects carry amounts: the money stuck now, as the scorecard's figure."""
    pair = spec.lag_pair()
    at_ns = min(ctx.tr.end_ns, ctx.now_ns)
    if pair is None or not business_ui.carries_amounts(ctx, pair.name, at_ns):
        return
    stuck = business_q.stuck_now(
        ctx.engine,
        pair,
        older_than_s=business_ui.chosen_age_s(),
        at_ns=at_ns,
        filters=_filters_for(ctx, slice_),
    )
    when = "now" if at_ns >= ctx.now_ns else f"at {ctx.fmt(at_ns)}"
    figure = business.at_risk_now(ctx.catalog, stuck, when)
    with column.container(key="at-risk-now"):
        st.metric(f"{figure.label} · {figure.window}", figure.value, help=figure.detail)
        st.markdown(
            widgets.badge_html(figure.status) + f" &nbsp;<small>{escape(figure.detail)}</small>",
            unsafe_allow_html=True,
        )
    with picker:
        business_ui.age_picker()


def history(ctx: PageContext, sla_id: str, slice_: str | None) -> None:
    end = min(ctx.tr.end_ns, ctx.now_ns)
    latest = cached.latest_evaluations(ctx.url, end, sla_id)
    headline = next((e for e in latest if (e.slice or None) == slice_), None)
    if headline is not None and ctx.tr.start_ns < headline.at_unix_nano <= end:
        end = headline.at_unix_nano  # the charts end at the instant the headline was evaluated
    found = trends.trend(
        ctx.url, ctx.catalog, SeriesKey(sla_id, slice_), start_ns=ctx.tr.start_ns, end_ns=end, points=POINTS
    )
    if found.empty:
        widgets.no_data(f"No evaluations of {sla_id} in {ctx.tr.label.lower()}.")
        return
    times = [to_datetime(a, ctx.tz) for a in found.times_ns]
    spec = ctx.catalog.get(sla_id)
    definition = ctx.catalog.definition(sla_id)
    if definition is not None:
        objective, window = definition.objective, definition.window.label
    else:
        objective = latest[0].objective if latest else (spec.objective if spec and spec.objective else 0.99)
        window = next((e.window_label for e in latest), "the window")
    if all(v is None for v in found.sli):
        # Two empty frames would read as broken charts; say what the engine says instead.
        floor = definition.min_events if definition is not None else 0
        why = f"fewer than {floor:,} events (its min_events) in" if floor > 1 else "no events in"
        widgets.no_data(
            f"No data: at every instant of {ctx.tr.label.lower()} the SLA engine had {why} the "
            f"{window} window of {sla_id}, so there is no SLI or error budget to draw."
        )
    else:
        left, right = st.columns(2)
        with left:
            widgets.chart(
                slo_fig.sli_over_time(times, list(found.sli), objective, tz_label=ctx.tz_label),
                key="sli-over-time",
            )
        with right:
            widgets.chart(
                slo_fig.budget_burndown(
                    times, list(found.budget_remaining), tz_label=ctx.tz_label, window_label=window
                ),
                key="burn-down",
            )
    st.caption(found.caption())
    if headline is not None and headline.burn_rates:
        widgets.chart(slo_fig.burn_rates(headline.burn_rates), key="burn-rates")
        rates = pd.DataFrame(
            [
                {
                    "window": r.name,
                    "long window": thresholds.threshold_text(r.long_window_s),
                    "short window": thresholds.threshold_text(r.short_window_s),
                    "long burn": burn_text(r.long_rate),
                    "short burn": burn_text(r.short_rate),
                    "threshold": burn_text(r.threshold),
                    "severity": r.severity,
                    "firing": "✖ firing" if r.firing else "no",
                }
                for r in headline.burn_rates
            ]
        )
        widgets.table(rates, key="burn-table", file_name=f"{sla_id}-burn-rates.csv")


def burn_text(rate: float | None) -> str:
    """``14.4x``: a burn rate as the alerts and ``vitals sla report`` write it (one decimal)."""
    return "no data" if rate is None else f"{rate:.1f}x"


def slices(ctx: PageContext, sla_id: str) -> None:
    latest = [
        e
        for e in cached.latest_evaluations(ctx.url, min(ctx.tr.end_ns, ctx.now_ns), sla_id)
        if e.slice is not None
    ]
    if not latest:
        return
    st.subheader("Slices")
    frame = pd.DataFrame(
        [
            {
                "status": widgets.status_text(e.status),
                "slice": e.slice,
                "SLI": views.pct(e.sli),
                "good": int(e.good),
                "events": int(e.total),
                "budget left": views.pct(e.budget_remaining, 1),
                "open": ctx.link("sla", sla=sla_id, slice=e.slice or ""),
            }
            for e in sorted(
                latest, key=lambda e: (["breach", "warning", "no-data", "ok"].index(e.status), e.slice or "")
            )
        ]
    )
    widgets.table(
        frame,
        key="slices",
        file_name=f"{sla_id}-slices.csv",
        column_config={
            "open": st.column_config.LinkColumn("open", display_text="details"),
            # counts with thousands separators, on the page and in the CSV ("5,576", never 5576.0)
            "good": st.column_config.NumberColumn("good", format="localized"),
            "events": st.column_config.NumberColumn("events", format="localized"),
        },
    )


@st.cache_data(ttl=cached.TTL_S, show_spinner=False)
def _bad_events(
    url: str, spec: SlaSpec, start_ns: int, end_ns: int, *, now_ns: int, filters: Filters, slice_: str | None
) -> BadEvents:
    """The bad events of ``spec``, of one slice (any attribute it slices by) when given."""
    return bad_events_q.bad_events(
        engine_for(url), spec, start_ns, end_ns, now_ns=now_ns, filters=filters, slice_=slice_
    )


def bad_events(ctx: PageContext, sla_id: str, slice_: str | None) -> None:
    spec = ctx.catalog.get(sla_id)
    st.subheader("Bad events")
    if spec is None:
        widgets.no_data(f"{sla_id} is not in the SLA files of `{ctx.res.settings.config_dir}`.")
        return
    end = min(ctx.tr.end_ns, ctx.now_ns)
    found = _bad_events(
        ctx.url, spec, ctx.tr.start_ns, end, now_ns=ctx.now_ns, filters=ctx.filters, slice_=slice_
    )
    where = f" of slice {worst.slice_name(slice_)} ({slice_})" if slice_ else ""
    st.caption(found.description + where + (f" ({found.note})" if found.note else ""))
    if slice_ is None and (found.frame.empty or found.kind == "freshness"):
        found = _slices_bad_events(ctx, sla_id, found)
    if found.frame.empty:
        widgets.no_data(f"No bad events in {ctx.tr.label.lower()}." if found.note is None else found.note)
        return
    link_columns = {
        name: st.column_config.LinkColumn(name, display_text=text) for name, text in tables.LINKS.items()
    }
    if found.kind == "lag":
        frame = tables.lag_table(found.frame, now_ns=ctx.now_ns, tz=ctx.tz, link=ctx.link)
        total = found.frame["amount"].fillna(0).sum()
        st.metric("Money in these objects", views.money(float(total)))
    elif found.kind in ("ratio", "latency"):
        if found.groups is not None and not found.groups.empty:
            st.markdown("**Grouped** (identical bad events, most first)")
            widgets.table(
                tables.group_table(found.groups, tz=ctx.tz),
                key="bad-event-groups",
                file_name=f"{sla_id}-bad-event-groups.csv",
                column_config={"bad events": st.column_config.NumberColumn("bad events", format="localized")},
            )
            st.markdown("**Each bad event**, newest first")
        frame = tables.span_table(found.frame, now_ns=ctx.now_ns, tz=ctx.tz, link=ctx.link)
    elif found.kind == "freshness":
        frame = tables.freshness_table(found.frame, tz=ctx.tz)
    elif found.kind == "gauge":
        gauge = spec.definition.sli.gauge
        frame = tables.gauge_table(found.frame, tz=ctx.tz, metric=gauge.metric if gauge else "")
    else:
        frame = found.frame
    config = {name: column for name, column in link_columns.items() if name in frame}
    if tables.KEY_HEADER in frame:
        config[tables.KEY_HEADER] = st.column_config.TextColumn(
            tables.KEY_HEADER, help="The first characters of the hashed key; the journey link holds it whole."
        )
    widgets.table(frame, key="bad-events", file_name=f"{sla_id}-bad-events.csv", column_config=config)


def _slices_bad_events(ctx: PageContext, sla_id: str, whole: BadEvents) -> BadEvents:
    """The whole SLA's bad events, with those of its slices that are not fine added.

    A freshness SLA as a whole is never silent while any facility sends, so its one silent
    facility would not show (or read "No bad events") on the whole-SLA view: its silences are
    listed too, each row naming its slice. Called for freshness (whose whole-SLA rows are not
    the union of the slices') and for any kind whose whole shows none. Any slice attribute
    works (a facility, a queue, a payer): the query narrows by the slice's own labels.
    """
    spec = ctx.catalog.get(sla_id)
    end = min(ctx.tr.end_ns, ctx.now_ns)
    group = cached.latest_evaluations(ctx.url, end, sla_id)
    failing = worst.failing_slices(group)
    frames: list[pd.DataFrame] = [] if whole.frame.empty else [whole.frame.assign(slice="whole SLA")]
    names: list[str] = []
    for e in failing:
        if spec is None:
            continue
        got = _bad_events(
            ctx.url, spec, ctx.tr.start_ns, end, now_ns=ctx.now_ns, filters=ctx.filters, slice_=e.slice
        )
        if not got.frame.empty:
            frames.append(got.frame.assign(slice=worst.slice_name(e.slice)))
            names.append(worst.slice_name(e.slice))
    if not names:
        return whole
    st.caption(
        ("None for the SLA as a whole" if whole.frame.empty else "The SLA's as a whole")
        + f" in {ctx.tr.label.lower()}, and those of its slices that are not fine: {', '.join(names)}."
    )
    return replace(whole, frame=pd.concat(frames, ignore_index=True))


def _filters_for(ctx: PageContext, slice_: str | None) -> Filters:
    """The sidebar's filters, narrowed to the slice's facility or service line when it names one."""
    labels = dict(bad_events_q.slice_labels(slice_))
    return Filters(
        labels.get("hc.facility", ctx.filters.facility),
        labels.get("hc.service_line", ctx.filters.service_line),
    )


def lag_distribution(ctx: PageContext, sla_id: str, slice_: str | None) -> None:
    """For a lag SLA: how long the objects that completed in the range took."""
    spec = ctx.catalog.get(sla_id)
    pair = spec.lag_pair() if spec else None
    if pair is None:
        return
    filters = _filters_for(ctx, slice_)
    end = min(ctx.tr.end_ns, ctx.now_ns)
    figures = cached.lag_figures(ctx.url, pair, ctx.tr.start_ns, end, now_ns=ctx.now_ns, filters=filters)
    bucket_s = max(60, round(pair.within_s / 12 / 60) * 60)
    buckets = cached.lag_histogram(ctx.url, pair, ctx.tr.start_ns, end, bucket_s=bucket_s, filters=filters)
    st.subheader("Lag distribution")
    if not buckets:
        widgets.no_data(f"No {pair.to_stage} completed in {ctx.tr.label.lower()}.")
        return
    st.caption(
        f"{figures.completed:,} objects completed {ctx.tr.label.lower()}: median "
        f"{format_duration(figures.median_s)}, p95 {format_duration(figures.p95_s)}; "
        f"{figures.late:,} of {figures.due:,} due missed the "
        f"{thresholds.threshold_text(pair.within_s)} deadline "
        f"({views.money(figures.late_amount)})."
    )
    widgets.chart(
        ops_fig.lag_histogram(
            buckets,
            bucket_s=bucket_s,
            within_s=pair.within_s,
            median_s=figures.median_s,
            p95_s=figures.p95_s,
            title=f"{pair.from_stage} → {pair.to_stage}",
        ),
        key="lag-histogram",
    )


def body(ctx: PageContext) -> None:
    st.title("SLA detail")
    banners(ctx, needs_telemetry=False, needs_evaluations=True)
    sla_id, slice_ = choose_sla(ctx)
    if sla_id is None:
        widgets.no_data(
            f"No SLAs: put SLA files under `slas/` in the config directory (`{ctx.res.settings.config_dir}`)."
        )
        return
    header(ctx, sla_id, slice_)
    history(ctx, sla_id, slice_)
    lag_distribution(ctx, sla_id, slice_)
    slices(ctx, sla_id)
    bad_events(ctx, sla_id, slice_)


render("sla", body)
