"""``vitals bench capacity``: back-test of the capacity forecast on simulated history.

Generates ``--history`` days of hourly volumes per stream straight from the simulator's rate
functions (``simulator.calendar.rate_factor``: daily curves, weekends, month-end close, the claims
cycle) with seeded multiplicative noise, fits the forecast on all but the last ``--days`` and
forecasts those. It prints the mean absolute percentage error (MAPE) of the daily volumes and of
each day's peak hour, per stream and overall, beside a seasonal naive baseline (each day as the
same weekday of the last week seen), and the fit time.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from pathlib import Path

import click
import numpy as np

from capacity.forecast import daily_totals, forecast, seasonal_naive
from capacity.model import HOUR_S
from simulator.calendar import CLAIMS_DAYS, ZONE, rate_factor
from simulator.options import now_option, seed_option
from vitals.shell.bench.common import Figure, Stopwatch, out_option, report, say

#: Stream -> weekday messages per day (the demo estate's order of magnitude).
STREAMS: dict[str, float] = {
    "charge": 14_000,
    "claim": 6_000,
    "journal": 400,
    "requisition": 1_500,
    "encounter.emergency": 900,
    "timecard": 3_000,
}


def simulated_hours(
    stream: str, daily: float, start_s: int, hours: int, *, rng: np.random.Generator, noise: float
) -> list[tuple[int, float | None]]:
    """Hourly volumes: the stream's rate at each hour's midpoint times its mean, with noise."""
    out: list[tuple[int, float | None]] = []
    for i in range(hours):
        hour_s = start_s + i * HOUR_S
        mean = daily / 24 * rate_factor(stream, hour_s + HOUR_S / 2)
        out.append((hour_s, float(rng.poisson(mean * math.exp(rng.normal(0.0, noise))))))
    return out


def _mape(actual: list[float], predicted: list[float]) -> float:
    pairs = [(a, p) for a, p in zip(actual, predicted, strict=True) if a > 0]
    return 100 * sum(abs(p - a) / a for a, p in pairs) / len(pairs) if pairs else float("nan")


@click.command()
@click.option("--history", default=120, show_default=True, help="Days of simulated hourly history.")
@click.option("--days", default=30, show_default=True, help="Days held out at the end and forecast.")
@click.option("--noise", default=0.1, show_default=True, help="Log-normal noise (sigma) on each hour's mean.")
@seed_option()
@now_option("End of the simulated history (midnight, Chicago, before it).")
@out_option()
def capacity(*, history: int, days: int, noise: float, seed: int, now: datetime, out: Path | None) -> None:
    """Back-test the capacity forecast: MAPE of daily volume and daily peak hour vs seasonal naive."""
    if days >= history - 7:
        raise click.BadParameter(
            "--days must leave at least a week of history to fit on", param_hint="--days"
        )
    end_day = now.astimezone(ZONE).date()
    start_day = end_day - timedelta(days=history)
    start_s = int(datetime(start_day.year, start_day.month, start_day.day, tzinfo=ZONE).timestamp())
    end_s = int(datetime(end_day.year, end_day.month, end_day.day, tzinfo=ZONE).timestamp())
    split_day = end_day - timedelta(days=days)
    split_s = int(datetime(split_day.year, split_day.month, split_day.day, tzinfo=ZONE).timestamp())
    rng = np.random.default_rng(seed)
    figures: list[Figure] = []
    all_model: list[float] = []
    all_naive: list[float] = []
    all_peak: list[float] = []
    all_peak_naive: list[float] = []
    fit_s = 0.0
    zone = str(ZONE)
    say(f"simulating {history} days x {len(STREAMS)} streams, holding out the last {days} days")
    for stream, daily in STREAMS.items():
        hours = simulated_hours(stream, daily, start_s, (end_s - start_s) // HOUR_S, rng=rng, noise=noise)
        train = [h for h in hours if h[0] < split_s]
        watch = Stopwatch()
        result = forecast(train, split_s, days=days, zone=zone, claims_days=CLAIMS_DAYS)
        fit_s += watch.seconds
        actual, by_day = daily_totals(hours, ZONE, end_day)
        train_totals, train_by_day = daily_totals(train, ZONE, split_day)
        held = [d.day for d in result.days]
        truth = [actual[d] for d in held]
        model = [d.total for d in result.days]
        naive = seasonal_naive(train_totals, split_day, days)
        peak_truth = [max(by_day[d].values()) for d in held]
        peak_model = [d.peak_per_hour for d in result.days]
        last = max(train_totals)
        peak_naive = [
            max(train_by_day[last - timedelta(days=(last.weekday() - d.weekday()) % 7)].values())
            for d in held
        ]
        m, n = _mape(truth, model), _mape(truth, naive)
        pm, pn = _mape(truth_peak := peak_truth, peak_model), _mape(truth_peak, peak_naive)
        all_model += [m]
        all_naive += [n]
        all_peak += [pm]
        all_peak_naive += [pn]
        figures.append(
            Figure(f"{stream}: daily volume MAPE", m, "%", 1, reference=f"seasonal naive {n:.1f} %")
        )
        figures.append(
            Figure(f"{stream}: daily peak-hour MAPE", pm, "%", 1, reference=f"seasonal naive {pn:.1f} %")
        )
    overall = sum(all_model) / len(all_model)
    overall_naive = sum(all_naive) / len(all_naive)
    figures.append(
        Figure(
            "overall: daily volume MAPE", overall, "%", 1, reference=f"seasonal naive {overall_naive:.1f} %"
        )
    )
    figures.append(
        Figure(
            "overall: daily peak-hour MAPE",
            sum(all_peak) / len(all_peak),
            "%",
            1,
            reference=f"seasonal naive {sum(all_peak_naive) / len(all_peak_naive):.1f} %",
        )
    )
    figures.append(Figure("fit + forecast, per stream", 1000 * fit_s / len(STREAMS), "ms", 1))
    report(figures, out)


__all__ = ["STREAMS", "capacity", "simulated_hours"]
