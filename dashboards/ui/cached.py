"""The page queries, cached for a short time per store URL and arguments.

Pages pass ``now`` snapped to a few seconds (``timerange.snap``), so every viewer of the same
view within the TTL shares one result, and an auto-refresh never waits on the database twice.
"""

from __future__ import annotations

from typing import Literal

import pandas as pd
import streamlit as st

import slas

# Alerting is part of every install: an import error here is a real error, shown as one.
from alerts import api as alerts_api
from dashboards.catalog import LagPair, SlaSpec
from dashboards.queries import bad_events as bad_events_q
from dashboards.queries import business, dependencies, evaluations, operations, status, traces
from dashboards.ui.resources import engine_for
from slas.model import Evaluation
from slas.spec import SLA

TTL_S = 30


@st.cache_data(ttl=TTL_S, show_spinner=False)
def store_status(url: str, now_ns: int) -> status.StoreStatus:
    return status.store_status(engine_for(url), now_ns)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def latest_evaluations(url: str, at_ns: int, sla_id: str | None = None) -> list[Evaluation]:
    return slas.current_evaluations(engine_for(url), at_ns, sla_id)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def evaluation_samples(
    url: str, keys: tuple[evaluations.SeriesKey, ...], start_ns: int, end_ns: int, points: int
) -> pd.DataFrame:
    times, step = evaluations.sample_times(start_ns, end_ns, points)
    return evaluations.sample(engine_for(url), keys, times, step)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def sla_history(
    url: str, sla: SLA, slice_: str | None, *, start_ns: int, end_ns: int, points: int
) -> slas.History:
    """``sla`` as its engine evaluates it at about ``points`` instants up to ``end``, from its rollups."""
    return slas.sla_history(engine_for(url), sla, slice_, start_ns=start_ns, end_ns=end_ns, points=points)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def lag_figures(
    url: str,
    pair: LagPair,
    start_ns: int,
    end_ns: int,
    *,
    now_ns: int,
    filters: business.Filters,
    with_lags: bool = True,
) -> slas.LagFigures:
    return slas.lag_figures(
        engine_for(url), filters.lag_scope(pair), start_ns, end_ns, now_ns=now_ns, with_lags=with_lags
    )


@st.cache_data(ttl=TTL_S, show_spinner=False)
def lag_histogram(
    url: str, pair: LagPair, start_ns: int, end_ns: int, *, bucket_s: int, filters: business.Filters
) -> list[tuple[float, int]]:
    return slas.lag_histogram(engine_for(url), filters.lag_scope(pair), start_ns, end_ns, bucket_s=bucket_s)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def stage_counts(
    url: str, stage: str, start_ns: int, end_ns: int, filters: business.Filters
) -> business.StageCounts:
    return business.stage_counts(engine_for(url), stage, start_ns, end_ns, filters)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def filter_choices(url: str, end_ns: int) -> tuple[list[str], list[str]]:
    return business.facilities_and_lines(engine_for(url), end_ns)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def bad_events(
    url: str, spec: SlaSpec, start_ns: int, end_ns: int, *, now_ns: int, filters: business.Filters
) -> bad_events_q.BadEvents:
    return bad_events_q.bad_events(engine_for(url), spec, start_ns, end_ns, now_ns=now_ns, filters=filters)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def throughput(
    url: str,
    start_ns: int,
    end_ns: int,
    *,
    resolution_s: int,
    step_s: int,
    by: Literal["service", "interface"],
) -> pd.DataFrame:
    return operations.throughput(
        engine_for(url), start_ns, end_ns, resolution_s=resolution_s, step_s=step_s, by=by
    )


@st.cache_data(ttl=TTL_S, show_spinner=False)
def queue_series(url: str, start_ns: int, end_ns: int, resolution_s: int, step_s: int) -> pd.DataFrame:
    return operations.queue_series(engine_for(url), start_ns, end_ns, resolution_s, step_s)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def queue_now(url: str, now_ns: int) -> pd.DataFrame:
    return operations.queue_now(engine_for(url), now_ns)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def top_errors(url: str, start_ns: int, end_ns: int) -> pd.DataFrame:
    return operations.top_errors(engine_for(url), start_ns, end_ns)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def feed_silence(url: str, now_ns: int) -> pd.DataFrame:
    return operations.feed_silence(engine_for(url), now_ns)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def search_spans(url: str, query: traces.SpanSearch) -> traces.SearchResult:
    return traces.search(engine_for(url), query)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def trace(url: str, trace_id: str) -> pd.DataFrame:
    return traces.trace(engine_for(url), trace_id)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def trace_keys(url: str, trace_id: str) -> list[tuple[str, str]]:
    return traces.trace_keys(engine_for(url), trace_id)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def journey(url: str, key_hash: str) -> pd.DataFrame:
    return traces.journey(engine_for(url), key_hash)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def span_details(url: str, trace_id: str, span_id: str) -> dict[str, object] | None:
    return traces.span_details(engine_for(url), trace_id, span_id)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def search_choices(url: str, since_ns: int) -> tuple[list[str], list[str]]:
    engine = engine_for(url)
    return traces.services(engine, since_ns), traces.stages(engine, since_ns)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def service_graph(url: str, start_ns: int, end_ns: int, resolution_s: int) -> dependencies.Graph:
    return dependencies.service_graph(engine_for(url), start_ns, end_ns, resolution_s)


# --------------------------------------------------------------------------- alerts (alerts.api)


@st.cache_data(ttl=10, show_spinner=False)
def alerts(url: str, now_s: int, recent_h: int) -> list[alerts_api.AlertInfo]:
    from datetime import timedelta

    return list(alerts_api.list_alerts(engine_for(url), recent=timedelta(hours=recent_h)))


@st.cache_data(ttl=10, show_spinner=False)
def silences(url: str, now_s: int, include_expired: bool) -> list[alerts_api.SilenceInfo]:
    return list(alerts_api.list_silences(engine_for(url), include_expired=include_expired))


@st.cache_data(ttl=10, show_spinner=False)
def audit(url: str, now_s: int) -> list[alerts_api.AuditInfo]:
    return list(alerts_api.audit_log(engine_for(url), limit=200))


def forget_alerts() -> None:
    """After an acknowledgement or a silence: show the new state at once."""
    alerts.clear()
    silences.clear()
    audit.clear()
