"""``optional_float``: one reading of loosely typed numbers for the collector and the SLA engine.

The collector (``hc_amount`` column, broker statistics) and the SLA engine (amounts at risk,
stored evaluations) once had a copy each, and they disagreed on booleans: the collector stored no
amount for ``hc.amount: true`` while the engine counted it as 1.0, so the dashboard and the SLA
disagreed on the money at risk of the same span.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from slas.records import hc_amount
from vitals.kernel.units import DAY_NS, HOUR_NS, MINUTE_NS, NS, optional_float


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (12.5, 12.5),
        (3, 3.0),
        ("12.5", 12.5),
        (" 7 ", 7.0),
        ("-0.25", -0.25),
        (Decimal("19.99"), 19.99),
        (2**63, float(2**63)),
    ],
)
def test_numbers_and_numeric_text_are_read(value: object, expected: float) -> None:
    assert optional_float(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,  # the disagreement: the SLA engine's copy read this as 1.0
        False,
        "",
        "twelve",
        "12.5 USD",
        [1],
        {"amount": 1},
        float("nan"),
        float("inf"),
        float("-inf"),
        "NaN",
        "Infinity",
        "1e400",  # overflows to infinity
        10**400,  # too large for a float at all (float() raises OverflowError)
    ],
)
def test_what_is_not_a_finite_quantity_is_none(value: object) -> None:
    assert optional_float(value) is None


def test_the_sla_engine_reads_a_boolean_amount_as_no_amount_like_the_collector() -> None:
    assert hc_amount({"hc.amount": True}) is None
    assert hc_amount({"hc.amount": "1250.00"}) == 1250.0


def test_time_units_are_nanoseconds() -> None:
    assert NS == 10**9
    assert (MINUTE_NS, HOUR_NS, DAY_NS) == (60 * NS, 3600 * NS, 86400 * NS)
