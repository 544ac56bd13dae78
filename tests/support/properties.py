"""Settings for property-based tests (hypothesis): the same examples on every run, and quick.

``derandomize`` draws examples from a fixed seed and no example database is kept, so a property
test means the same thing on every machine and every day; a failure found once is found again.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

PROPERTIES = settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
