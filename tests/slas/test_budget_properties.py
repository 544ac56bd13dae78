"""Properties of the error-budget arithmetic (hypothesis): the SRE workbook's identities hold."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slas.budget import (
    WORKBOOK_TIERS,
    WindowCounts,
    budget_remaining,
    burn_rate,
    error_budget,
    tiers_for,
    time_to_exhaustion,
    with_no_data_policy,
)
from tests.slas.helpers import make_sla
from tests.support.properties import PROPERTIES

#: Objectives as people write them (99%, 99.5%, 99.95%, ...): up to four decimals of a percent.
OBJECTIVES = st.integers(min_value=5000, max_value=999_999).map(lambda n: n / 1_000_000)
TOTALS = st.integers(min_value=1, max_value=10_000_000)


@PROPERTIES
@given(OBJECTIVES, TOTALS, st.data())
def test_remaining_budget_falls_as_bad_events_rise(objective: float, total: int, data: st.DataObject) -> None:
    bad_a = data.draw(st.integers(min_value=0, max_value=total))
    bad_b = data.draw(st.integers(min_value=bad_a, max_value=total))
    a, b = WindowCounts(total - bad_a, total), WindowCounts(total - bad_b, total)
    left_a, left_b = budget_remaining(a, objective), budget_remaining(b, objective)
    assert left_a is not None and left_b is not None
    assert left_b <= left_a
    assert budget_remaining(WindowCounts(total, total), objective) == 1.0  # nothing bad: untouched


@PROPERTIES
@given(OBJECTIVES, st.integers(min_value=1, max_value=1000))
def test_burning_at_rate_one_spends_exactly_the_budget_over_the_window(objective: float, scale: int) -> None:
    # A window whose bad share is exactly the error budget: 1 - objective of its events are bad.
    total = 1_000_000 * scale
    bad = round(total * error_budget(objective))
    counts = WindowCounts(total - bad, total)
    assert burn_rate(counts, objective) == 1.0
    assert budget_remaining(counts, objective) == 0.0
    # ...and a full budget burning at rate 1 lasts exactly one window
    assert time_to_exhaustion(1.0, 1.0, 30 * 86400) == 30 * 86400


@PROPERTIES
@given(OBJECTIVES, TOTALS, st.data())
def test_remaining_is_one_minus_the_burn_rate(objective: float, total: int, data: st.DataObject) -> None:
    bad = data.draw(st.integers(min_value=0, max_value=total))
    counts = WindowCounts(total - bad, total)
    rate, left = burn_rate(counts, objective), budget_remaining(counts, objective)
    assert rate is not None and left is not None
    assert rate >= 0
    assert left == pytest.approx(1 - rate, abs=2e-9)


@PROPERTIES
@given(
    st.floats(min_value=0.001, max_value=1.0),
    st.floats(min_value=0.01, max_value=100.0),
    st.floats(min_value=3600, max_value=366 * 86400),
)
def test_time_to_exhaustion_is_what_is_left_at_the_current_burn(
    left: float, rate: float, window: float
) -> None:
    seconds = time_to_exhaustion(left, rate, window)
    assert seconds is not None
    # burning `rate` windows' worth of budget per window: what is left lasts left / rate windows
    assert seconds == pytest.approx(left * window / rate)
    faster = time_to_exhaustion(left, rate * 2, window)
    assert faster is not None and faster <= seconds
    assert time_to_exhaustion(-left, rate, window) == 0.0  # overspent: already exhausted


@PROPERTIES
@given(
    st.integers(min_value=0, max_value=1000),
    st.data(),
    st.integers(min_value=1, max_value=2000),
    st.sampled_from(["neither", "good", "bad"]),
)
def test_topping_up_sparse_windows_moves_the_sli_the_way_the_policy_says(
    total: int, data: st.DataObject, min_events: int, policy: str
) -> None:
    good = data.draw(st.integers(min_value=0, max_value=total))
    counts = with_no_data_policy(good, total, min_events, policy)
    if total >= min_events and total > 0:
        assert counts == WindowCounts(good, total)  # enough events: untouched
        return
    if counts is None:
        assert policy == "neither" or (policy == "good" and total == 0)
        return
    assert counts.total >= max(min_events, 1) and counts.sli is not None
    if total:
        measured = good / total
        assert counts.sli >= measured if policy == "good" else counts.sli <= measured
    assert counts.bad == (total - good if policy == "good" else counts.total - good)


@PROPERTIES
@given(st.integers(min_value=1, max_value=90))
def test_scaled_tiers_keep_the_workbooks_share_of_the_budget(days: int) -> None:
    """For a window of W, a tier still means "this share of the budget burnt in its long window".

    The long window is scaled by W/30d and rounded up to a whole minute, so the share can only
    grow, and by less than one minute's worth at the threshold.
    """
    window = days * 86400
    tiers = tiers_for(make_sla(window=f"{days}d", sli={"ratio": {"total": {"span": "x"}, "bad": {}}}))
    for tier, (long_s, _short, threshold, severity) in zip(tiers, WORKBOOK_TIERS, strict=True):
        assert (tier.threshold, tier.severity) == (threshold, severity)
        assert tier.long_minutes >= tier.short_minutes >= 1
        workbook_share = threshold * long_s / (30 * 86400)
        share = threshold * tier.long_minutes * 60 / window
        assert workbook_share <= share + 1e-12
        assert share < workbook_share + threshold * 60 / window
