"""Each incident bends the telemetry exactly where and how its ground truth says (pure, seconds)."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.generator import Generator
from simulator.incidents import Window, compile_effects
from simulator.model import MetricSpec, SpanSpec
from simulator.scenario import ExpectedEffect, parse_scenario
from vitals.kernel.units import NS

NOW = datetime(2025, 3, 12, 23, 0, tzinfo=UTC)  # Wednesday 18:00 in Chicago
NOW_NS = int(NOW.timestamp()) * NS
MINUTE = 60 * NS

SCENARIO = parse_scenario(
    """
incidents:
  - {id: gl, kind: gl-posting-outage, at: -8h, duration: 40m}
  - {id: stall, kind: charge-interface-stall, at: -6h, duration: 1h, drain: 10m}
  - {id: quiet, kind: adt-silence, facility: south-campus, at: -5h, duration: 25m, burst: 3m}
  - {id: denials, kind: denial-spike, payer: granite-health, code: CO-197, rate: 70%, at: -9h, duration: 4h}
  - {id: implants, kind: inventory-sync-delay, category: implant, at: -7h, duration: 2h, drain: 15m}
""",
    "test-scenario.yaml",
)


@pytest.fixture(scope="module")
def day() -> list[SpanSpec | MetricSpec]:
    generator = Generator(seed=21, start_ns=NOW_NS - 10 * 3600 * NS, effects=compile_effects(SCENARIO, NOW))
    return list(generator.items(NOW_NS))


@pytest.fixture(scope="module")
def truth() -> dict[str, ExpectedEffect]:
    return {effect.incident: effect for effect in SCENARIO.expected_effects(NOW)}


def spans(items: list[SpanSpec | MetricSpec], name: str | None = None) -> list[SpanSpec]:
    return [i for i in items if isinstance(i, SpanSpec) and (name is None or i.name == name)]


def gauge(items: list[SpanSpec | MetricSpec], name: str, queue: str) -> list[MetricSpec]:
    return [
        i for i in items if isinstance(i, MetricSpec) and i.name == name and i.attributes["queue"] == queue
    ]


@given(st.lists(st.integers(min_value=0, max_value=4000), min_size=2, max_size=30))
def test_backlogs_drain_in_order_and_never_early(times: list[int]) -> None:
    window = Window(1000, 3000, 500)
    released = [window.release(t) for t in sorted(times)]
    assert released == sorted(released)  # first in, first out
    for t, out in zip(sorted(times), released, strict=True):
        assert out >= t
        if 1000 <= t < 3000:
            assert out >= 3000  # nothing gets through while it is down


def test_gl_outage_fails_every_posting_then_replays_them(
    day: list[SpanSpec | MetricSpec], truth: dict[str, ExpectedEffect]
) -> None:
    effect = truth["gl"]
    posts = spans(day, "erp.gl.post")
    during = [s for s in posts if s.kind == "consumer" and effect.start_ns <= s.start_ns < effect.end_ns]
    assert len(during) >= 20
    assert all(s.error and s.attributes["http.response.status_code"] == 503 for s in during)
    assert all(s.attributes["hc.stage"] == "gl.posted" and s.service == "erp-finance" for s in during)
    replays = {s.attributes["hc.key.journal"]: s for s in posts if s.attributes.get("erp.retry.attempt") == 1}
    for failed in during:
        replay = replays[failed.attributes["hc.key.journal"]]
        assert not replay.error
        assert effect.end_ns <= replay.start_ns <= effect.end_ns + 6 * MINUTE
    elsewhere = [
        s for s in posts if s.kind == "consumer" and not effect.start_ns <= s.start_ns < effect.end_ns
    ]
    assert sum(1 for s in elsewhere if s.error) <= 0.01 * len(elsewhere)


def test_charge_stall_grows_the_queue_and_holds_the_postings(
    day: list[SpanSpec | MetricSpec], truth: dict[str, ExpectedEffect]
) -> None:
    effect = truth["stall"]
    assert effect.slice == {"queue": "charges-outbound"}
    posted = spans(day, "billing.charge.post")
    assert not [s for s in posted if s.kind == "consumer" and effect.start_ns <= s.start_ns < effect.end_ns]
    sent = [s for s in spans(day, "HL7 DFT^P03 process") if effect.start_ns <= s.start_ns < effect.end_ns]
    assert len(sent) > 50  # the engine keeps publishing
    depth = [
        p
        for p in gauge(day, "queue.depth", "charges-outbound")
        if effect.start_ns < p.time_ns < effect.end_ns
    ]
    waiting = [s for s in sent if s.end_ns <= depth[-1].time_ns]
    assert depth[-1].value >= len(waiting) and depth[-1].value > depth[0].value + 50
    assert all(b.value >= a.value for a, b in itertools.pairwise(depth))
    consumers = [
        p
        for p in gauge(day, "queue.consumers", "charges-outbound")
        if effect.start_ns <= p.time_ns < effect.end_ns
    ]
    assert consumers and all(p.value == 0 for p in consumers)
    age = [
        p
        for p in gauge(day, "queue.oldest_age_seconds", "charges-outbound")
        if effect.start_ns < p.time_ns < effect.end_ns
    ]
    assert age[-1].value > 50 * 60
    after = [
        p for p in gauge(day, "queue.depth", "charges-outbound") if p.time_ns > effect.end_ns + 15 * MINUTE
    ]
    assert after and max(p.value for p in after) < 50
    # the held charges all post during the drain, FIFO
    drained = [s for s in posted if effect.end_ns <= s.start_ns < effect.end_ns + 11 * MINUTE]
    assert len(drained) >= len(sent)


def test_adt_silence_at_one_campus_only(
    day: list[SpanSpec | MetricSpec], truth: dict[str, ExpectedEffect]
) -> None:
    effect = truth["quiet"]
    adt = [s for s in spans(day) if s.name.startswith("HL7 ADT^")]
    south = [s for s in adt if s.attributes["hc.facility"] == "south-campus"]
    north = [s for s in adt if s.attributes["hc.facility"] == "north-campus"]
    assert not [s for s in south if effect.start_ns <= s.start_ns < effect.end_ns]
    assert len([s for s in north if effect.start_ns <= s.start_ns < effect.end_ns]) > 25
    burst = [s for s in south if effect.end_ns <= s.start_ns < effect.end_ns + 3 * MINUTE]
    assert len(burst) > 25
    # before and after the incident the feed never pauses for long
    for part in (
        sorted(s.start_ns for s in south if s.start_ns < effect.start_ns),
        sorted(s.start_ns for s in south if s.start_ns >= effect.end_ns),
    ):
        assert max(b - a for a, b in itertools.pairwise(part)) < 10 * MINUTE


def test_denial_spike_for_one_payer_and_code(
    day: list[SpanSpec | MetricSpec], truth: dict[str, ExpectedEffect]
) -> None:
    effect = truth["denials"]
    remits = spans(day, "payer.remit.receive")
    inside = [
        s
        for s in remits
        if effect.start_ns <= s.start_ns < effect.end_ns and s.attributes["hc.payer"] == "granite-health"
    ]
    assert len(inside) > 40
    share = sum(1 for s in inside if s.attributes.get("hc.denial.code") == "CO-197") / len(inside)
    assert 0.6 <= share <= 0.85
    others = [s for s in remits if s.attributes["hc.payer"] != "granite-health"]
    assert sum(1 for s in others if s.attributes.get("hc.denial.code") == "CO-197") < 0.03 * len(others)
    for remit in remits:
        if "hc.denial.code" in remit.attributes:
            assert remit.attributes["hc.remit.status"] == "denied" and remit.attributes["hc.paid_amount"] == 0


def test_implant_sync_delay_leaves_the_queue_healthy(
    day: list[SpanSpec | MetricSpec], truth: dict[str, ExpectedEffect]
) -> None:
    effect = truth["implants"]
    consumed: dict[str, SpanSpec] = {}
    lags: dict[str, list[float]] = defaultdict(list)

    def during_(start: int) -> bool:
        return effect.start_ns <= start < effect.end_ns - 5 * MINUTE

    for span in spans(day):
        key = span.attributes.get("hc.key.item")
        if span.name == "ehr.supply.consume":
            consumed[str(key)] = span
        elif span.name == "erp.inventory.adjust" and str(key) in consumed:
            start = consumed[str(key)].start_ns
            category = str(span.attributes["hc.supply.category"])
            if effect.start_ns - 5 * MINUTE <= start < effect.end_ns + 15 * MINUTE and not during_(start):
                continue  # the edges: just before it began, the last minutes, the 15-minute drain
            during = during_(start)
            lags[f"{category}-{'during' if during else 'outside'}"].append((span.start_ns - start) / NS)
            if during and category == "implant":
                assert span.start_ns >= effect.end_ns
    assert len(lags["implant-during"]) >= 10
    assert min(lags["implant-during"]) > 5 * 60
    assert max(lags["implant-outside"]) < 5 * 60
    assert max(lags["supply-during"]) < 5 * 60
    age = gauge(day, "queue.oldest_age_seconds", "inventory-sync")
    assert max(p.value for p in age) < 30
