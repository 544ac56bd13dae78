"""The incremental SLA engine: one tick reads what is new, updates rollups, evaluates every SLA.

A tick's cost follows the new data, not the history: telemetry is read by id ranges above the
watermark, lag objects by key and by deadline through indexes, and evaluation sums windows of
in-memory per-minute arrays. State persists (rollups, cursors, open objects, definitions) so a
restart resumes; a new or changed SLA is back-filled from history once, a slice of history per
tick, and publishes evaluations only when complete.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from slas.evaluate import evaluate_sla, horizon_minutes, raw_range
from slas.lag import LagObject
from slas.model import Evaluation
from slas.processing import Batch, Processor
from slas.series import MinuteSeries
from slas.source import TelemetrySource
from slas.spec import SLA, EvaluationSettings, FreshnessSli, LagSli, LatencySli, RatioSli, Selector
from slas.state import Commit, Definition, StoredObject
from slas.store import StateStore
from vitals.kernel.follow import Cursor
from vitals.kernel.units import MINUTE_NS, NS

__all__ = ["SlaEngine", "StepResult", "TickResult", "selectors_of"]

log = logging.getLogger(__name__)
Clock = Callable[[], int]


def selectors_of(sla: SLA) -> list[Selector]:
    spec = sla.sli.spec
    if isinstance(spec, RatioSli):
        return [spec.total]
    if isinstance(spec, LatencySli | FreshnessSli):
        return [spec.select]
    if isinstance(spec, LagSli):
        return [spec.from_, spec.to]
    return []


@dataclass
class StepResult:
    spans_read: int = 0
    points_read: int = 0
    backfilled: int = 0
    more: bool = False  # a read hit the batch limit: more telemetry is waiting
    conflict: bool = False


@dataclass
class TickResult:
    at_ns: int
    evaluations: list[Evaluation] = field(default_factory=list)
    spans_read: int = 0
    points_read: int = 0
    backfilled: int = 0
    caught_up: bool = True
    #: sla id -> share of its back-fill still to do, for SLAs still back-filling
    backfilling: dict[str, int] = field(default_factory=dict)


def _shrink(todo: list[tuple[int, int]], last_id: int | None, exhausted: bool) -> list[tuple[int, int]]:
    if exhausted or last_id is None:
        return []
    return [(max(lo, last_id + 1), hi) for lo, hi in todo if hi > last_id]


class SlaEngine:
    def __init__(
        self,
        slas: Iterable[SLA],
        store: StateStore,
        source: TelemetrySource,
        *,
        clock: Clock | None = None,
        settings: EvaluationSettings | None = None,
        watermark_horizon_s: float = 0.0,
    ) -> None:
        self.store = store
        self.source = source
        self.clock: Clock = clock or time.time_ns
        self.settings = settings or EvaluationSettings()
        self.horizon_ns = int(watermark_horizon_s * NS)
        self.generation: int | None = None
        self.cursors: dict[str, Cursor] = {}
        self.definitions: dict[str, Definition] = {}
        self.series: dict[str, dict[str, MinuteSeries]] = {}
        #: sla id -> first minute whose rollups memory holds (older ones are in the store only)
        self.covered_from: dict[str, int] = {}
        self._last_prune_ns = 0
        self.set_slas(slas)

    # -- configuration -------------------------------------------------------------------

    def set_slas(self, slas: Iterable[SLA]) -> None:
        """Use a new SLA set; changed ones are re-registered (and back-filled) on the next tick."""
        self.slas: dict[str, SLA] = {sla.id: sla for sla in slas}
        self.processor = Processor(self.slas.values())
        self.horizon = {sla_id: horizon_minutes(sla) for sla_id, sla in self.slas.items()}
        # dense arrays reach from the horizon to the furthest deadline (lag objects count there)
        self.max_span = {
            sla_id: minutes + 2 * 1440 + (int(sla.sli.lag.within // 60) if sla.sli.lag else 0)
            for (sla_id, minutes), sla in zip(self.horizon.items(), self.slas.values(), strict=True)
        }

    # -- state ---------------------------------------------------------------------------

    def _reload(self, now_ns: int) -> None:
        meta = self.store.load_meta()
        self.generation = meta.generation
        self.cursors = meta.cursors
        self.definitions = meta.definitions
        now_minute = now_ns // MINUTE_NS
        wanted = {
            sla_id: now_minute - horizon_minutes(sla)
            for sla_id, sla in self.slas.items()
            if sla_id in self.definitions
        }
        self.series = self.store.load_series(wanted, {k: self.max_span[k] for k in wanted})
        self.covered_from = dict(wanted)
        log.debug("loaded SLA state at generation %s for %d SLAs", self.generation, len(wanted))

    def _ensure_loaded(self, now_ns: int) -> None:
        if self.generation is None or self.store.load_meta().generation != self.generation:
            self._reload(now_ns)

    # -- one step ------------------------------------------------------------------------

    def step(self, now_ns: int | None = None, backfill_budget_s: float | None = None) -> StepResult:
        """Read one batch of new telemetry (and some back-fill), commit, and update memory."""
        now = self.clock() if now_ns is None else now_ns
        self._ensure_loaded(now)
        assert self.generation is not None
        cursors = dict(self.cursors)
        change = Commit(generation=self.generation, now_ns=now, cursors=cursors)
        definitions = {k: v for k, v in self.definitions.items()}
        reset: set[str] = set()
        for sla_id, sla in self.slas.items():
            fingerprint = sla.rollup_fingerprint()
            known = definitions.get(sla_id)
            document = sla.model_dump(mode="json", by_alias=True)
            if known is None or known.fingerprint != fingerprint:
                spans_todo = cursors["spans"].passed() if selectors_of(sla) else []
                points_todo = cursors["metric_points"].passed() if sla.kind == "gauge" else []
                state: Literal["backfilling", "ready"] = (
                    "backfilling" if spans_todo or points_todo else "ready"
                )
                definition = Definition(sla_id, fingerprint, state, spans_todo, points_todo, document, now)
                definitions[sla_id] = definition
                change.definitions.append(definition)
                change.reset.append(sla_id)
                reset.add(sla_id)
                log.info(
                    "SLA %s registered (%s)",
                    sla_id,
                    "back-filling from history" if state == "backfilling" else "no history yet",
                )
            elif known.definition != document:
                known.definition = document
                change.definitions.append(known)
        change.removed = sorted(set(definitions) - set(self.slas))
        for sla_id in change.removed:
            definitions.pop(sla_id)

        def load_objects(sla_id: str, keys: list[str]) -> dict[str, LagObject]:
            return {} if sla_id in reset else self.store.load_objects(sla_id, keys)

        batch = Batch()
        result = StepResult()
        limit = self.settings.batch_rows
        active = set(self.slas)
        new_spans = self.source.read_spans(cursors["spans"], limit)
        self.processor.spans(batch, new_spans, load_objects, now, only=active)
        cursors["spans"] = cursors["spans"].marked((s.id for s in new_spans), now)
        new_points = self.source.read_points(cursors["metric_points"], limit)
        self.processor.points(batch, new_points, only=active)
        cursors["metric_points"] = cursors["metric_points"].marked((p.id for p in new_points), now)
        result.spans_read, result.points_read = len(new_spans), len(new_points)
        result.more = len(new_spans) >= limit or len(new_points) >= limit

        budget = self.settings.backfill_budget if backfill_budget_s is None else backfill_budget_s
        deadline = time.monotonic() + budget
        for sla_id, definition in sorted(definitions.items()):
            if definition.state != "backfilling" or sla_id not in self.slas:
                continue
            sla = self.slas[sla_id]
            while definition.spans_todo and time.monotonic() < deadline:
                rows = self.source.read_spans_in(definition.spans_todo, limit, selectors_of(sla))
                self.processor.spans(batch, rows, load_objects, now, only={sla_id})
                definition.spans_todo = _shrink(
                    definition.spans_todo, rows[-1].id if rows else None, len(rows) < limit
                )
                result.backfilled += len(rows)
            while definition.points_todo and time.monotonic() < deadline:
                point_rows = self.source.read_points_in(
                    definition.points_todo, limit, {sla.sli.gauge.metric} if sla.sli.gauge else set()
                )
                self.processor.points(batch, point_rows, only={sla_id})
                definition.points_todo = _shrink(
                    definition.points_todo, point_rows[-1].id if point_rows else None, len(point_rows) < limit
                )
                result.backfilled += len(point_rows)
            if not definition.spans_todo and not definition.points_todo:
                definition.state = "ready"
                log.info("SLA %s back-fill complete", sla_id)
            if definition not in change.definitions:
                change.definitions.append(definition)

        due = [
            obj
            for obj in self.store.due_objects(now, limit)
            if obj.sla_id not in reset and obj.sla_id in self.slas
        ]
        self.processor.sweep(batch, due, now)
        cursors.update({name: cursor.settled(now, self.horizon_ns) for name, cursor in cursors.items()})

        change.deltas = batch.nonzero_deltas()
        change.series = dict(batch.series)
        change.objects = [self._stored(obj) for obj in batch.objects.values()]
        generation = self.store.commit(change)
        if generation is None:
            log.info("another SLA engine committed first; reloading state")
            self.generation = None
            result.conflict = True
            return result
        self._apply(change, definitions, reset, now)
        self.generation = generation
        return result

    def _stored(self, obj: LagObject) -> StoredObject:
        sla = self.slas[obj.sla_id]
        lag = sla.sli.lag
        assert lag is not None
        deadline = obj.deadline_ns(int(lag.within * NS))
        # As long as the engine needs it (the SLA's window), and ``lag_object_retention`` for the
        # dashboard's lag pages; the SLI history outlives it in the per-minute rollups.
        keep = max(self.horizon[obj.sla_id] * MINUTE_NS, int(self.settings.lag_object_retention * NS))
        if obj.state == "pending":
            expires = None
        elif obj.state == "orphan":
            expires = (obj.end_ns or 0) + keep
        else:
            expires = (deadline or 0) + keep
        return StoredObject(obj, deadline, expires)

    def _apply(
        self, change: Commit, definitions: dict[str, Definition], reset: set[str], now_ns: int
    ) -> None:
        self.cursors = change.cursors
        self.definitions = definitions
        for sla_id in [*reset, *change.removed]:
            self.series[sla_id] = {}
            self.covered_from[sla_id] = -(2**62)  # a fresh SLA's whole history passes through memory
        for sla_id in change.removed:
            self.series.pop(sla_id, None)
        for (sla_id, slice_key), (labels, minute) in change.series.items():
            by_slice = self.series.setdefault(sla_id, {})
            if slice_key not in by_slice:
                by_slice[slice_key] = MinuteSeries(labels=dict(labels), max_span=self.max_span[sla_id])
            by_slice[slice_key].note_first(minute)
        for (sla_id, slice_key, minute), (events, bad, amount) in change.deltas.items():
            series = self.series.setdefault(sla_id, {}).get(slice_key)
            if series is None:
                series = self.series[sla_id][slice_key] = MinuteSeries(max_span=self.max_span[sla_id])
            series.add(minute, events, bad, amount)

    # -- ticks ---------------------------------------------------------------------------

    def backfilling(self) -> dict[str, int]:
        """SLA id -> ids left to back-fill, for SLAs not ready yet."""
        return {
            sla_id: sum(hi - lo + 1 for lo, hi in [*d.spans_todo, *d.points_todo])
            for sla_id, d in self.definitions.items()
            if d.state == "backfilling" and sla_id in self.slas
        }

    def tick(self, evaluate: bool = True, write: bool = True, budget_s: float | None = None) -> TickResult:
        """Catch up on new telemetry (within a time budget), then evaluate every ready SLA."""
        now = self.clock()
        result = TickResult(at_ns=now)
        started = time.monotonic()
        budget = self.settings.interval * 0.8 if budget_s is None else budget_s
        conflicts = 0
        while True:
            step = self.step(now)
            conflicts += step.conflict
            result.spans_read += step.spans_read
            result.points_read += step.points_read
            result.backfilled += step.backfilled
            result.caught_up = not step.more and not step.conflict
            if step.conflict and conflicts < 3:
                continue
            if not step.more or time.monotonic() - started > budget:
                break
        result.backfilling = self.backfilling()
        self._maintain(now)
        if evaluate and result.caught_up:
            result.evaluations = self.evaluate(now, only_ready=True)
            if write:
                self.store.write_evaluations(result.evaluations)
        elif evaluate:
            log.info("SLA engine catching up (%d spans read this tick); evaluations wait", result.spans_read)
        return result

    def catch_up(self, progress: Callable[[StepResult, dict[str, int]], None] | None = None) -> None:
        """Read everything new and finish every back-fill (for commands run without the service)."""
        now = self.clock()
        while True:
            step = self.step(now, backfill_budget_s=max(self.settings.backfill_budget, 30.0))
            left = self.backfilling()
            if progress is not None:
                progress(step, left)
            if not step.more and not step.conflict and not left:
                return

    def _maintain(self, now_ns: int) -> None:
        now_minute = now_ns // MINUTE_NS
        for sla_id, by_slice in self.series.items():
            sla = self.slas.get(sla_id)
            if sla is None:
                continue
            cut = now_minute - self.horizon[sla_id]
            for series in by_slice.values():
                if series.trim_before(cut, slack=1440):  # copy the arrays once a day, not every tick
                    self.covered_from[sla_id] = max(self.covered_from.get(sla_id, cut), cut)
        if now_ns - self._last_prune_ns >= 3600 * NS:
            self._last_prune_ns = now_ns
            self.store.prune(
                now_ns,
                now_ns - int(self.settings.retention * NS),
                now_ns - int(self.settings.evaluation_retention * NS),
            )

    # -- evaluation ----------------------------------------------------------------------

    def evaluate(
        self, at_ns: int | None = None, only_ready: bool = True, ids: Sequence[str] | None = None
    ) -> list[Evaluation]:
        """Evaluate from the rollups held in memory (older ranges are loaded on demand)."""
        at = self.clock() if at_ns is None else at_ns
        if self.generation is None:
            self._reload(at)
        out: list[Evaluation] = []
        for sla_id, sla in sorted(self.slas.items()):
            if ids is not None and sla_id not in ids:
                continue
            definition = self.definitions.get(sla_id)
            if definition is None or (only_ready and definition.state != "ready"):
                continue
            series = self.series.get(sla_id, {})
            raw_lo, _ = raw_range(sla, at // MINUTE_NS)
            if raw_lo < self.covered_from.get(sla_id, raw_lo):
                series = self.store.load_series({sla_id: raw_lo}, {sla_id: self.max_span[sla_id] * 4}).get(
                    sla_id, {}
                )
            out.extend(evaluate_sla(sla, series, at))
        return out

    def status(self) -> Literal["ready", "backfilling"]:
        return "backfilling" if self.backfilling() else "ready"
