"""Small builders for SLA tests: SLAs from keyword fields, records on a timeline, one-shot runs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import count
from typing import Any

from slas.engine import SlaEngine
from slas.model import Evaluation
from slas.records import PointRecord, SpanRecord
from slas.source import MemoryTelemetrySource
from slas.spec import SLA, EvaluationSettings
from slas.store import MemoryStateStore
from vitals.kernel.units import NS

#: Monday 2026-03-02 00:00:00 UTC
T0 = 1_772_409_600
MIN = 60
HOUR = 3600
DAY = 86400


def make_sla(**fields: Any) -> SLA:
    base: dict[str, Any] = {
        "id": "t",
        "title": "Test SLA",
        "domain": "integration",
        "owner": "team",
        "priority": "P2",
        "objective": "99%",
        "window": "1d",
    }
    base.update(fields)
    return SLA.model_validate(base)


class Timeline:
    """Records with increasing ids at times given in seconds after T0."""

    def __init__(self) -> None:
        self._ids = count(1)
        self._point_ids = count(1)

    def span(
        self,
        at: float,
        *,
        name: str = "op",
        service: str = "svc",
        status: str = "unset",
        duration: float = 0.01,
        kind: str = "internal",
        **attributes: Any,
    ) -> SpanRecord:
        attrs = {k.replace("__", "."): v for k, v in attributes.items()}
        attrs.setdefault("service.name", service)
        return SpanRecord(
            next(self._ids), name, service, kind, status, int((T0 + at) * NS), int(duration * NS), attrs
        )

    def spans(self, times: Iterable[float], **fields: Any) -> list[SpanRecord]:
        return [self.span(t, **fields) for t in times]

    def point(
        self, at: float, value: float, *, name: str = "queue.oldest_age_seconds", **attributes: Any
    ) -> PointRecord:
        attrs = {k.replace("__", "."): v for k, v in attributes.items()}
        return PointRecord(next(self._point_ids), name, "svc", int((T0 + at) * NS), value, attrs)


class Clock:
    def __init__(self, at: float) -> None:
        self.now = int((T0 + at) * NS)

    def __call__(self) -> int:
        return self.now

    def set(self, at: float) -> None:
        self.now = int((T0 + at) * NS)


def engine_for(
    slas: Iterable[SLA],
    spans: Iterable[SpanRecord] = (),
    points: Iterable[PointRecord] = (),
    at: float = 0.0,
    store: MemoryStateStore | None = None,
    source: MemoryTelemetrySource | None = None,
) -> tuple[SlaEngine, Clock, MemoryTelemetrySource, MemoryStateStore]:
    clock = Clock(at)
    source = source or MemoryTelemetrySource(spans, points)
    store = store or MemoryStateStore()
    engine = SlaEngine(slas, store, source, clock=clock, settings=EvaluationSettings(batch_rows=1000))
    return engine, clock, source, store


def evaluate_at(
    slas: Iterable[SLA], at: float, spans: Iterable[SpanRecord] = (), points: Iterable[PointRecord] = ()
) -> dict[tuple[str, str | None], Evaluation]:
    engine, _, _, _ = engine_for(slas, spans, points, at)
    result = engine.tick()
    return {(ev.sla_id, ev.slice): ev for ev in result.evaluations}


def burn(ev: Evaluation, name: str) -> tuple[float | None, float | None, bool]:
    for b in ev.burn_rates:
        if b.name == name:
            return b.long_rate, b.short_rate, b.firing
    raise KeyError(f"{name} not in {[b.name for b in ev.burn_rates]}")


def labels_of(ev: Evaluation) -> Mapping[str, str]:
    return ev.labels
