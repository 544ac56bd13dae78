"""What every page shares: the sidebar controls kept in the URL, the banners, auto-refresh.

The sidebar widgets are bound to URL query parameters (``bind="query-params"``), so the address
bar always holds the view and a copied link opens it: ``range``, ``from``, ``to``, ``tz``,
``facility``, ``line`` and ``refresh``. Page widgets add their own (``sla``, ``slice``,
``trace``, ``key`` ...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

import streamlit as st
from sqlalchemy.engine import Engine

from dashboards import timerange
from dashboards.auth import Identity, may_open
from dashboards.business import AGE_PARAMS
from dashboards.catalog import Catalog
from dashboards.config import DashboardConfig
from dashboards.queries import rollup_lag
from dashboards.queries.business import Filters
from dashboards.queries.status import StoreStatus
from dashboards.ui import cached, session
from dashboards.ui.resources import Resources, resources

REFRESH_CHOICES = {"30s": 30, "1m": 60, "5m": 300, "off": 0}
COMMON_ZONES = (
    "UTC",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "Europe/London",
    "Europe/Berlin",
    "Asia/Kolkata",
    "Australia/Sydney",
)
ALL = "all"
#: Page key -> (script, title, icon). The URL path of a page is its key.
PAGES: dict[str, tuple[str, str, str]] = {
    "scorecard": ("screens/scorecard.py", "Executive scorecard", ":material/dashboard:"),
    "sla": ("screens/sla.py", "SLA detail", ":material/target:"),
    "operations": ("screens/operations.py", "Operations", ":material/monitor_heart:"),
    "traces": ("screens/traces.py", "Traces", ":material/timeline:"),
    "dependencies": ("screens/dependencies.py", "Dependency map", ":material/hub:"),
    "apis": ("screens/apis.py", "APIs", ":material/api:"),
    "alerts": ("screens/alerts.py", "Alerts", ":material/notifications:"),
    "exceptions": ("screens/exceptions.py", "Exceptions", ":material/report:"),
    "capacity": ("screens/capacity.py", "Capacity", ":material/speed:"),
}


@dataclass(frozen=True)
class View:
    """The view the sidebar selected: the range's rule (not yet resolved against now)."""

    params: dict[str, str]
    tz: str
    filters: Filters
    refresh_s: int


@dataclass(frozen=True)
class PageContext:
    res: Resources
    identity: Identity
    view: View
    tr: timerange.TimeRange
    now_ns: int
    status: StoreStatus

    @property
    def engine(self) -> Engine:
        return self.res.engine

    @property
    def url(self) -> str:
        return self.res.url

    @property
    def config(self) -> DashboardConfig:
        return self.res.config

    @property
    def catalog(self) -> Catalog:
        return self.res.catalog

    @property
    def filters(self) -> Filters:
        return self.view.filters

    @property
    def tz(self) -> str:
        return self.tr.tz

    @property
    def tz_label(self) -> str:
        abbreviation = timerange.to_datetime(self.now_ns, self.tr.tz).strftime("%Z")
        return self.tr.tz if abbreviation == self.tr.tz else f"{self.tr.tz}, {abbreviation}"

    def fmt(self, ns: int | None, *, seconds: bool = False) -> str:
        return timerange.format_time(ns, self.tz, seconds=seconds)

    def page_params(self, **params: str) -> dict[str, str]:
        """Query parameters for a link to another page: this view's, plus the page's own."""
        return {**self.shared_params(), **{k: v for k, v in params.items() if v}}

    def link(self, page: str, **params: str) -> str:
        """A relative URL to ``page`` keeping this view's range, zone and filters (for tables).

        The first page (the scorecard) is the app's default and lives at the root.
        """
        path = "./" if page == next(iter(PAGES)) else page
        return f"{path}?{urlencode(self.page_params(**params))}"

    def shared_params(self) -> dict[str, str]:
        out = dict(self.view.params)
        if self.filters.facility:
            out["facility"] = self.filters.facility
        if self.filters.service_line:
            out["line"] = self.filters.service_line
        return out


def browser_zone(config: DashboardConfig) -> str:
    return timerange.valid_tz(st.context.timezone, config.time_zone)


