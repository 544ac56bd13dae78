"""Turning new telemetry into rollup deltas and lag-object changes, for a set of SLAs.

Pure: lag objects already stored are fetched through the ``ObjectLoader`` callable the caller
passes in (the store edge), and the result is a :class:`Batch` the caller persists and applies.

A span the collector's sampling kept stands for ``span.weight`` received spans, so ratio,
latency and freshness SLIs add that many events (and that many bad ones when it is bad): the
counts then equal those of the unsampled estate, because a sampling group holds spans alike in
every column these selectors and slices read (``collector.sampling.group_key``). Lag objects
come from ``hc.key.*`` spans, which are never sampled, so an object is one event whatever the
weight.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from slas.lag import Counted, LagObject, Sighting, classify, merge_end, merge_start
from slas.records import PointRecord, SpanRecord, hc_amount
from slas.selector import CompiledSelector, SelectorIndex, point_matches, slice_of
from slas.spec import SLA, FreshnessSli, GaugeSli, LagSli, LatencySli, RatioSli
from vitals.kernel.units import MINUTE_NS

__all__ = ["Batch", "ObjectLoader", "Processor"]

#: (sla id, keys) -> the stored objects among those keys
ObjectLoader = Callable[[str, list[str]], Mapping[str, LagObject]]
DeltaKey = tuple[str, str, int]  # sla id, slice, minute


@dataclass
class Batch:
    """Everything one pass over new telemetry changes."""

    deltas: dict[DeltaKey, list[float]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0.0]))
    #: (sla id, slice) -> (labels, earliest minute seen in this batch)
    series: dict[tuple[str, str], tuple[dict[str, str], int]] = field(default_factory=dict)
    #: changed lag objects, by (sla id, key)
    objects: dict[tuple[str, str], LagObject] = field(default_factory=dict)
    spans_read: int = 0
    points_read: int = 0

    def add(  # noqa: PLR0917 - one delta, positionally as the key reads
        self,
        sla_id: str,
        slice_key: str,
        labels: dict[str, str],
        minute: int,
        events: int,
        bad: int,
        amount: float,
    ) -> None:
        entry = self.deltas[(sla_id, slice_key, minute)]
        entry[0] += events
        entry[1] += bad
        entry[2] += amount
        self.note_series(sla_id, slice_key, labels, minute)

    def note_series(self, sla_id: str, slice_key: str, labels: dict[str, str], minute: int) -> None:
        known = self.series.get((sla_id, slice_key))
        if known is None or minute < known[1]:
            self.series[(sla_id, slice_key)] = (labels, minute)

    def count(self, obj: LagObject, new: Counted | None) -> LagObject:
        """Move an object's contribution from what it counted to ``new``."""
        old = obj.counted
        if old == new:
            return obj
        if old is not None:
            self.add(
                obj.sla_id,
                old.slice,
                obj.labels if old.slice == obj.slice else {},
                old.minute,
                -1,
                -int(old.bad),
                -old.amount,
            )
        if new is not None:
            self.add(obj.sla_id, new.slice, obj.labels, new.minute, 1, int(new.bad), new.amount)
        return replace(obj, counted=new)

    def nonzero_deltas(self) -> dict[DeltaKey, tuple[int, int, float]]:
        return {
            key: (int(v[0]), int(v[1]), float(v[2]))
            for key, v in self.deltas.items()
            if v[0] or v[1] or abs(v[2]) > 1e-9
        }


@dataclass(frozen=True)
class _Role:
    sla: SLA
    role: str  # total, select, from, to
    extra: CompiledSelector | None = None  # ratio: the bad/good selector


