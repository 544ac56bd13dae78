"""Daily and hourly volume forecasts with weekly, monthly (close, claims) and daily seasonality.

Method: ordinary least squares (statsmodels ``OLS``) on the logarithm of each local day's volume,
with weekday effects and calendar regressors (the month's last business day, its first two, claims
submission days, a trend once there is history enough to tell it from noise), then the day spread
over its hours by the hourly profile seen on the same kind of day (its busiest hour by the share
the busiest hour really had on such days).

Why this and not MSTL, SARIMAX or an unobserved-components model: the histories are short (a week
to a few months of telemetry), and month-end close and claims days are calendar events, not
cycles of fixed length: a 30-day seasonal period needs two or more full months to estimate and
still slides off the real last business day, whereas a 0/1 regressor is right from the first
month-end seen. On the log scale the effects multiply (a close day is "8 times a weekday", on a
Monday as on a Friday). OLS has a closed form: it fits in milliseconds, never fails to converge
and raises no convergence warnings, and a regressor the history cannot identify (no month-end
seen yet, fewer than three weeks for separate weekdays) is simply left out, so the model degrades
to a weekday/weekend mean rather than over-fitting. Hourly (daily-cycle) shape is not regressed
at all: the share of a day's volume in each local hour is stable, so it is averaged per day kind.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from statsmodels.regression.linear_model import OLS

from capacity.calendar import DayKind, day_kind
from capacity.model import HOUR_S

#: A day counts as observed when at least this many of its hours were.
MIN_HOURS = 20
#: History beyond this many days is not used: old volumes say little and fits stay fast.
MAX_HISTORY_DAYS = 400
#: Two-sided interval of the ``upper`` bounds (90%: the upper bound is the 95th percentile).
ALPHA = 0.1


@dataclass(frozen=True)
class DayForecast:
    day: date
    kind: DayKind
    total: float  # messages that day (median forecast)
    upper: float  # messages that day (upper bound of the interval)
    peak_hour_s: int  # UTC start of the busiest hour
    peak_per_hour: float  # messages in the busiest hour
    peak_upper: float


@dataclass(frozen=True)
class Forecast:
    days: tuple[DayForecast, ...]
    hours: tuple[tuple[int, float], ...]  # (UTC hour start, messages that hour)
    history_days: int
    regressors: tuple[str, ...]
    note: str = ""

    @property
    def peak(self) -> DayForecast | None:
        return max(self.days, key=lambda d: d.peak_per_hour) if self.days else None


def _local_hours(day: date, zone: ZoneInfo) -> list[int]:
    """UTC hour starts whose local time falls on ``day`` (23, 24 or 25 of them)."""
    start = int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp())
    nxt = day + timedelta(days=1)
    end = int(datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone).timestamp())
    first = start - start % HOUR_S
    return list(range(first, end, HOUR_S))


def daily_totals(
    volume: Sequence[tuple[int, float | None]], zone: ZoneInfo, before: date
) -> tuple[dict[date, float], dict[date, dict[int, float]]]:
    """Observed local days before ``before``: total (scaled up for a few missing hours), and
    volume by local hour."""
    by_day: dict[date, dict[int, float]] = defaultdict(dict)
    seen: dict[date, int] = defaultdict(int)
    for hour_s, count in volume:
        if count is None:
            continue
        moment = datetime.fromtimestamp(hour_s, zone)
        if moment.date() < before:
            by_day[moment.date()][moment.hour] = by_day[moment.date()].get(moment.hour, 0.0) + count
            seen[moment.date()] += 1
    totals: dict[date, float] = {}
    for day, hours in by_day.items():
        expected = len(_local_hours(day, zone))
        if seen[day] >= min(MIN_HOURS, expected):
            totals[day] = sum(hours.values()) * expected / min(seen[day], expected)
    return totals, by_day


def _columns(kinds: Sequence[DayKind], n_trend: int) -> list[tuple[str, list[float]]]:
    """Candidate regressors, most important first, each only if the history can identify it."""
    n = len(kinds)
    cols: list[tuple[str, list[float]]] = [("const", [1.0] * n)]
    weekdays = {k.weekday for k in kinds}
    if n >= 21 and len(weekdays) == 7:
        cols += [(f"dow{w}", [1.0 if k.weekday == w else 0.0 for k in kinds]) for w in range(1, 7)]
    elif any(k.weekend for k in kinds) and not all(k.weekend for k in kinds):
        cols.append(("weekend", [1.0 if k.weekend else 0.0 for k in kinds]))
    for name in ("close_last", "close_first", "claims"):
        values = [1.0 if getattr(k, name) else 0.0 for k in kinds]
        if 0 < sum(values) < n:
            cols.append((name, values))
    if n >= 56:
        cols.append(("trend", [i / n_trend for i in range(n)]))
    return cols


def _design(
    names: Sequence[str], kinds: Sequence[DayKind], offsets: Sequence[int], n_trend: int
) -> np.ndarray:
    rows = []
    for k, i in zip(kinds, offsets, strict=True):
        row = []
        for name in names:
            if name == "const":
                row.append(1.0)
            elif name.startswith("dow"):
                row.append(1.0 if k.weekday == int(name[3:]) else 0.0)
            elif name == "weekend":
                row.append(1.0 if k.weekend else 0.0)
            elif name == "trend":
                row.append(i / n_trend)
            else:
                row.append(1.0 if getattr(k, name) else 0.0)
        rows.append(row)
    return np.asarray(rows, dtype=float)


def _profiles(
    by_day: dict[date, dict[int, float]], totals: dict[date, float]
) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Mean share of the day's volume per local hour, per day type (weekday, weekend, all); and
    the mean share of its busiest hour.

    The busiest hour's share is averaged as observed, not read off the mean profile: hour-to-hour
    noise makes a real day's busiest hour busier than the mean shape's, and capacity has to carry
    the real one.
    """
    sums: dict[str, list[float]] = {t: [0.0] * 24 for t in ("weekday", "weekend", "all")}
    counts: dict[str, int] = {t: 0 for t in sums}
    peaks: dict[str, float] = {t: 0.0 for t in sums}
    for day, total in totals.items():
        if total <= 0:
            continue
        kind = "weekend" if day.weekday() >= 5 else "weekday"
        for t in (kind, "all"):
            counts[t] += 1
            peaks[t] += max(by_day[day].values()) / total
            for hour, value in by_day[day].items():
                sums[t][hour] += value / total
    flat = [1 / 24] * 24
    out = {t: [v / counts[t] for v in sums[t]] if counts[t] else flat for t in sums}
    peak = {t: peaks[t] / counts[t] if counts[t] else 0.0 for t in sums}
    for t in ("weekday", "weekend"):
        if not counts[t]:
            out[t], peak[t] = out["all"], peak["all"]
    return out, peak


