"""The pure part of the lag read API (the queries are tested against the dashboard's estate)."""

from __future__ import annotations

import numpy as np

from slas.lag_history import percentiles


def test_percentiles_are_median_and_nearest_rank() -> None:
    assert percentiles(np.array([])) == (None, None)
    median, p95 = percentiles(np.array([float(v) for v in range(1, 101)]))
    assert median == 50.5 and p95 == 95.0  # a lag that really occurred, not an interpolation
    assert percentiles(np.array([5.0])) == (5.0, 5.0)