class Processor:
    """Matches telemetry against SLAs; build one per SLA set and reuse it for every tick."""

    def __init__(self, slas: Iterable[SLA]) -> None:
        self.slas = {sla.id: sla for sla in slas}
        self.index: SelectorIndex[_Role] = SelectorIndex()
        self.gauges: dict[str, list[tuple[SLA, GaugeSli, Callable[[PointRecord], bool]]]] = defaultdict(list)
        for sla in self.slas.values():
            spec = sla.sli.spec
            if isinstance(spec, RatioSli):
                extra = CompiledSelector(spec.bad if spec.bad is not None else spec.good)  # type: ignore[arg-type]
                self.index.add(CompiledSelector(spec.total), _Role(sla, "total", extra))
            elif isinstance(spec, LatencySli | FreshnessSli):
                self.index.add(CompiledSelector(spec.select), _Role(sla, "select"))
            elif isinstance(spec, LagSli):
                self.index.add(CompiledSelector(spec.from_), _Role(sla, "from"))
                self.index.add(CompiledSelector(spec.to), _Role(sla, "to"))
            elif isinstance(spec, GaugeSli):
                self.gauges[spec.metric].append((sla, spec, point_matches(spec.where)))

    @property
    def metric_names(self) -> set[str]:
        return set(self.gauges)

    def spans(
        self,
        batch: Batch,
        spans: Iterable[SpanRecord],
        load_objects: ObjectLoader,
        now_ns: int,
        only: set[str] | None = None,
    ) -> None:
        """Add the contributions of ``spans`` (to the SLAs in ``only``, or all) to ``batch``."""
        lag_events: dict[str, list[tuple[str, str, Sighting]]] = defaultdict(list)
        for span in spans:
            batch.spans_read += 1
            for role in self.index.matches(span):
                sla = role.sla
                if only is not None and sla.id not in only:
                    continue
                slice_key, labels = slice_of(sla.slice_by, span.attributes)
                minute = span.event_time_ns // MINUTE_NS
                if role.role == "total":
                    assert role.extra is not None
                    spec = sla.sli.ratio
                    assert spec is not None
                    hit = role.extra(span)
                    is_bad = hit if spec.bad is not None else not hit
                    batch.add(sla.id, slice_key, labels, minute, span.weight, int(is_bad) * span.weight, 0.0)
                elif role.role == "select":
                    # Latency: exact while the sampler's slow threshold is at most ``under`` (every
                    # span that could be bad is then kept alone); ``vitals config check`` says so.
                    latency = sla.sli.latency
                    is_bad = latency is not None and span.duration_ns >= latency.under * 1e9
                    batch.add(sla.id, slice_key, labels, minute, span.weight, int(is_bad) * span.weight, 0.0)
                else:
                    lag = sla.sli.lag
                    assert lag is not None
                    key = span.attributes.get(f"hc.key.{lag.key}")
                    if key is None or key == "":
                        continue
                    lag_events[sla.id].append((role.role, str(key), _sighting(span, slice_key, labels)))
        for sla_id, events in lag_events.items():
            self._lag(batch, self.slas[sla_id], events, load_objects, now_ns)

    def _lag(
        self,
        batch: Batch,
        sla: SLA,
        events: list[tuple[str, str, Sighting]],
        load_objects: ObjectLoader,
        now_ns: int,
    ) -> None:
        lag = sla.sli.lag
        assert lag is not None
        within = int(lag.within * 1e9)
        missing = sorted({key for _, key, _ in events if (sla.id, key) not in batch.objects})
        stored = load_objects(sla.id, missing) if missing else {}
        for key in missing:
            batch.objects[(sla.id, key)] = stored.get(key) or LagObject(sla.id, key)
        touched: set[str] = set()
        for role, key, seen in events:
            obj = batch.objects[(sla.id, key)]
            merge = merge_start if role == "from" else merge_end
            batch.objects[(sla.id, key)] = merge(obj, seen)
            touched.add(key)
        for key in touched:
            obj = batch.objects[(sla.id, key)]
            batch.objects[(sla.id, key)] = batch.count(obj, classify(obj, within, now_ns))

    def sweep(self, batch: Batch, due: Iterable[LagObject], now_ns: int) -> None:
        """Count pending objects whose deadline has passed."""
        for obj in due:
            sla = self.slas.get(obj.sla_id)
            if sla is None or sla.sli.lag is None:
                continue
            current = batch.objects.get((obj.sla_id, obj.key), obj)
            counted = classify(current, int(sla.sli.lag.within * 1e9), now_ns)
            batch.objects[(obj.sla_id, obj.key)] = batch.count(current, counted)

    def points(self, batch: Batch, points: Iterable[PointRecord], only: set[str] | None = None) -> None:
        for point in points:
            batch.points_read += 1
            targets = self.gauges.get(point.name)
            if not targets or point.value is None:
                continue
            for sla, spec, where in targets:
                if (only is not None and sla.id not in only) or not where(point):
                    continue
                value = point.value
                is_bad = (spec.max is not None and value > spec.max) or (
                    spec.min is not None and value < spec.min
                )
                slice_key, labels = slice_of(sla.slice_by, point.attributes)
                batch.add(sla.id, slice_key, labels, point.time_ns // MINUTE_NS, 1, int(is_bad), 0.0)


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _sighting(span: SpanRecord, slice_key: str, labels: dict[str, str]) -> Sighting:
    attributes = span.attributes
    return Sighting(
        span.event_time_ns,
        slice_key,
        labels,
        hc_amount(attributes),
        _text(attributes.get("hc.facility")),
        _text(attributes.get("hc.service_line")),
        span.trace_id or None,
    )
