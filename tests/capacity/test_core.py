"""The pure core: calendar, measured capacity, forecast, headroom and backlog clear times."""

from __future__ import annotations

import math
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from capacity.calendar import day_kind
from capacity.config import CapacityConfig, Target
from capacity.forecast import daily_totals, forecast
from capacity.measured import best_sustained
from capacity.model import HOUR_S, Backlog, Series
from capacity.report import build, clear_time, next_deadline
from simulator.calendar import CLAIMS_DAYS, close_phase, is_claims_day, rate_factor
from vitals.shell.bench.capacity import simulated_hours

CHICAGO = ZoneInfo("America/Chicago")
#: 2026-12-05 00:00 Chicago.
NOW_S = int(datetime(2026, 12, 5, tzinfo=CHICAGO).timestamp())


def test_calendar_matches_the_simulator_estate() -> None:
    day = date(2026, 1, 1)
    for offset in range(400):
        d = date.fromordinal(day.toordinal() + offset)
        kind = day_kind(d, CLAIMS_DAYS)
        phase = close_phase(d)
        assert kind.close_last == (phase == "last")
        assert kind.close_first == (phase == "first")
        assert kind.claims == is_claims_day(d)
    # 2026-01-10 is a Saturday: the claims batch goes out Monday the 12th
    assert day_kind(date(2026, 1, 12)).claims and not day_kind(date(2026, 1, 10)).claims


def test_simulator_claims_cycle_raises_claims_on_claims_days() -> None:
    monday_claims = datetime(2026, 1, 12, 10, tzinfo=CHICAGO).timestamp()
    tuesday = datetime(2026, 1, 13, 10, tzinfo=CHICAGO).timestamp()
    wednesday_claims = datetime(2026, 11, 25, 10, tzinfo=CHICAGO).timestamp()
    wednesday = datetime(2026, 11, 18, 10, tzinfo=CHICAGO).timestamp()
    assert rate_factor("claim", monday_claims) > 2.5 * rate_factor("claim", tuesday)
    assert rate_factor("claim", wednesday_claims) == pytest.approx(2.2 * rate_factor("claim", wednesday))


def test_best_sustained_rate_is_the_best_window_mean_and_never_spans_gaps() -> None:
    points = [(i * 900, 1.0) for i in range(8)] + [(8 * 900, 9.0)]
    assert best_sustained(points, 900, 3600) == pytest.approx((1 + 1 + 1 + 9) / 4)
    assert best_sustained(points, 900, 900) == 9.0
    gapped = [(0, 5.0), (900, 5.0), (3600, 5.0), (4500, 5.0)]
    assert best_sustained(gapped, 900, 3600) is None


def _history(stream: str, daily: float, days: int, seed: int = 3) -> list[tuple[int, float | None]]:
    import numpy as np

    start = NOW_S - days * 86400
    return simulated_hours(stream, daily, start, days * 24, rng=np.random.default_rng(seed), noise=0.05)


def test_forecast_learns_month_end_close_and_claims_days() -> None:
    journal = forecast(_history("journal", 400, 90), NOW_S, days=30, claims_days=CLAIMS_DAYS)
    assert {"close_last", "close_first"} <= set(journal.regressors)
    by_day = {d.day: d for d in journal.days}
    last_business = date(2026, 12, 31)  # Thursday
    ordinary = date(2026, 12, 16)  # Wednesday
    assert by_day[last_business].total > 5 * by_day[ordinary].total
    assert by_day[last_business].peak_per_hour > 5 * by_day[ordinary].peak_per_hour
    claims = forecast(_history("claim", 6000, 90), NOW_S, days=30, claims_days=CLAIMS_DAYS)
    cd = {d.day: d for d in claims.days}
    assert cd[date(2026, 12, 10)].total > 1.8 * cd[date(2026, 12, 9)].total  # Thursday claims day
    # weekends of a business stream are a small fraction of a weekday
    assert cd[date(2026, 12, 12)].total < 0.3 * cd[date(2026, 12, 9)].total
    # the peak hour is a working hour in Chicago
    assert 7 <= datetime.fromtimestamp(cd[date(2026, 12, 9)].peak_hour_s, CHICAGO).hour <= 16


