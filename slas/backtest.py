"""Replaying an SLA over stored history: when it would have breached and which alerts would have fired.

The way to tune a promise before it goes live: nothing is written, the SLA need not be
configured yet. Rollups are rebuilt privately from the telemetry in range, then the SLA is
evaluated at every step exactly as the engine would have at that instant.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from slas.evaluate import evaluate_scored, horizon_minutes, scored_range
from slas.lag import LagObject, classify
from slas.model import Evaluation
from slas.processing import Batch, Processor
from slas.scoring import Scored, lookback_minutes, score
from slas.series import MinuteSeries, RawMinutes
from slas.source import TelemetrySource
from slas.spec import SLA
from vitals.kernel.units import MINUTE_NS

__all__ = ["Alert", "Episode", "SliceReplay", "Transition", "replay"]


@dataclass(frozen=True)
class Transition:
    at_ns: int
    before: str
    after: str
    evaluation: Evaluation


@dataclass(frozen=True)
class Alert:
    """A burn-rate tier firing from ``start_ns`` until ``end_ns`` (None: still firing at the end)."""

    tier: str
    severity: str
    start_ns: int
    end_ns: int | None
    peak_long_rate: float


@dataclass(frozen=True)
class Episode:
    status: str
    start_ns: int
    end_ns: int | None


@dataclass
class SliceReplay:
    sla_id: str
    slice: str | None
    transitions: list[Transition] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    episodes: list[Episode] = field(default_factory=list)
    seconds_in: dict[str, float] = field(default_factory=dict)
    last: Evaluation | None = None


def _series(sla: SLA, batch: Batch) -> dict[str, MinuteSeries]:
    out: dict[str, MinuteSeries] = {}
    for (_, slice_key), (labels, minute) in batch.series.items():
        series = out.setdefault(slice_key, MinuteSeries(labels=dict(labels), max_span=10**7))
        series.note_first(minute)
    for (_, slice_key, minute), (events, bad, amount) in batch.nonzero_deltas().items():
        out.setdefault(slice_key, MinuteSeries(max_span=10**7)).add(minute, events, bad, amount)
    return out


def rebuild(
    sla: SLA, source: TelemetrySource, from_ns: int, to_ns: int, chunk: int = 50_000
) -> dict[str, MinuteSeries]:
    """Per-minute rollups of ``sla`` from the telemetry that can matter between from and to."""
    from slas.engine import selectors_of

    processor = Processor([sla])
    batch = Batch()
    reach = horizon_minutes(sla) * MINUTE_NS + (int(sla.sli.lag.within * 1e9) if sla.sli.lag else 0)
    start = from_ns - reach

    def no_stored(_sla_id: str, _keys: list[str]) -> dict[str, LagObject]:
        return {}

    for rows in source.span_history(start, to_ns, selectors_of(sla), chunk) if selectors_of(sla) else []:
        processor.spans(batch, rows, no_stored, to_ns)
    if sla.sli.gauge is not None:
        for points in source.point_history(start, to_ns, {sla.sli.gauge.metric}, chunk):
            processor.points(batch, points)
    if sla.sli.lag is not None:
        within = int(sla.sli.lag.within * 1e9)
        for key, obj in list(batch.objects.items()):
            batch.objects[key] = batch.count(obj, classify(obj, within, to_ns))
    return _series(sla, batch)


def _score_once(
    sla: SLA, series: dict[str, MinuteSeries], from_ns: int, to_ns: int
) -> list[tuple[str | None, dict[str, str], Scored]]:
    """Score every minute from the first window's start to the end once.

    Scoring is causal (a minute's score depends only on telemetry up to it and on the hours
    before it), so one pass serves every step of the replay exactly as per-step scoring would.
    """
    lo = scored_range(sla, from_ns // MINUTE_NS)[0]
    hi = to_ns // MINUTE_NS
    raw_lo = lo - lookback_minutes(sla)
    whole = RawMinutes.zeros(raw_lo, hi)
    firsts = [s.first_minute for s in series.values() if s.first_minute is not None]
    out: list[tuple[str | None, dict[str, str], Scored]] = []
    for key in sorted(series):
        raw = series[key].raw(raw_lo, hi)
        whole += raw
        if key and sla.slice_by:
            out.append((key, series[key].labels, score(sla, raw, series[key].first_minute, lo, hi)))
    return [(None, {}, score(sla, whole, min(firsts) if firsts else None, lo, hi)), *out]


def replay(
    sla: SLA,
    source: TelemetrySource,
    *,
    from_ns: int,
    to_ns: int,
    step_ns: int,
    progress: Callable[[int, int], None] | None = None,
) -> list[SliceReplay]:
    """Evaluate ``sla`` every ``step`` from ``from`` to ``to``; transitions, alerts and episodes per slice."""
    series = rebuild(sla, source, from_ns, to_ns)
    scored = _score_once(sla, series, from_ns, to_ns)
    replays: dict[str | None, SliceReplay] = {}
    firing: dict[tuple[str | None, str], Alert] = {}
    steps = max(1, (to_ns - from_ns) // step_ns + 1)
    for index in range(steps):
        at = min(from_ns + index * step_ns, to_ns)
        if progress is not None:
            progress(index + 1, steps)
        for slice_key, labels, minutes in scored:
            ev = evaluate_scored(sla, minutes, at, slice_key, labels)
            rep = replays.setdefault(ev.slice, SliceReplay(sla.id, ev.slice))
            before = rep.last.status if rep.last else None
            if rep.last is not None:
                rep.seconds_in[rep.last.status] = rep.seconds_in.get(rep.last.status, 0.0) + step_ns / 1e9
            if before != ev.status:
                rep.transitions.append(Transition(at, before or "start", ev.status, ev))
                if rep.episodes and rep.episodes[-1].end_ns is None:
                    last = rep.episodes[-1]
                    rep.episodes[-1] = Episode(last.status, last.start_ns, at)
                rep.episodes.append(Episode(ev.status, at, None))
            for burn in ev.burn_rates:
                key = (ev.slice, burn.name)
                current = firing.get(key)
                if burn.firing and current is None:
                    firing[key] = Alert(burn.name, burn.severity, at, None, burn.long_rate or 0.0)
                elif burn.firing and current is not None:
                    firing[key] = Alert(
                        current.tier,
                        current.severity,
                        current.start_ns,
                        None,
                        max(current.peak_long_rate, burn.long_rate or 0.0),
                    )
                elif not burn.firing and current is not None:
                    rep.alerts.append(
                        Alert(current.tier, current.severity, current.start_ns, at, current.peak_long_rate)
                    )
                    del firing[key]
            rep.last = ev
    for (slice_key, _), alert in firing.items():
        replays[slice_key].alerts.append(alert)
    for rep in replays.values():
        rep.alerts.sort(key=lambda a: (a.start_ns, a.tier))
    return [replays[k] for k in sorted(replays, key=lambda s: (s is not None, s or ""))]
