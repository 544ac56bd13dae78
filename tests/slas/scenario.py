"""A small mixed estate for engine tests: every SLI kind, slices, late data and out-of-order stages."""

from __future__ import annotations

import random
from typing import Any

from slas.model import Evaluation
from slas.records import PointRecord, SpanRecord
from slas.spec import SLA
from tests.slas.helpers import DAY, HOUR, MIN, Timeline, make_sla

FACILITIES = ("north-campus", "south-campus", "lakeside-asc")


def scenario_slas(within: str = "2h") -> list[SLA]:
    return [
        make_sla(
            id="gl-posting-errors",
            objective="99%",
            window="1d",
            slice_by=["hc.facility"],
            sli={"ratio": {"total": {"span": "erp.gl.post"}, "bad": {"status": "error"}}},
        ),
        make_sla(
            id="eligibility-latency",
            objective="95%",
            window="1d",
            sli={"latency": {"select": {"span": "payer.eligibility.check"}, "under": "2s"}},
        ),
        make_sla(
            id="charge-lag",
            objective="90%",
            window="1d",
            slice_by=["hc.facility"],
            sli={
                "lag": {
                    "from": {"stage": "procedure.documented"},
                    "to": {"stage": "charge.posted"},
                    "key": "charge",
                    "within": within,
                }
            },
        ),
        make_sla(
            id="adt-silence",
            objective="99%",
            window="1d",
            slice_by=["hc.facility"],
            sli={"freshness": {"select": {"message_type": "ADT^*"}, "max_age": "10m"}},
        ),
        make_sla(
            id="queue-age",
            objective="99%",
            window="1d",
            slice_by=["queue"],
            sli={"gauge": {"metric": "queue.oldest_age_seconds", "max": 600}},
        ),
    ]


def scenario_records(seed: int = 7, hours: int = 12) -> tuple[list[SpanRecord], list[PointRecord]]:
    """Records in ingestion (id) order; event times wander, some stages arrive late or early."""
    rng = random.Random(seed)
    tl = Timeline()
    events: list[tuple[float, dict[str, Any]]] = []
    for i in range(hours * 40):
        at = rng.uniform(0, hours * HOUR)
        facility = rng.choice(FACILITIES)
        kind = rng.random()
        if kind < 0.25:
            events.append(
                (
                    at,
                    {
                        "name": "erp.gl.post",
                        "status": "error" if rng.random() < 0.05 else "unset",
                        "hc__facility": facility,
                    },
                )
            )
        elif kind < 0.45:
            events.append(
                (at, {"name": "payer.eligibility.check", "duration": rng.choice([0.2, 0.5, 1.0, 3.0])})
            )
        elif kind < 0.75:
            key = f"charge-{i}"
            amount = rng.choice([100.25, 250.5, 1843.75])
            events.append(
                (
                    at,
                    {
                        "hc__stage": "procedure.documented",
                        "hc__key__charge": key,
                        "hc__facility": facility,
                        "hc__amount": amount,
                    },
                )
            )
            if rng.random() < 0.85:
                lag = rng.choice([10 * MIN, HOUR, 90 * MIN, 3 * HOUR])
                events.append(
                    (
                        at + lag,
                        {"hc__stage": "charge.posted", "hc__key__charge": key, "hc__facility": facility},
                    )
                )
        else:
            if not (5 * HOUR < at < 6 * HOUR and facility == "south-campus"):
                events.append((at, {"hc__message__type": "ADT^A01", "hc__facility": facility}))

    # ingestion order: mostly by event time, with a tenth of the records arriving up to 2h late
    def arrival(item: tuple[float, dict[str, Any]]) -> float:
        return item[0] + (rng.uniform(0, 2 * HOUR) if rng.random() < 0.1 else 0.0)

    ordered = sorted(events, key=arrival)
    spans = [tl.span(at, **fields) for at, fields in ordered]
    points = []
    for minute in range(hours * 60):
        for queue in ("charges-outbound", "adt-inbound"):
            stalled = queue == "charges-outbound" and 7 * 60 <= minute < 8 * 60
            points.append(
                tl.point(minute * MIN + 15, 900.0 if stalled else 12.0, queue=queue, broker="rabbitmq")
            )
    return spans, points


def as_dict(evaluations: list[Evaluation]) -> dict[tuple[str, str | None], Evaluation]:
    return {(e.sla_id, e.slice): e for e in evaluations}


END = 12 * HOUR + 1.5 * HOUR  # late stragglers have arrived by then
__all__ = ["DAY", "END", "as_dict", "scenario_records", "scenario_slas"]
