from __future__ import annotations

import pytest

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
from tests.slas.helpers import make_sla

RATIO = {"ratio": {"total": {"span": "x"}, "bad": {"status": "error"}}}


def test_thirty_day_window_uses_the_workbook_tiers_unchanged() -> None:
    tiers = tiers_for(make_sla(window="30d", sli=RATIO))
    assert [(t.name, t.threshold, t.severity) for t in tiers] == [
        ("1h/5m", 14.4, "page"),
        ("6h/30m", 6.0, "page"),
        ("1d/2h", 3.0, "ticket"),
        ("3d/6h", 1.0, "ticket"),
    ]


def test_seven_day_window_scales_windows_by_7_over_30_rounded_up_to_minutes() -> None:
    tiers = tiers_for(make_sla(window="7d", sli=RATIO))
    # 60m*7/30 = 14m, 5m*7/30 = 70s -> 2m; 6h -> 84m, 30m -> 7m; 1d -> 336m, 2h -> 28m; 3d -> 1008m, 6h -> 84m
    assert [(t.long_minutes, t.short_minutes) for t in tiers] == [(14, 2), (84, 7), (336, 28), (1008, 84)]
    assert [t.threshold for t in tiers] == [14.4, 6.0, 3.0, 1.0]


def test_calendar_month_scales_like_thirty_days() -> None:
    tiers = tiers_for(make_sla(window={"calendar": "month"}, sli=RATIO))
    assert tiers[0].name == "1h/5m"


def test_custom_tiers_replace_the_workbook() -> None:
    sla = make_sla(
        sli=RATIO,
        burn_rates=[{"long": "2h", "short": "15m", "threshold": 2.5, "severity": "page"}],
    )
    (tier,) = tiers_for(sla)
    assert (tier.long_minutes, tier.short_minutes, tier.threshold, tier.severity, tier.name) == (
        120,
        15,
        2.5,
        "page",
        "2h/15m",
    )


def test_burn_rate_budget_and_time_to_exhaustion() -> None:
    counts = WindowCounts(good=990, total=1000)  # 1% bad against a 99.5% objective (0.5% budget)
    assert burn_rate(counts, 0.995) == pytest.approx(2.0)
    assert budget_remaining(counts, 0.995) == pytest.approx(-1.0)
    assert budget_remaining(WindowCounts(999, 1000), 0.995) == pytest.approx(0.8)
    # 80% of a 30-day budget left, burning at 4x: 0.8 * 30d / 4 = 6 days
    assert time_to_exhaustion(0.8, 4.0, 30 * 86400) == pytest.approx(6 * 86400)
    assert time_to_exhaustion(-0.2, 4.0, 30 * 86400) == 0.0
    assert time_to_exhaustion(0.8, 0.0, 30 * 86400) is None
    assert burn_rate(None, 0.99) is None


def test_no_data_policy_below_min_events() -> None:
    assert with_no_data_policy(3, 4, 10, "neither") is None
    assert with_no_data_policy(3, 4, 10, "good") == WindowCounts(9, 10)  # six missing events count good
    assert with_no_data_policy(3, 4, 10, "bad") == WindowCounts(3, 10)
    assert with_no_data_policy(3, 4, 4, "neither") == WindowCounts(3, 4)
    assert with_no_data_policy(0, 0, 1, "neither") is None
    assert with_no_data_policy(0, 0, 1, "bad") == WindowCounts(0, 1)
    assert with_no_data_policy(0, 0, 10, "good") is None  # nothing measured: nothing to vouch for


def test_burn_window_floor_is_proportional_to_its_length() -> None:
    # 1000 events per 7 days -> a 14-minute window needs ceil(1000 * 14 / 10080) = 2 events
    assert burn_window_min_events(1000, 7 * 1440, 14) == 2
    assert burn_window_min_events(1, 7 * 1440, 14) == 1


@pytest.mark.parametrize(
    ("sli", "page", "ticket", "expected"),
    [
        (0.999, False, False, "ok"),
        (0.98, False, False, "breach"),  # objective missed
        (0.999, True, False, "breach"),  # fast burn
        (0.999, False, True, "warning"),  # slow burn
        (None, False, False, "no-data"),
        (None, False, True, "warning"),
    ],
)
def test_status(sli: float | None, page: bool, ticket: bool, expected: str) -> None:
    assert status_of(sli, 0.99, page, ticket) == expected
