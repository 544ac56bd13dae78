"""The starter SLA library: valid, complete, and right about the demo scenario's incidents.

The scenario test drives the simulator's pure generator in-process (no OTLP, no collector) and
replays every starter SLA minute by minute over its history: each scheduled incident must breach
the SLA (and slice) its ground truth names while it happens, and nothing else may breach.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from slas.backtest import replay
from slas.loading import load_slas
from slas.records import PointRecord, SpanRecord
from slas.source import MemoryTelemetrySource
from vitals.kernel.settings import STARTER_CONFIG_DIR
from vitals.kernel.units import HOUR_NS, NS

if TYPE_CHECKING:  # imported at run time with importorskip, below
    from simulator.scenario import ExpectedEffect

REQUIRED = {
    "charge-lag",
    "late-charges",
    "gl-posting-errors",
    "adt-interface-silence",
    "queue-backlog-age",
    "claim-ack-999",
    "initial-denial-rate",
    "eligibility-latency",
    "implant-inventory-sync-lag",
}
DOMAINS = {"revenue-cycle", "finance", "supply-chain", "clinical-operations", "integration"}


def test_starter_library_loads_with_the_shared_vocabulary() -> None:
    slas = {sla.id: sla for sla in load_slas(STARTER_CONFIG_DIR)}
    assert set(slas) >= REQUIRED
    assert {sla.domain for sla in slas.values()} <= DOMAINS
    adt = slas["adt-interface-silence"]
    assert adt.slice_by == ("hc.facility",) and adt.sli.freshness is not None
    assert adt.sli.freshness.during is not None and adt.sli.freshness.during.name == "hospital-day"
    assert slas["claim-ack-999"].sli.lag is not None and slas["claim-ack-999"].sli.lag.within == 7200


def _records(
    now: datetime, days: float
) -> tuple[list[SpanRecord], list[PointRecord], int, int, list[ExpectedEffect]]:
    runner = pytest.importorskip("simulator.runner")
    scenario_module = pytest.importorskip("simulator.scenario")
    model = pytest.importorskip("simulator.model")
    scenario = scenario_module.load_scenario()
    plan = runner.RunPlan(seed=7, now=now, days=days, scenario=scenario)
    spans: list[SpanRecord] = []
    points: list[PointRecord] = []
    for item in plan.generator().items(until_ns=plan.now_ns):
        attributes = {**item.attributes, "service.name": item.service}
        if isinstance(item, model.SpanSpec):
            status = "error" if item.error else "unset"
            duration = item.end_ns - item.start_ns
            spans.append(
                SpanRecord(
                    len(spans) + 1,
                    item.name,
                    item.service,
                    item.kind,
                    status,
                    item.start_ns,
                    duration,
                    attributes,
                )
            )
        else:
            points.append(
                PointRecord(len(points) + 1, item.name, item.service, item.time_ns, item.value, attributes)
            )
    return spans, points, plan.start_ns, plan.now_ns, scenario.expected_effects(now)


@pytest.mark.e2e
@pytest.mark.parametrize(
    "now",
    [
        datetime(2025, 3, 12, 23, 0, tzinfo=UTC),  # Wednesday 18:00 in Chicago, the simulator's tests' "now"
        datetime(2026, 3, 10, 18, 0, tzinfo=UTC),  # Tuesday: the day before held only a weekend
        datetime(2026, 3, 7, 18, 0, tzinfo=UTC),  # Saturday: the surgery center is closed
    ],
)
def test_demo_incidents_breach_exactly_their_slas(now: datetime) -> None:
    spans, points, start_ns, now_ns, effects = _records(now, days=3)
    source = MemoryTelemetrySource(spans, points)
    expected: dict[str, list[ExpectedEffect]] = {}
    for effect in effects:
        for sla_id in effect.slas:
            expected.setdefault(sla_id, []).append(effect)
    caught: set[tuple[str, str]] = set()
    unexpected: list[str] = []
    for sla in load_slas(STARTER_CONFIG_DIR):
        if sla.id == "queue-stuck":
            continue  # queue.stuck is derived by the collector from the pushed gauges, not emitted
        for rep in replay(sla, source, from_ns=start_ns + HOUR_NS, to_ns=now_ns, step_ns=60 * NS):
            for episode in (e for e in rep.episodes if e.status == "breach"):
                opening = next(t.evaluation for t in rep.transitions if t.at_ns == episode.start_ns)
                objective_missed = (
                    opening.sli is not None
                    and opening.sli < sla.objective
                    and not any(b.firing and b.severity == "page" for b in opening.burn_rates)
                )
                explained = False
                for effect in expected.get(sla.id, []):
                    wanted = ",".join(f"{k}={v}" for k, v in effect.slice.items()) or None
                    # the incident's slice (or the whole SLA) breaching while it happens; per-facility
                    # slices of an estate-wide incident breach too
                    in_scope = rep.slice in (None, wanted) or wanted is None
                    during = effect.start_ns <= episode.start_ns <= effect.end_ns + HOUR_NS
                    # later, while the incident's bad events are still in the window, the SLI can
                    # dip under the objective again: the same breach, not a new one
                    lingering = (
                        effect.end_ns < episode.start_ns <= effect.end_ns + int(sla.window.max_seconds) * NS
                        and objective_missed
                    )
                    if in_scope and (during or lingering):
                        explained = True
                    if in_scope and during and rep.slice == wanted:
                        caught.add((effect.incident, sla.id))
                if not explained:
                    unexpected.append(f"{sla.id} {rep.slice} breach from {episode.start_ns}")
    missed = [
        (effect.incident, sla_id)
        for effect in effects
        for sla_id in effect.slas
        if sla_id != "queue-stuck" and effect.start_ns < now_ns and (effect.incident, sla_id) not in caught
    ]
    assert missed == []
    assert unexpected == []
