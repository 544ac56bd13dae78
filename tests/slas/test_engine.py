"""The incremental engine against in-memory edges: ticks, restarts, back-fills, concurrency."""

from __future__ import annotations

from collections.abc import Sequence

from slas.engine import SlaEngine
from slas.model import Evaluation
from slas.records import PointRecord, SpanRecord
from slas.source import MemoryTelemetrySource, Ranges
from slas.spec import SLA, EvaluationSettings, Selector
from slas.store import MemoryStateStore
from tests.slas.helpers import HOUR, MIN, Clock, Timeline, engine_for, make_sla
from tests.slas.scenario import END, as_dict, scenario_records, scenario_slas
from vitals.kernel.follow import Cursor


def from_scratch(
    slas: Sequence[SLA] | None = None, at: float = END
) -> tuple[dict[tuple[str, str | None], Evaluation], MemoryStateStore]:
    spans, points = scenario_records()
    engine, _, _, store = engine_for(slas or scenario_slas(), spans, points, at=at)
    return as_dict(engine.tick().evaluations), store


def feed_in_chunks(
    engine: SlaEngine, clock: Clock, source: MemoryTelemetrySource, chunks: int, until: float
) -> None:
    spans, points = scenario_records()
    for i in range(chunks):
        source.add_spans(spans[i * len(spans) // chunks : (i + 1) * len(spans) // chunks])
        source.add_points(points[i * len(points) // chunks : (i + 1) * len(points) // chunks])
        clock.set(until * (i + 1) / chunks)
        engine.tick()


def test_incremental_ticks_equal_a_from_scratch_evaluation() -> None:
    expected, scratch_store = from_scratch()
    engine, clock, source, store = engine_for(scenario_slas())
    feed_in_chunks(engine, clock, source, chunks=9, until=END)
    clock.set(END)
    got = as_dict(engine.tick().evaluations)
    assert got.keys() == expected.keys() and len(got) == 1 + 3 + 1 + 1 + 3 + 1 + 3 + 1 + 2
    assert got == expected
    assert store.minutes == scratch_store.minutes
    statuses = {key: ev.status for key, ev in got.items()}
    assert statuses[("adt-silence", "hc.facility=south-campus")] == "breach"  # the hour of silence
    assert statuses[("queue-age", "queue=charges-outbound")] == "breach"
    charge_lag = got[("charge-lag", None)]
    assert charge_lag.at_risk_amount is not None and charge_lag.at_risk_amount > 0


def test_restart_resumes_from_the_stored_state() -> None:
    expected, _ = from_scratch()
    store = MemoryStateStore()
    first, clock, source, _ = engine_for(scenario_slas(), store=store)
    spans, points = scenario_records()
    source.add_spans(spans[: len(spans) // 2])
    source.add_points(points[: len(points) // 2])
    clock.set(END / 2)
    first.tick()
    # a new process: same store and telemetry, nothing in memory
    second, clock2, _, _ = engine_for(scenario_slas(), store=store, source=source)
    source.add_spans(spans[len(spans) // 2 :])
    source.add_points(points[len(points) // 2 :])
    clock2.set(END)
    assert as_dict(second.tick().evaluations) == expected


def test_a_new_sla_and_an_edited_sla_are_back_filled_from_history_once() -> None:
    slas = scenario_slas()
    engine, clock, source, _ = engine_for(slas[:2])
    feed_in_chunks(engine, clock, source, chunks=3, until=END)
    clock.set(END)
    engine.set_slas(slas)  # three SLAs appear
    result = engine.tick()
    expected, _ = from_scratch()
    assert as_dict(result.evaluations) == expected
    assert result.backfilled > 0 and result.backfilling == {}

    edited = scenario_slas(within="1h")
    engine.set_slas(edited)
    result = engine.tick()
    expected_edited, _ = from_scratch(edited)
    assert as_dict(result.evaluations) == expected_edited
    assert expected_edited[("charge-lag", None)].good != expected[("charge-lag", None)].good
    again = engine.tick()
    assert again.backfilled == 0  # once


def test_back_fill_in_slices_withholds_evaluations_until_complete() -> None:
    slas = scenario_slas()
    engine, clock, source, _ = engine_for(slas[:1])
    feed_in_chunks(engine, clock, source, chunks=1, until=END)
    engine.settings = EvaluationSettings(batch_rows=100, backfill_budget=0.0)
    engine.set_slas(slas)
    result = engine.tick()
    # with no back-fill budget each step reads one batch of at most 100 rows per source
    assert set(result.backfilling) == {"eligibility-latency", "charge-lag", "adt-silence", "queue-age"}
    assert {ev.sla_id for ev in result.evaluations} == {"gl-posting-errors"}
    engine.settings = EvaluationSettings(batch_rows=1000)
    result = engine.tick()
    assert result.backfilling == {}
    expected, _ = from_scratch()
    assert as_dict(result.evaluations) == expected


def test_removed_sla_is_forgotten() -> None:
    engine, clock, source, store = engine_for(scenario_slas())
    feed_in_chunks(engine, clock, source, chunks=1, until=END)
    engine.set_slas(scenario_slas()[1:])
    engine.tick()
    assert "gl-posting-errors" not in store.definitions
    assert not any(key[0] == "gl-posting-errors" for key in store.minutes)


def test_rows_committed_out_of_id_order_are_not_lost_behind_the_watermark() -> None:
    tl = Timeline()
    sla = make_sla(sli={"ratio": {"total": {"span": "op"}, "bad": {"status": "error"}}})

    def run(horizon_s: float) -> tuple[float, float]:
        spans = [tl.span(60 + i, status="error" if i % 2 else "unset") for i in range(10)]
        source = MemoryTelemetrySource(spans)
        clock = Clock(5 * MIN)
        engine = SlaEngine([sla], MemoryStateStore(), source, clock=clock, watermark_horizon_s=horizon_s)
        source.hidden = {spans[3].id, spans[4].id}  # a writer holds these ids, uncommitted
        engine.tick()
        source.hidden = set()  # ... and commits them after higher ids were read
        clock.set(5 * MIN + 10)
        ev = engine.tick().evaluations[0]
        return ev.good, ev.total

    assert run(horizon_s=60) == (5, 10)
    assert run(horizon_s=0) == (4, 8)  # without a horizon the late commit would be lost


class _Racing(MemoryTelemetrySource):
    """Lets another engine commit while this one is between reading and committing."""

    def __init__(self, inner: MemoryTelemetrySource) -> None:
        super().__init__()
        self.inner = inner
        self.before_read: list[SlaEngine] = []

    def read_spans(self, cursor: Cursor, limit: int) -> list[SpanRecord]:
        rows = self.inner.read_spans(cursor, limit)
        while self.before_read:
            self.before_read.pop().tick()
        return rows

    def read_points(self, cursor: Cursor, limit: int) -> list[PointRecord]:
        return self.inner.read_points(cursor, limit)

    def read_spans_in(self, ranges: Ranges, limit: int, selectors: Sequence[Selector]) -> list[SpanRecord]:
        return self.inner.read_spans_in(ranges, limit, selectors)

    def read_points_in(self, ranges: Ranges, limit: int, names: set[str]) -> list[PointRecord]:
        return self.inner.read_points_in(ranges, limit, names)


def test_two_engines_never_count_a_row_twice() -> None:
    expected, _ = from_scratch()
    spans, points = scenario_records()
    inner = MemoryTelemetrySource(spans, points)
    store = MemoryStateStore()
    clock = Clock(END)
    other = SlaEngine(scenario_slas(), store, inner, clock=clock)
    racing = _Racing(inner)
    engine = SlaEngine(scenario_slas(), store, racing, clock=clock)
    racing.before_read.append(other)
    result = engine.tick()  # its first commit conflicts with `other`'s; it reloads and retries
    assert as_dict(result.evaluations) == expected
    assert as_dict(other.evaluate(clock.now)) == expected


def test_catching_up_withholds_evaluations() -> None:
    spans, points = scenario_records()
    engine, _, _, _ = engine_for(scenario_slas(), spans, points, at=END)
    engine.settings = EvaluationSettings(batch_rows=100, interval=1)
    result = engine.tick(budget_s=0.0)
    assert not result.caught_up and result.evaluations == []
    engine.settings = EvaluationSettings(batch_rows=100_000)
    expected, _ = from_scratch()
    assert as_dict(engine.tick().evaluations) == expected


def test_evaluating_in_the_past_reads_older_rollups_from_the_store() -> None:
    engine, clock, source, _ = engine_for(scenario_slas())
    feed_in_chunks(engine, clock, source, chunks=2, until=END)
    clock.set(END + 40 * HOUR)  # memory trims what no window needs any more
    engine.tick()
    past = as_dict(engine.evaluate(int((1_772_409_600 + END) * 1e9)))
    expected, _ = from_scratch()
    assert past == expected
