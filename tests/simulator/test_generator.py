"""The pure generator: determinism, ordering, vocabulary, volumes and shapes (no I/O, seconds)."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime

import pytest

from simulator.calendar import close_phase, local, rate_factor
from simulator.estate import (
    FACILITIES,
    FACILITY_BY_NAME,
    QUEUES,
    SERVICE_LINES,
    STAGES,
    SYSTEM_SERVICES,
    WORKFLOWS,
)
from simulator.fakes import PHI_KEYS
from simulator.generator import SLOT_NS, Generator
from simulator.model import MetricSpec, SpanSpec
from vitals.kernel.units import NS

NOW = datetime(2025, 3, 12, 15, 0, tzinfo=UTC)  # Wednesday 10:00 in Chicago
NOW_NS = int(NOW.timestamp()) * NS
HOUR = 3600 * NS


def spans(items: list[SpanSpec | MetricSpec]) -> list[SpanSpec]:
    return [item for item in items if isinstance(item, SpanSpec)]


@pytest.fixture(scope="module")
def one_day() -> list[SpanSpec | MetricSpec]:
    """A healthy Tuesday-to-Wednesday day of the whole estate."""
    return list(Generator(seed=11, start_ns=NOW_NS - 24 * HOUR).items(NOW_NS))


def test_same_seed_same_items_different_seed_different_items() -> None:
    def run(seed: int) -> list[SpanSpec | MetricSpec]:
        return list(Generator(seed=seed, start_ns=NOW_NS - 2 * HOUR, rate_scale=0.25).items(NOW_NS))

    first, second, other = run(5), run(5), run(6)
    assert first == second
    assert len(first) > 500
    ids = {item.span_id for item in spans(first)}
    assert ids.isdisjoint({item.span_id for item in spans(other)})


def test_an_objects_spans_do_not_depend_on_the_window() -> None:
    """Back-fill then live equals one long run: a later window holds exactly the later spans."""

    def window(start: int, until: int) -> list[SpanSpec]:
        return spans(list(Generator(seed=3, start_ns=start, rate_scale=0.3).items(until)))

    early = window(NOW_NS - 3 * HOUR, NOW_NS)
    late = window(NOW_NS - HOUR, NOW_NS)
    assert len(late) > 500
    assert late == [span for span in early if span.start_ns >= NOW_NS - HOUR]
    prefix = window(NOW_NS - 3 * HOUR, NOW_NS - HOUR)
    assert prefix == [span for span in early if span.end_ns < NOW_NS - HOUR]


def test_items_come_in_time_order_inside_the_window(one_day: list[SpanSpec | MetricSpec]) -> None:
    times = [item.time_ns for item in one_day]
    assert times == sorted(times)
    start = NOW_NS - 24 * HOUR
    for span in spans(one_day):
        assert start <= span.start_ns <= span.end_ns < NOW_NS
    assert len({(s.trace_id, s.span_id) for s in spans(one_day)}) == len(spans(one_day))


def test_only_the_shared_vocabulary_is_emitted(one_day: list[SpanSpec | MetricSpec]) -> None:
    services = set(SYSTEM_SERVICES.values())
    for span in spans(one_day):
        attrs = span.attributes
        assert span.service in services
        if "hc.stage" in attrs:
            workflow, message_type = STAGES[str(attrs["hc.stage"])]
            assert workflow in ("*", attrs["hc.workflow"])
            if message_type is not None and "hc.message.type" in attrs:
                assert attrs["hc.message.type"] == message_type
        if "hc.workflow" in attrs:
            assert attrs["hc.workflow"] in WORKFLOWS
        if "hc.facility" in attrs:
            assert attrs["hc.facility"] in FACILITY_BY_NAME
        if "hc.service_line" in attrs:
            assert attrs["hc.service_line"] in SERVICE_LINES
        if "messaging.destination.name" in attrs:
            assert attrs["messaging.destination.name"] in QUEUES
        if "hc.amount" in attrs:
            assert isinstance(attrs["hc.amount"], float)
    names = {span.name for span in spans(one_day)}
    for expected in (
        "erp.gl.post",
        "payer.eligibility.check",
        "billing.charge.post",
        "ehr.procedure.document",
        "erp.inventory.adjust",
        "ehr.supply.consume",
        "clearinghouse.claim.submit",
        "clearinghouse.ack.999",
        "payer.remit.receive",
        "payer.prior_auth.request",
        "HL7 ADT^A04 process",
        "HL7 ADT^A08 process",
        "HL7 DFT^P03 process",
    ):
        assert expected in names
    stages = {span.attributes.get("hc.stage") for span in spans(one_day)}
    assert set(STAGES) - stages <= {"payroll.run"}  # payroll runs every other Thursday


def test_queue_hops_pair_producers_and_consumers_by_link_and_message_id(
    one_day: list[SpanSpec | MetricSpec],
) -> None:
    by_id = {(s.trace_id, s.span_id): s for s in spans(one_day)}
    consumers = [s for s in spans(one_day) if s.kind == "consumer" and "messaging.message.id" in s.attributes]
    assert len(consumers) > 10_000
    linked = 0
    for consumer in consumers:
        assert len(consumer.links) == 1 and consumer.parent_span_id == 0
        producer = by_id.get(consumer.links[0])
        if producer is None:  # published before the window
            continue
        linked += 1
        assert producer.kind == "producer"
        assert producer.attributes["messaging.message.id"] == consumer.attributes["messaging.message.id"]
        assert producer.attributes["messaging.operation.type"] == "publish"
        assert consumer.attributes["messaging.operation.type"] == "process"
        assert producer.end_ns <= consumer.start_ns
    assert linked > 0.95 * len(consumers)


def test_api_calls_are_client_server_pairs(one_day: list[SpanSpec | MetricSpec]) -> None:
    by_id = {(s.trace_id, s.span_id): s for s in spans(one_day)}
    servers = [s for s in spans(one_day) if s.kind == "server" and s.parent_span_id]
    assert {s.name for s in servers} >= {"payer.eligibility.check", "payer.prior_auth.request"}
    for server in servers:
        client = by_id[(server.trace_id, server.parent_span_id)]
        assert client.kind == "client" and client.service != server.service
        assert client.start_ns <= server.start_ns <= server.end_ns <= client.end_ns
        assert "http.request.method" in client.attributes and "http.route" in server.attributes


def test_volumes_per_hospital_and_the_asc(one_day: list[SpanSpec | MetricSpec]) -> None:
    per_facility = Counter(s.attributes.get("hc.facility") for s in spans(one_day))
    assert 20_000 <= per_facility["north-campus"] <= 60_000
    assert 14_000 <= per_facility["south-campus"] < per_facility["north-campus"]
    assert 1_000 <= per_facility["lakeside-asc"] < per_facility["south-campus"] / 3


def test_daily_curve_weekends_and_month_end_close() -> None:
    def at(year: int, month: int, day: int, hour: int) -> float:
        return datetime(year, month, day, hour, 30, tzinfo=local(0).tzinfo).timestamp()

    # Wednesday 2025-03-12: registrations peak in the morning, trough at night
    assert rate_factor("encounter.outpatient", at(2025, 3, 12, 9)) > 5 * rate_factor(
        "encounter.outpatient", at(2025, 3, 12, 3)
    )
    # the emergency department never sleeps
    assert rate_factor("encounter.emergency", at(2025, 3, 12, 3)) > 0.3
    # Saturday: fewer procedures; the ASC is closed
    assert rate_factor("charge", at(2025, 3, 15, 10)) < 0.5 * rate_factor("charge", at(2025, 3, 12, 10))
    assert rate_factor("charge", at(2025, 3, 15, 10), asc=True) == 0
    assert rate_factor("charge", at(2025, 3, 12, 20), asc=True) == 0
    # month-end close: Friday 2025-02-28 is the last business day, Mon/Tue 3-4 March the first two
    assert close_phase(datetime(2025, 2, 28).date()) == "last"
    assert close_phase(datetime(2025, 3, 3).date()) == "first"
    assert close_phase(datetime(2025, 3, 12).date()) is None
    assert rate_factor("journal", at(2025, 2, 28, 10)) > 5 * rate_factor("journal", at(2025, 2, 26, 10))


def test_expected_arrivals_match_the_stated_volumes() -> None:
    generator = Generator(seed=1, start_ns=NOW_NS)
    north = FACILITY_BY_NAME["north-campus"]
    wednesday = int(datetime(2025, 3, 12, 5, 0, tzinfo=UTC).timestamp()) * NS  # midnight in Chicago
    daily = sum(generator.expected("charge", north, wednesday // SLOT_NS + k) for k in range(96))
    assert daily == pytest.approx(3000, rel=0.03)


def test_charge_lag_is_long_tailed(one_day: list[SpanSpec | MetricSpec]) -> None:
    documented: dict[str, int] = {}
    lags: list[float] = []
    for span in spans(one_day):
        key = span.attributes.get("hc.key.charge")
        if span.attributes.get("hc.stage") == "procedure.documented":
            documented[str(key)] = span.start_ns
        elif span.attributes.get("hc.stage") == "charge.posted" and str(key) in documented and not span.error:
            lags.append((span.start_ns - documented[str(key)]) / 3600 / NS)
    assert len(lags) > 3000
    assert statistics.median(lags) < 2.0  # most within a couple of hours
    assert max(lags) > 12  # but a tail much longer than that


def test_a_small_base_error_rate_and_fake_identifiers(one_day: list[SpanSpec | MetricSpec]) -> None:
    all_spans = spans(one_day)
    errors = [s for s in all_spans if s.error]
    assert 0 < len(errors) < 0.005 * len(all_spans)
    planted = [s for s in all_spans if PHI_KEYS & set(s.attributes)]
    assert planted and all(s.service in {"ehr"} for s in planted)
    assert any("PID|1||" in str(s.attributes.get("hl7.pid_segment")) for s in planted)


def test_keys_correlate_stages_across_systems_and_traces(one_day: list[SpanSpec | MetricSpec]) -> None:
    journeys: dict[str, set[tuple[str, str, int]]] = defaultdict(set)
    for span in spans(one_day):
        key = span.attributes.get("hc.key.order")
        if key is not None and "hc.stage" in span.attributes:
            journeys[str(key)].add((str(span.attributes["hc.stage"]), span.service, span.trace_id))
    complete = [
        j for j in journeys.values() if {"requisition.created", "po.issued"} <= {stage for stage, _, _ in j}
    ]
    assert complete
    for journey in complete:
        assert len({trace for _, _, trace in journey}) == len(journey)  # one trace per step


def test_money_on_charges_claims_remits_and_orders(one_day: list[SpanSpec | MetricSpec]) -> None:
    with_money = {
        s.attributes["hc.stage"]
        for s in spans(one_day)
        if "hc.amount" in s.attributes and "hc.stage" in s.attributes
    }
    assert {
        "charge.posted",
        "claim.submitted",
        "remit.received",
        "po.issued",
        "invoice.matched",
    } <= with_money


def test_queue_gauges_every_minute_for_every_queue(one_day: list[SpanSpec | MetricSpec]) -> None:
    samples = [item for item in one_day if isinstance(item, MetricSpec)]
    assert len(samples) == 24 * 60 * len(QUEUES) * 6
    depth = [
        s.value for s in samples if s.name == "queue.depth" and s.attributes["queue"] == "charges-outbound"
    ]
    assert max(depth) < 50  # healthy: the consumers keep up
    assert {s.attributes["hc.system"] for s in samples} == {q.system for q in QUEUES.values()}
    assert all(s.service == "integration-engine" and s.attributes["broker"] == "rabbitmq" for s in samples)
    assert len(FACILITIES) == 3