def sidebar(res: Resources, identity: Identity) -> View:
    """The shared controls; every value is bound to the URL."""
    config = res.config
    with st.sidebar:
        st.markdown("**Time range**")
        preset = (
            st.segmented_control(
                "Range",
                [*timerange.PRESETS, "custom"],
                default=timerange.DEFAULT_PRESET,
                key="range",
                bind="query-params",
                help="Last hour, day, week or month, or a custom range (kept in the URL: share the link).",
                label_visibility="collapsed",
            )
            or timerange.DEFAULT_PRESET
        )
        # Values from a shared link stay selectable even when they are not among the usual ones.
        wanted = st.query_params
        linked_zone = timerange.valid_tz(wanted.get("tz"), "")
        zones = list(
            dict.fromkeys([browser_zone(config), config.time_zone, *COMMON_ZONES, *[linked_zone][:1]])
        )
        zones = [z for z in zones if z]
        tz = st.selectbox(
            "Time zone",
            zones,
            index=0,
            key="tz",
            bind="query-params",
            help="Every time on the page is shown in it.",
        )
        params = {"range": preset, "tz": tz}
        if preset == "custom":
            # What the link asked for, before the widgets replace what they cannot read with their
            # defaults: a range that cannot be read is explained on the page, not silently swapped.
            linked = {name: wanted.get(name) for name in ("from", "to")}
            default_from, default_to = _custom_defaults(tz)
            start = st.datetime_input("From", value=default_from, key="from", bind="query-params")
            end = st.datetime_input("To", value=default_to, key="to", bind="query-params")
            params["from"] = (start or default_from).isoformat(timespec="minutes")
            params["to"] = (end or default_to).isoformat(timespec="minutes")
            for name, text in linked.items():
                if text and not _readable(text):
                    params[name] = text
        # The age of the scorecard's "at risk now" (``age=1h``) travels with the view's links.
        age = wanted.get("age")
        if age is not None and age in AGE_PARAMS.values():
            params["age"] = age
        st.markdown("**Filters**")
        facilities, lines = cached.filter_choices(res.url, timerange.snap(timerange.utc_now_ns(), 60))
        facilities = sorted({*facilities, *[v for v in [wanted.get("facility")] if v and v != ALL]})
        lines = sorted({*lines, *[v for v in [wanted.get("line")] if v and v != ALL]})
        facility = st.selectbox(
            "Facility",
            [ALL, *facilities],
            key="facility",
            bind="query-params",
            help="hc.facility of the telemetry.",
        )
        line = st.selectbox(
            "Service line",
            [ALL, *lines],
            key="line",
            bind="query-params",
            help="hc.service_line of the telemetry.",
        )
        st.markdown("**Refresh**")
        default_refresh = _refresh_choice(float(config.refresh))
        refresh = (
            st.segmented_control(
                "Auto-refresh",
                list(REFRESH_CHOICES),
                default=default_refresh,
                key="refresh",
                bind="query-params",
                help="How often the page reloads its data; 'off' pauses it.",
            )
            or default_refresh
        )
        st.divider()
        st.caption(
            f"Signed in as **{identity.name}** ({identity.role})"
            if identity.username
            else "No login configured"
        )
    return View(
        params=params,
        tz=tz,
        filters=Filters(None if facility == ALL else facility, None if line == ALL else line),
        refresh_s=REFRESH_CHOICES[refresh],
    )


def _readable(text: str) -> bool:
    """Whether ``from=``/``to=`` is a date and time ``timerange.parse`` reads (ISO 8601)."""
    try:
        datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _refresh_choice(seconds: float) -> str:
    return min(
        (k for k in REFRESH_CHOICES if REFRESH_CHOICES[k]), key=lambda k: abs(REFRESH_CHOICES[k] - seconds)
    )


def _custom_defaults(tz: str) -> tuple[datetime, datetime]:
    """Stable per session: a widget's default must not change between reruns."""
    if "vitals.custom_defaults" not in st.session_state:
        now = timerange.to_datetime(timerange.utc_now_ns(), tz).replace(second=0, microsecond=0, tzinfo=None)
        st.session_state["vitals.custom_defaults"] = (now - timedelta(days=1), now)
    value: tuple[datetime, datetime] = st.session_state["vitals.custom_defaults"]
    return value


def current_view() -> View:
    view = st.session_state.get("vitals.view")
    if not isinstance(view, View):
        raise RuntimeError("page opened without the app shell (run `vitals dashboard`)")
    return view


def current_identity() -> Identity:
    identity = st.session_state.get("vitals.identity")
    if not isinstance(identity, Identity):
        raise RuntimeError("page opened without the app shell (run `vitals dashboard`)")
    return identity


def context() -> PageContext | None:
    """This run's context, or None (after showing why) when the range in the URL is invalid."""
    res = resources()
    view = current_view()
    now_ns = timerange.snap(timerange.utc_now_ns(), 5)
    try:
        tr = timerange.parse(view.params, now_ns, view.tz)
    except timerange.RangeError as exc:
        st.error(
            f"**The time range in the URL cannot be read:** {exc}. Correct `from=` and `to=` in the "
            f"address (ISO 8601 in {view.tz}, e.g. `2026-11-24T08:00`, `to=` after `from=`), or choose "
            "a range in the sidebar.",
            icon=":material/error:",
        )
        return None
    return PageContext(res, current_identity(), view, tr, now_ns, cached.store_status(res.url, now_ns))