def test_short_history_degrades_to_fewer_regressors_without_warnings() -> None:
    week = forecast(_history("charge", 1000, 7), NOW_S, days=30)
    assert len(week.days) == 30
    assert "dow1" not in week.regressors and week.history_days == 7
    assert all(math.isfinite(d.total) and d.upper >= d.total for d in week.days)
    none = forecast(_history("charge", 1000, 2), NOW_S, days=30)
    assert none.days == () and "fewer than 3" in none.note


def test_daily_totals_scale_up_a_day_with_a_missing_hour() -> None:
    start = NOW_S - 86400
    hours: list[tuple[int, float | None]] = [(start + i * HOUR_S, 10.0) for i in range(24)]
    hours[5] = (hours[5][0], None)
    totals, _ = daily_totals(hours, CHICAGO, date(2026, 12, 5))
    assert totals == {date(2026, 12, 4): pytest.approx(240.0)}


def test_clear_time_and_deadline() -> None:
    assert clear_time(1800, 2.0, 1.0) == 1800
    assert clear_time(1800, 1.0, 1.0) is None
    assert clear_time(0, 0.0, 1.0) == 0
    noon = datetime(2026, 12, 4, 12, tzinfo=CHICAGO).timestamp()
    assert next_deadline(noon, "18:00", "America/Chicago") == noon + 6 * 3600
    assert next_deadline(noon, "11:00 America/Chicago", "UTC") == noon + 23 * 3600


def test_report_headroom_margin_day_and_backlog_verdict() -> None:
    volume = tuple(_history("charge", 24_000, 60))
    noon = datetime(2026, 12, 4, 12, tzinfo=CHICAGO).timestamp()
    # drained 2/s at best: 7,200 an hour measured
    drain = tuple((NOW_S - 86400 + i * 900, 2.0) for i in range(8))
    series = [
        Series("queue", "charges-outbound", volume, drain, 900, Backlog(noon, 3600, 1.5, 1.0)),
        Series("queue", "charges-late", volume, drain, 900, Backlog(noon, 36000, 1.5, 1.0)),
    ]
    config = CapacityConfig(
        queues={
            "charges-outbound": Target(per_hour=2500, margin=0.2, deadline="18:00", label="charges cut-off"),
            "charges-late": Target(deadline="13:00"),
        }
    )
    rows = {r.name: r for r in build(series, config, NOW_S, 30)}
    out = rows["charges-outbound"]
    assert out.capacity_source == "configured" and out.capacity_per_hour == 2500
    assert out.measured_per_hour == pytest.approx(7200)
    assert out.peak is not None and out.headroom == pytest.approx(1 - out.peak.peak_per_hour / 2500)
    assert out.headroom is not None and out.headroom < 0.2
    # the first day whose peak hour needs more than 80% of 2,500/h: a weekday, none before it
    assert out.below_margin_on is not None and out.below_margin_on.weekday() < 5
    before = [d for d in out.forecast.days if d.day < out.below_margin_on]
    assert all(d.peak_per_hour <= 0.8 * 2500 for d in before)
    assert next(d for d in out.forecast.days if d.day == out.below_margin_on).peak_per_hour > 0.8 * 2500
    assert out.close_peak is not None and out.close_peak.day in {
        date(2026, 12, 31),
        date(2027, 1, 1),
        date(2027, 1, 4),
    }
    assert out.backlog is not None and out.backlog.clear_s == pytest.approx(7200)
    assert out.backlog.clears_before_deadline is True
    assert out.backlog.deadline is not None and "charges cut-off" in out.backlog.deadline
    late = rows["charges-late"]
    assert late.capacity_source == "measured" and late.backlog is not None
    assert late.backlog.clears_before_deadline is False  # 20 h to clear, an hour to the deadline
