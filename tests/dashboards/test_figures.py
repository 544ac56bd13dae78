"""Figure builders are pure: plain data in, a plotly figure out, checked without a browser."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dashboards.figures import axes, graph, ops, palette, slo, traces
from dashboards.queries.dependencies import Edge, Graph, Node
from dashboards.timerange import format_duration
from slas.model import BurnRate

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
TIMES = [T0 + timedelta(minutes=10 * i) for i in range(4)]


def test_status_colours_are_okabe_ito_with_icon_and_word() -> None:
    assert palette.style("ok").colour == "#009E73"
    assert palette.style("breach").colour == "#D55E00"
    assert {s.icon for s in palette.STATUS.values()} == {"✔", "▲", "✖", "?"}
    assert palette.style("something-new") == palette.STATUS["no-data"]


def test_error_colour_scale() -> None:
    assert palette.error_colour(0.0) == palette.BLUE
    assert palette.error_colour(0.05) == palette.ORANGE
    assert palette.error_colour(0.5) == palette.VERMILLION
    between = palette.error_colour(0.025)
    assert between not in (palette.BLUE, palette.ORANGE) and between.startswith("#")


def test_sparkline_keeps_gaps_and_draws_the_objective() -> None:
    fig = slo.sparkline(TIMES, [0.99, None, 0.97, 0.98], 0.95, "warning")
    (trace,) = fig.data
    assert list(trace.y) == [99.0, None, 97.0, 98.0]
    assert trace.line.color == palette.style("warning").colour
    assert trace.connectgaps is False
    assert fig.layout.shapes[0].y0 == 95.0


def test_sli_over_time_against_objective() -> None:
    fig = slo.sli_over_time(TIMES, [0.999, 0.998, 0.99, None], 0.995, tz_label="UTC")
    sli, objective = fig.data
    assert list(sli.y) == [99.9, 99.8, 99.0, None]
    assert list(objective.y) == [99.5, 99.5] and objective.name == "Objective 99.5%"
    assert fig.layout.xaxis.title.text == "time (UTC)"


def test_budget_burndown_marks_exhaustion() -> None:
    fig = slo.budget_burndown(TIMES, [1.0, 0.5, 0.0, -0.25], tz_label="UTC", window_label="7d")
    assert list(fig.data[0].y) == [100.0, 50.0, 0.0, -25.0]
    assert fig.layout.shapes[0].y0 == 0
    assert "7d" in fig.layout.yaxis.title.text


def test_a_lone_budget_sample_is_drawn_not_just_the_exhaustion_line() -> None:
    """One evaluation (a fresh store) is a visible point at its value, on an axis from 0 to 100%."""
    fig = slo.budget_burndown(TIMES[:1], [0.696], tz_label="UTC", window_label="7d")
    (trace,) = fig.data
    assert list(trace.y) == [69.6] and "markers" in trace.mode
    low, high = fig.layout.yaxis.range
    assert low < 0 < 69.6 < 100 <= high
    # a sample between two gaps is drawn too; a connected series stays a plain line
    assert (
        "markers"
        in slo.budget_burndown(TIMES, [0.5, None, 0.4, 0.3], tz_label="UTC", window_label="7d").data[0].mode
    )
    assert (
        slo.budget_burndown(TIMES, [0.5, 0.5, 0.4, 0.3], tz_label="UTC", window_label="7d").data[0].mode
        == "lines"
    )
    assert "markers" in slo.sparkline(TIMES[:1], [0.99], 0.95, "ok").data[0].mode


def test_burn_rates_per_window_with_thresholds() -> None:
    rates = [
        BurnRate("1h/5m", 3600, 300, 14.4, 20.0, 18.0, "page", True),
        BurnRate("6h/30m", 21600, 1800, 6.0, None, None, "page", False),
    ]
    fig = slo.burn_rates(rates)
    long_, short, threshold = fig.data
    assert list(long_.x) == ["1h/5m", "6h/30m"] and list(long_.y) == [20.0, None]
    assert list(short.y) == [18.0, None]
    assert list(threshold.y) == [14.4, 6.0]


def test_time_series_one_line_per_series_in_fixed_colours() -> None:
    fig = ops.time_series(
        {"erp-finance": (TIMES, [0.1, 0.2, None, 0.0]), "billing": (TIMES, [0, 0, 0, 0])},
        title="Error rate",
        y_title="failed",
        tz_label="UTC",
        percent=True,
        bound=0.05,
    )
    assert [t.name for t in fig.data] == ["billing", "erp-finance"]  # sorted: stable colours
    assert list(fig.data[1].y) == [10.0, 20.0, None, 0.0]
    assert fig.data[0].line.color == palette.SERIES[0]
    assert fig.layout.shapes[0].y0 == 5.0


def test_lag_histogram_writes_durations_as_the_tables_do() -> None:
    fig = ops.lag_histogram(
        [(0, 5), (3600, 2), (90000, 1)], bucket_s=3600, within_s=86400, median_s=1800, p95_s=7200, title="Lag"
    )
    bars = fig.data[0]
    assert list(bars.x) == [1800, 5400, 91800] and list(bars.y) == [5, 2, 1]  # seconds
    assert list(bars.marker.color) == [palette.BLUE, palette.BLUE, palette.VERMILLION]  # past the deadline
    assert sorted(s.x0 for s in fig.layout.shapes) == [1800, 7200, 86400]
    # ticks say "6h 00m", never a bare 6 or 21600 (the tables' format_duration)
    axis = fig.layout.xaxis
    assert axis.tickmode == "array"
    assert list(axis.ticktext) == [format_duration(v) if v else "0" for v in axis.tickvals]
    assert "12h 00m" in axis.ticktext and "1d" in axis.ticktext
    assert bars.customdata[0] == "0 ms to 1h 00m"
    assert {a.text for a in fig.layout.annotations} == {"deadline 24 h", "median 30m 00s", "p95 2h 00m"}


def test_denial_codes_top_ten_with_share() -> None:
    counts = Counter({f"CO-{i}": i for i in range(1, 13)})
    fig = ops.denial_codes(counts, total=1000)
    bar = fig.data[0]
    assert len(bar.y) == 10 and bar.y[-1] == "CO-12"  # the largest at the top
    assert bar.text[-1] == "12 (1.2%)"


def test_waterfall_nests_children_under_parents() -> None:
    ms = 1_000_000
    bars = [
        traces.SpanBar("c", "a", "erp-finance", "erp.gl.post", 10 * ms, 40 * ms, True),
        traces.SpanBar("a", None, "billing", "billing.gl.export", 0, 50 * ms, False),
        traces.SpanBar("b", "a", "billing", "serialize", 2 * ms, 5 * ms, False),
        traces.SpanBar("orphan", "missing", "billing", "late child", 60 * ms, 61 * ms, False),
    ]
    ordered = traces.tree_order(bars)
    assert [(b.span_id, depth) for b, depth in ordered] == [("a", 0), ("b", 1), ("c", 1), ("orphan", 0)]
    fig = traces.waterfall(bars)
    billing = next(t for t in fig.data if t.name == "billing")
    erp = next(t for t in fig.data if t.name == "erp-finance")
    assert list(erp.base) == [10.0] and list(erp.x) == [30.0]
    assert erp.marker.line.color[0] == palette.VERMILLION  # failed span outlined
    assert len(billing.y) == 3


def test_journey_orders_stages_in_business_time() -> None:
    steps = [
        traces.JourneyStep(TIMES[2], "charge.posted", "billing", "billing.charge.post", "t3", False),
        traces.JourneyStep(TIMES[0], "procedure.documented", "ehr", "ehr.procedure.document", "t1", False),
        traces.JourneyStep(TIMES[1], "charge.sent", "integration-engine", "HL7 DFT^P03 send", "t2", True),
    ]
    fig = traces.journey(steps, tz_label="UTC")
    assert list(fig.data[0].y) == ["procedure.documented", "charge.sent", "charge.posted"]
    assert fig.data[0].marker.symbol[1] == "x"


def test_service_graph_layers_sizes_and_colours() -> None:
    g = Graph(
        nodes=(
            Node("ehr", 100, 0),
            Node("integration-engine", 300, 3),
            Node("billing", 200, 0),
            Node("erp", 50, 10),
        ),
        edges=(
            Edge("ehr", "integration-engine", "call", "", 100, 0, 0.01, 0.05),
            Edge("integration-engine", "billing", "queue", "charges-outbound", 1000, 0, 30.0, 600.0),
            Edge("billing", "erp", "call", "", 10, 5, 0.2, 1.0),
        ),
    )
    layer = graph.layers(g.nodes, g.edges)
    assert layer == {"ehr": 0, "integration-engine": 1, "billing": 2, "erp": 3}
    fig = graph.service_graph(g)
    lines = [t for t in fig.data if t.mode == "lines"]
    widths = {(t.x[0], t.x[-1]): t.line.width for t in lines}
    assert widths[(1.0, 2.0)] > widths[(0.0, 1.0)] > widths[(2.0, 3.0)]  # volume -> width
    queue = next(t for t in lines if t.line.dash == "dash")
    assert (queue.x[0], queue.x[-1]) == (1.0, 2.0)
    failing = next(t for t in lines if (t.x[0], t.x[-1]) == (2.0, 3.0))
    assert failing.line.color == palette.VERMILLION  # 50% failed
    hover = next(t for t in fig.data if t.name == "edges").text
    assert any("via queue charges-outbound" in h and "1,000 messages" in h for h in hover)


def test_service_graph_names_lower_nodes_below_them() -> None:
    """Edges reach a lower node from above: a name above it would sit under the lines."""
    g = Graph(
        nodes=(Node("a", 1, 0), Node("b", 1, 0), Node("c", 1, 0)),
        edges=(Edge("a", "b", "call", "", 1, 0, 0.1, 0.1), Edge("a", "c", "call", "", 1, 0, 0.1, 0.1)),
    )
    services = next(t for t in graph.service_graph(g).data if t.name == "services")
    where = dict(zip(services.text, services.textposition, strict=True))
    assert where == {"a": "top center", "b": "top center", "c": "bottom center"}


def test_service_graph_survives_cycles() -> None:
    g = Graph(
        nodes=(Node("a", 1, 0), Node("b", 1, 0)),
        edges=(Edge("a", "b", "call", "", 1, 0, 0.1, 0.1), Edge("b", "a", "call", "", 1, 0, 0.1, 0.1)),
    )
    fig = graph.service_graph(g)
    assert len([t for t in fig.data if t.mode == "lines"]) == 2


# --------------------------------------------------------------------------- issue 14: formatting


def test_duration_ticks_are_round_and_written_as_durations() -> None:
    values, texts = axes.duration_ticks(3 * 3600)
    assert values == [0, 3600, 7200, 10800]
    assert texts == ["0", "1h 00m", "2h 00m", "3h 00m"]
    ms_values, ms_texts = axes.duration_ticks(0.05, scale=1000)  # an axis in ms
    assert ms_values[:3] == [0, 10, 20] and ms_texts[:3] == ["0", "10 ms", "20 ms"]
    _v, week = axes.duration_ticks(7 * 86400)
    assert week[-2:] == ["6d", "8d"] and all(not t.replace(".", "").isdigit() for t in week[1:])


def test_a_missing_bucket_breaks_the_line() -> None:
    xs = [T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=5), T0 + timedelta(minutes=6)]
    gx, gy = axes.with_gaps(xs, [1.0, 2.0, 3.0, 4.0], 60)
    assert gx == [xs[0], xs[1], None, xs[2], xs[3]] and gy == [1.0, 2.0, None, 3.0, 4.0]
    # without a step: the usual spacing of the points
    assert axes.with_gaps(xs, [1.0, 2.0, 3.0, 4.0])[1] == [1.0, 2.0, None, 3.0, 4.0]
    fig = ops.time_series(
        {"billing": (xs, [1.0, 2.0, 3.0, 4.0])}, title="t", y_title="spans", tz_label="UTC", step_s=60
    )
    assert list(fig.data[0].y) == [1.0, 2.0, None, 3.0, 4.0]
    assert fig.data[0].connectgaps is False
    spark = slo.sparkline(xs, [0.99, 0.98, 0.97, 0.96], 0.95, "ok")
    assert list(spark.data[0].y) == [99.0, 98.0, None, 97.0, 96.0]
    sli = slo.sli_over_time(xs, [0.99, 0.98, 0.97, 0.96], 0.95, tz_label="UTC")
    assert None in list(sli.data[0].y)


def test_more_series_than_colours_show_the_largest_and_other() -> None:
    many = {f"iface-{i:02d}": (TIMES, [float(i)] * 4) for i in range(12)}
    fig = ops.time_series(many, title="t", y_title="spans", tz_label="UTC", step_s=600)
    names = [t.name for t in fig.data]
    assert len(names) == palette.MAX_SERIES + 1
    assert names[-1] == "other (5 series)"
    assert names[:-1] == [f"iface-{i:02d}" for i in range(5, 12)]  # the largest, by name
    colours = [t.line.color for t in fig.data]
    assert len(set(colours)) == len(colours)  # every series its own colour
    assert colours[-1] == palette.OTHER
    assert list(fig.data[-1].y) == [0.0 + 1 + 2 + 3 + 4] * 4  # the rest summed
    worst = ops.top_series(many, combine="max")
    assert worst["other (5 series)"][1] == [4.0] * 4
    # eight series still fit: nothing folded, eight distinct colours
    eight = ops.top_series({k: many[k] for k in list(many)[:8]})
    assert len(eight) == 8 and "other" not in " ".join(eight)


def test_waterfall_colours_stay_distinct_past_eight_services() -> None:
    ms = 1_000_000
    bars = [
        traces.SpanBar(f"s{i}", None, f"svc-{i:02d}", "work", i * ms, (i + 1) * ms, False) for i in range(10)
    ]
    fig = traces.waterfall(bars)
    colours = [t.marker.color for t in fig.data]
    assert len(set(colours)) == len(colours) == palette.MAX_SERIES + 1
    assert fig.data[-1].name == "other services (3)"


def test_waterfall_and_queue_age_axes_write_durations() -> None:
    ms = 1_000_000
    bars = [
        traces.SpanBar("a", None, "billing", "export", 0, 1500 * ms, False),
        traces.SpanBar("b", "a", "erp", "post", 200 * ms, 900 * ms, True),
    ]
    fig = traces.waterfall(bars)
    axis = fig.layout.xaxis
    assert list(axis.tickvals) == [0, 500, 1000, 1500]  # ms
    assert list(axis.ticktext) == ["0", "500 ms", "1.0 s", "1.5 s"]
    erp = next(t for t in fig.data if t.name == "erp")
    assert list(erp.customdata[0][2:]) == ["700 ms", "200 ms"]  # takes, starts at
    age = ops.time_series(
        {"charges-outbound": (TIMES, [60.0, 1800.0, 3182.0, None])},
        title="Oldest message age",
        y_title="oldest message (max per step)",
        tz_label="UTC",
        duration=True,
    )
    assert list(age.data[0].customdata)[:3] == ["1m 00s", "30m 00s", "53m 02s"]
    assert list(age.layout.yaxis.ticktext) == [
        format_duration(v) if v else "0" for v in age.layout.yaxis.tickvals
    ]


def test_time_axes_name_the_zone_as_it_writes_itself() -> None:
    chicago = ZoneInfo("America/Chicago")
    # the week across the end of daylight saving time (2026-11-01)
    xs = [datetime(2026, 10, 30, 12, tzinfo=chicago) + timedelta(days=d) for d in range(4)]
    fig = ops.time_series({"a": (xs, [1.0] * 4)}, title="t", y_title="y", tz_label="America/Chicago, CST")
    assert fig.layout.xaxis.title.text == "time (America/Chicago, CDT/CST)"
    winter = [datetime(2026, 11, 24, 8, tzinfo=chicago)]
    journey = traces.journey(
        [traces.JourneyStep(winter[0], "charge.posted", "billing", "post", "t", False)], tz_label="x"
    )
    assert journey.layout.xaxis.title.text == "business time (America/Chicago, CST)"
    assert journey.data[0].customdata[0][2] == "2026-11-24 08:00:00 CST"  # the hover names the zone
    assert "GMT" not in fig.layout.xaxis.title.text
    assert fig.layout.xaxis.hoverformat == "%Y-%m-%d %H:%M"  # two abbreviations: the title names them
    winter_fig = ops.time_series({"a": (winter, [1.0])}, title="t", y_title="y", tz_label="x")
    assert winter_fig.layout.xaxis.hoverformat == "%Y-%m-%d %H:%M CST"


def test_edge_latency_is_written_as_a_duration() -> None:
    e = Edge("billing", "erp-finance", "call", "", 1200, 3, 0.85, 3182.0)
    label = graph.edge_label(e)
    assert "1,200 calls" in label and "latency mean 850 ms, max 53m 02s" in label