def _figures_lag_s(ctx: PageContext) -> float | None:
    """How long the oldest row not in the figures has waited, when more than two rollup ticks.

    A few unfolded rows are the normal state of live traffic (the next tick takes them), so the
    banner speaks only when the figures trail the store by more than a tick or two.
    """
    oldest = rollup_lag.oldest_pending_received_ns(ctx.engine, ctx.status.rollup_watermarks)
    return rollup_lag.behind(ctx.now_ns, oldest, float(ctx.config.rollup_interval))


def banners(ctx: PageContext, *, needs_telemetry: bool = True, needs_evaluations: bool = False) -> bool:
    """Empty, stale and catching-up states; False when the page has nothing to show at all."""
    s = ctx.status
    endpoint = ctx.config.otlp_endpoint
    if ctx.catalog.problems:
        listed = "\n".join(f"- `{problem}`" for problem in ctx.catalog.problems)
        st.error(
            "**The SLA files have errors** (the SLA engine rejects them too; it keeps evaluating the "
            f"SLAs it last loaded, and no SLA definition is shown here until they are fixed):\n{listed}",
            icon=":material/error:",
        )
    if not s.has_telemetry:
        st.info(
            f"**No telemetry yet.** Point your OTLP exporter at `{endpoint}` "
            f"(`OTEL_EXPORTER_OTLP_ENDPOINT={endpoint}`) with `vitals serve` running, "
            "or run `vitals demo` to watch a synthetic health system.",
            icon=":material/sensors_off:",
        )
        if needs_telemetry:
            return False
    else:
        age = s.telemetry_age_s
        if age is not None and age > float(ctx.config.stale_after):
            st.warning(
                f"**Stale data:** the newest telemetry arrived {timerange.format_duration(age)} ago "
                f"({ctx.fmt(ctx.now_ns - int(age * 1e9))}). The collector (`vitals serve`) may have stopped "
                "or fallen behind, or the senders went quiet.",
                icon=":material/schedule:",
            )
        lag_s = _figures_lag_s(ctx) if s.rollup_behind > 0 else None
        if lag_s is not None:
            interval = float(ctx.config.rollup_interval)
            st.info(
                f"Catching up: the figures trail the store by {timerange.format_duration(lag_s)} "
                f"(the rollups fold new telemetry in every {timerange.format_duration(interval)}; "
                f"{s.rollup_behind:,} rows are still to come).",
                icon=":material/hourglass_top:",
            )
    if needs_evaluations:
        eval_age = s.evaluation_age_s
        if eval_age is None:
            if ctx.catalog.slas:
                st.info(
                    "**No SLA evaluations yet.** The SLA engine runs inside `vitals serve` and writes "
                    "its first evaluation within a minute of starting.",
                    icon=":material/pending:",
                )
        elif eval_age > max(300.0, float(ctx.config.stale_after)):
            st.warning(
                f"**SLA evaluations are {timerange.format_duration(eval_age)} old** (last at "
                f"{ctx.fmt(s.newest_evaluation_ns)}): is the SLA engine (`vitals serve`) running?",
                icon=":material/schedule:",
            )
    return True


def render(page: str, body: Callable[[PageContext], None]) -> None:
    """Run a page body inside an auto-refreshing fragment, with the 'updated at' line."""
    identity = current_identity()
    if not may_open(identity.role, page):
        st.error(f"The {identity.role} role cannot open this page.")
        st.stop()
    view = current_view()

    @st.fragment(run_every=view.refresh_s or None)
    def fragment() -> None:
        # An auto-refresh is no interaction, but an ended session or a lost role stops it: the
        # whole app runs again and says why.
        now_identity = session.check(resources())
        if now_identity is None or not may_open(now_identity.role, page):
            st.rerun(scope="app")
        ctx = context()
        if ctx is None:
            return
        refresh = f"auto-refresh every {view.refresh_s} s" if view.refresh_s else "auto-refresh paused"
        span = f"{ctx.tr.label} ({ctx.fmt(ctx.tr.start_ns)} to {ctx.fmt(ctx.tr.end_ns)})"
        st.caption(
            f"Updated at {ctx.fmt(timerange.utc_now_ns(), seconds=True)} · {refresh} · {span} · "
            f"times in {ctx.tz_label}"
        )
        body(ctx)
        session.page_read(ctx.res, now_identity, page, ctx.shared_params())

    fragment()
