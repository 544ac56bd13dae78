"""SLA detail: one promise over time, its error budget, burn rates, slices and bad events."""

from __future__ import annotations

from dataclasses import replace
from html import escape

import pandas as pd
import streamlit as st

from dashboards import views, worst
from dashboards.figures import ops as ops_fig
from dashboards.figures import slo as slo_fig
from dashboards.queries.bad_events import BadEvents
from dashboards.queries.business import Filters
from dashboards.queries.evaluations import SeriesKey
from dashboards.timerange import format_duration, to_datetime
from dashboards.ui import cached, trends, widgets
from dashboards.ui.frame import PageContext, banners, render

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
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("SLI", views.pct(e.sli, 3), help="good events / events in the window")
    c1.caption(f"{e.good:,.0f} good of {e.total:,.0f} · target {e.objective * 100:g}% over {e.window_label}")
    whole = next((x for x in group if x.slice is None), None) if slice_ is not None else None
    if whole is not None:
        c1.caption(worst.whole_text(whole, widgets.status_text))
    tile = views.tile_of(e)
    c2.metric("Error budget left", views.pct(e.budget_remaining, 1))
    c2.caption(views.budget_text(tile))
    burn = worst.current_burn(e)
    c3.metric("Time to exhaustion", worst.exhaustion_text(e, ctx.fmt))
    c3.caption("at the current burn rate" + (f" ({burn:.1f}x)" if burn is not None else ""))
    c4.metric("Money at risk", views.money(e.at_risk_amount) if e.at_risk_amount is not None else "n/a")
    c4.caption(f"in bad events, over {e.window_label}")
    if spec is not None:
        st.caption(f"Definition ({spec.kind}): `{views.sli_text(spec.body)}`")
    st.caption(f"Evaluated at {ctx.fmt(e.at_unix_nano, seconds=True)}")


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
                    "long window": format_duration(r.long_window_s),
                    "short window": format_duration(r.short_window_s),
                    "long burn (x)": r.long_rate,
                    "short burn (x)": r.short_rate,
                    "threshold (x)": r.threshold,
                    "severity": r.severity,
                    "firing": "✖ firing" if r.firing else "no",
                }
                for r in headline.burn_rates
            ]
        )
        widgets.table(rates, key="burn-table", file_name=f"{sla_id}-burn-rates.csv")


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
                "SLI": views.pct(e.sli, 3),
                "good": e.good,
                "events": e.total,
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
        column_config={"open": st.column_config.LinkColumn("open", display_text="details")},
    )


def bad_events(ctx: PageContext, sla_id: str, slice_: str | None) -> None:
    spec = ctx.catalog.get(sla_id)
    st.subheader("Bad events")
    if spec is None:
        widgets.no_data(f"{sla_id} is not in the SLA files of `{ctx.res.settings.config_dir}`.")
        return
    filters = _filters_for(ctx, slice_)
    end = min(ctx.tr.end_ns, ctx.now_ns)
    found = cached.bad_events(ctx.url, spec, ctx.tr.start_ns, end, now_ns=ctx.now_ns, filters=filters)
    st.caption(found.description + (f" ({found.note})" if found.note else ""))
    if slice_ is None and (found.frame.empty or found.kind == "freshness"):
        found = _slices_bad_events(ctx, sla_id, found)
    if found.frame.empty:
        widgets.no_data(f"No bad events in {ctx.tr.label.lower()}." if found.note is None else found.note)
        return
    frame = found.frame.copy()
    config: dict[str, object] = {}
    if found.kind == "lag":
        frame["overdue"] = frame["overdue_s"].map(format_duration)
        frame["start trace"] = [ctx.link("traces", trace=t) if t else None for t in frame["start_trace_id"]]
        frame["journey"] = [ctx.link("traces", key=k) for k in frame["key_hash"]]
        frame = widgets.time_columns(frame, ["started", "deadline", "completed"], ctx.tz)
        frame["completed"] = frame["completed"].replace("-", "not yet")
        frame = frame[
            [
                "key_hash",
                "facility",
                "service_line",
                "started",
                "deadline",
                "completed",
                "overdue",
                "amount",
                "start trace",
                "journey",
            ]
        ]
        config = {
            "amount": st.column_config.NumberColumn("amount (USD)", format="$%.2f"),
            "start trace": st.column_config.LinkColumn("start trace", display_text="trace"),
            "journey": st.column_config.LinkColumn("journey", display_text="journey"),
            "key_hash": st.column_config.TextColumn("key (HMAC hash)"),
        }
        total = found.frame["amount"].fillna(0).sum()
        st.metric("Money in these objects", views.money(float(total)))
    elif found.kind in ("ratio", "latency"):
        frame["trace"] = [ctx.link("traces", trace=t) for t in frame["trace_id"]]
        frame = widgets.time_columns(frame, ["start"], ctx.tz)
        frame = frame.drop(columns=["span_id", "trace_id"])
        config = {
            "trace": st.column_config.LinkColumn("trace", display_text="open trace"),
            "duration_ms": st.column_config.NumberColumn("duration (ms)", format="%.1f"),
            "amount": st.column_config.NumberColumn("amount (USD)", format="$%.2f"),
        }
    elif found.kind == "freshness":
        frame["silent for"] = frame["silent_s"].map(format_duration)
        frame = widgets.time_columns(frame, ["silent_from", "silent_until"], ctx.tz)
        frame = frame[
            [c for c in ("slice",) if c in frame] + ["silent_from", "silent_until", "silent for", "ongoing"]
        ]
    elif found.kind == "gauge":
        frame = widgets.time_columns(frame, ["from", "until"], ctx.tz)
    widgets.table(frame, key="bad-events", file_name=f"{sla_id}-bad-events.csv", column_config=config)


def _slices_bad_events(ctx: PageContext, sla_id: str, whole: BadEvents) -> BadEvents:
    """The whole SLA's bad events, with those of its slices that are not fine added.

    A freshness SLA as a whole is never silent while any facility sends, so its one silent
    facility would not show (or read "No bad events") on the whole-SLA view: its silences are
    listed too, each row naming its slice. Called for freshness (whose whole-SLA rows are not
    the union of the slices') and for any kind whose whole shows none.
    """
    spec = ctx.catalog.get(sla_id)
    end = min(ctx.tr.end_ns, ctx.now_ns)
    group = cached.latest_evaluations(ctx.url, end, sla_id)
    failing = worst.failing_slices(group)
    frames: list[pd.DataFrame] = [] if whole.frame.empty else [whole.frame.assign(slice="whole SLA")]
    names: list[str] = []
    for e in failing:
        if spec is None or not (e.slice or "").startswith("hc.facility="):
            continue
        got = cached.bad_events(
            ctx.url, spec, ctx.tr.start_ns, end, now_ns=ctx.now_ns, filters=_filters_for(ctx, e.slice)
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
    """The sidebar's filters, narrowed to the slice's facility when one is chosen."""
    if slice_ and slice_.startswith("hc.facility="):
        return Filters(slice_.split("=", 1)[1], ctx.filters.service_line)
    return ctx.filters


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
        f"{figures.late:,} of {figures.due:,} due missed the {format_duration(pair.within_s)} deadline "
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