def forecast(
    volume: Sequence[tuple[int, float | None]],
    now_s: float,
    days: int = 30,
    zone: str = "America/Chicago",
    claims_days: Sequence[int] = (10, 25),
) -> Forecast:
    """Forecast the local days from today (``now_s``'s local date) for ``days`` days."""
    tz = ZoneInfo(zone)
    today = datetime.fromtimestamp(now_s, tz).date()
    totals, by_day = daily_totals(volume, tz, today)
    history = sorted(d for d in totals if d >= today - timedelta(days=MAX_HISTORY_DAYS))
    if len(history) < 3:
        return Forecast((), (), len(history), (), note="fewer than 3 observed days: no forecast")
    first = history[0]
    kinds = [day_kind(d, claims_days) for d in history]
    offsets = [(d - first).days for d in history]
    span = (history[-1] - first).days + 1
    candidates = _columns(kinds, span)
    # Keep at least three residual degrees of freedom: drop the least important regressors.
    while len(candidates) > 1 and len(history) - len(candidates) < 3:
        candidates.pop()
    names = [name for name, _ in candidates]
    y = np.log1p(np.asarray([max(0.0, totals[d]) for d in history]))
    exog = _design(names, kinds, offsets, span)
    fitted = OLS(y, exog).fit()
    ahead = [today + timedelta(days=i) for i in range(days)]
    ahead_kinds = [day_kind(d, claims_days) for d in ahead]
    x_new = _design(names, ahead_kinds, [(d - first).days for d in ahead], span)
    mean = np.asarray(fitted.predict(x_new), dtype=float)
    resid_sd = math.sqrt(max(float(fitted.scale), 0.0))
    z = 1.6448536269514722  # upper 95th percentile of the normal
    leverage = np.einsum("ij,jk,ik->i", x_new, np.linalg.pinv(exog.T @ exog), x_new)
    upper_log = mean + z * resid_sd * np.sqrt(1.0 + np.maximum(leverage, 0.0))
    profiles, peak_shares = _profiles(by_day, totals)
    out_days: list[DayForecast] = []
    out_hours: list[tuple[int, float]] = []
    for day, kind, m, u in zip(ahead, ahead_kinds, mean, upper_log, strict=True):
        total = max(0.0, math.expm1(float(m)))
        upper = max(total, math.expm1(float(u)))
        day_type = "weekend" if kind.weekend else "weekday"
        profile = profiles[day_type]
        hours = _local_hours(day, tz)
        shares = [profile[datetime.fromtimestamp(h, tz).hour] for h in hours]
        norm = sum(shares) or 1.0
        per_hour = [(h, total * s / norm) for h, s in zip(hours, shares, strict=True)]
        out_hours.extend(per_hour)
        peak_hour, peak = max(per_hour, key=lambda p: p[1])
        peak = max(peak, total * peak_shares[day_type])
        out_days.append(
            DayForecast(day, kind, total, upper, peak_hour, peak, peak * (upper / total if total else 1.0))
        )
    return Forecast(tuple(out_days), tuple(out_hours), len(history), tuple(names))


def seasonal_naive(totals: dict[date, float], today: date, days: int) -> list[float]:
    """The baseline: each day as the same weekday of the last observed week."""
    last = max(totals)
    out = []
    for i in range(days):
        day = today + timedelta(days=i)
        source = last - timedelta(days=(last.weekday() - day.weekday()) % 7)
        out.append(totals.get(source, 0.0))
    return out


__all__ = ["ALPHA", "DayForecast", "Forecast", "daily_totals", "forecast", "seasonal_naive"]
