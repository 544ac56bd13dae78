"""One SLA at one instant: windows, SLI, budget, burn rates and status for the whole and each slice.

Windows are whole minutes ending with the minute that holds the evaluation instant: a rolling
``7d`` window at 10:30:20 covers minutes 10:31 seven days ago .. 10:30 today; a calendar window
starts at local midnight of the period's first day in the window's time zone.
"""

from __future__ import annotations

from collections.abc import Mapping

from slas.breach import breach_rule, breach_start_minute
from slas.budget import (
    WindowCounts,
    budget_remaining,
    burn_rate,
    burn_window_min_events,
    status_of,
    tiers_for,
    time_to_exhaustion,
    with_no_data_policy,
)
from slas.localtime import period_start_minute
from slas.model import BurnRate, Evaluation
from slas.scoring import Scored, lookback_minutes, score
from slas.series import MinuteSeries, RawMinutes
from slas.spec import SLA
from vitals.kernel.units import MINUTE_NS

__all__ = ["evaluate_scored", "evaluate_sla", "raw_range", "window_start"]


def window_start(sla: SLA, at_minute: int) -> int:
    window = sla.window
    if window.rolling is not None:
        return at_minute - int(window.rolling // 60) + 1
    assert window.calendar is not None
    return period_start_minute(at_minute, window.calendar, sla.window_zone)


def scored_range(sla: SLA, at_minute: int) -> tuple[int, int]:
    """Minutes that must be scored to evaluate at ``at_minute``: the window and every burn window."""
    longest = max(tier.long_minutes for tier in tiers_for(sla))
    return min(window_start(sla, at_minute), at_minute - longest + 1), at_minute


def raw_range(sla: SLA, at_minute: int) -> tuple[int, int]:
    lo, hi = scored_range(sla, at_minute)
    return lo - lookback_minutes(sla), hi


def horizon_minutes(sla: SLA) -> int:
    """How far back (from now) raw rollups are ever needed, with a day of slack."""
    longest = max(tier.long_minutes for tier in tiers_for(sla))
    return int(max(sla.window.max_seconds // 60, longest)) + lookback_minutes(sla) + 1440


def evaluate_scored(
    sla: SLA,
    scored: Scored,
    at_ns: int,
    slice_key: str | None,
    labels: Mapping[str, str],
) -> Evaluation:
    at_minute = at_ns // MINUTE_NS
    objective = sla.objective
    window_lo = window_start(sla, at_minute)
    good, total, amount = scored.sums(window_lo, at_minute)
    counts = with_no_data_policy(good, total, sla.min_events, sla.no_data)
    window_minutes = sla.window.nominal_seconds / 60
    burns: list[BurnRate] = []
    # Below min_events with no_data "neither" the whole SLA is no-data, burn windows included;
    # otherwise each burn window has its share of min_events as its own floor.
    silent = total < sla.min_events and sla.no_data == "neither"
    for tier in tiers_for(sla):
        windows: list[WindowCounts | None] = []
        for minutes in (tier.long_minutes, tier.short_minutes):
            g, t, _ = scored.sums(at_minute - minutes + 1, at_minute)
            floor = burn_window_min_events(sla.min_events, window_minutes, minutes)
            windows.append(None if silent else with_no_data_policy(g, t, floor, sla.no_data))
        long_counts, short_counts = windows
        long_rate, short_rate = burn_rate(long_counts, objective), burn_rate(short_counts, objective)
        firing = (
            long_counts is not None
            and long_counts.bad >= sla.min_bad_events  # the SRE workbook's low-traffic guard
            and long_rate is not None
            and short_rate is not None
            and long_rate > tier.threshold
            and short_rate > tier.threshold
        )
        burns.append(
            BurnRate(
                name=tier.name,
                long_window_s=tier.long_minutes * 60.0,
                short_window_s=tier.short_minutes * 60.0,
                threshold=tier.threshold,
                long_rate=long_rate,
                short_rate=short_rate,
                severity=tier.severity,
                firing=firing,
            )
        )
    sli = counts.sli if counts else None
    remaining = budget_remaining(counts, objective)
    breach_started: int | None = None
    rule = breach_rule(burns, objective, sli)
    if rule is not None:
        # From the scored minutes alone, never from when an engine first saw the breach: a
        # back-filled store or a restarted engine gives the same start. Never before the window.
        search_lo, _ = scored_range(sla, at_minute)
        minute = breach_start_minute(scored.lo, scored.good, scored.total, rule, search_lo, at_minute)
        breach_started = max(window_lo, window_lo if minute is None else minute) * MINUTE_NS
    status = status_of(
        sli,
        objective,
        any(b.firing and b.severity == "page" for b in burns),
        any(b.firing and b.severity == "ticket" for b in burns),
    )
    return Evaluation(
        sla_id=sla.id,
        slice=slice_key,
        at_unix_nano=at_ns,
        title=sla.title,
        domain=sla.domain,
        owner=sla.owner,
        priority=sla.priority,
        kind=sla.kind,
        window_s=sla.window.nominal_seconds,
        window_label=sla.window.label,
        objective=objective,
        good=good,
        total=total,
        sli=sli,
        budget_remaining=remaining,
        time_to_exhaustion_s=time_to_exhaustion(remaining, burns[0].long_rate, sla.window.nominal_seconds),
        burn_rates=tuple(burns),
        status=status,
        at_risk_amount=round(amount, 2) if sla.kind == "lag" else None,
        labels=dict(labels),
        interface=sla.interface_for(labels if slice_key is not None else {}),
        breach_started_unix_nano=breach_started,
    )


def evaluate_sla(sla: SLA, series: Mapping[str, MinuteSeries], at_ns: int) -> list[Evaluation]:
    """The SLA as a whole (slice None) and, when it has ``slice_by``, each slice seen so far."""
    at_minute = at_ns // MINUTE_NS
    raw_lo, hi = raw_range(sla, at_minute)
    lo, _ = scored_range(sla, at_minute)
    whole = RawMinutes.zeros(raw_lo, hi)
    firsts = [s.first_minute for s in series.values() if s.first_minute is not None]
    parts: list[tuple[str, MinuteSeries, RawMinutes]] = []
    for key in sorted(series):
        raw = series[key].raw(raw_lo, hi)
        whole += raw
        if key:
            parts.append((key, series[key], raw))
    out = [evaluate_scored(sla, score(sla, whole, min(firsts) if firsts else None, lo, hi), at_ns, None, {})]
    if sla.slice_by:
        for key, minutes, raw in parts:
            scored = score(sla, raw, minutes.first_minute, lo, hi)
            out.append(evaluate_scored(sla, scored, at_ns, key, minutes.labels))
    return out
