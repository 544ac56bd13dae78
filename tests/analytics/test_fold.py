"""Folding is a sum: batches folded apart and merged give the cells of one fold over every span."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.fold import Cell, CellKey, ErrorCell, ErrorKey, Fold, SpanFacts

NS = 1_000_000_000
T0 = 1_780_000_000 * NS

spans = st.builds(
    lambda route, method, status, consumer, offset_s, duration, weight, error: SpanFacts(
        "fhir-server",
        "server",
        T0 + offset_s * NS,
        duration,
        error or status >= 500,
        "upstream timed out after 3000 ms" if status >= 500 else None,
        {
            "http.route": route,
            "http.request.method": method,
            "http.response.status_code": status,
            "client.id": consumer,
        },
        weight,
        f"{offset_s:032x}",
    ),
    st.sampled_from(["/fhir/r4/Patient/{id}", "/fhir/r4/Encounter", "/eligibility/270"]),
    st.sampled_from(["GET", "POST"]),
    st.sampled_from([200, 201, 404, 429, 503]),
    st.sampled_from(["portal", "billing", ""]),
    st.integers(min_value=0, max_value=3 * 86400),
    st.integers(min_value=1, max_value=10**11),
    st.integers(min_value=1, max_value=20),
    st.booleans(),
)


def _merged(parts: list[list[SpanFacts]]) -> tuple[dict[CellKey, Cell], dict[ErrorKey, ErrorCell]]:
    cells: dict[CellKey, Cell] = {}
    errors: dict[ErrorKey, ErrorCell] = {}
    for part in parts:
        fold = Fold().add_all(part)
        for key, cell in fold.finished().items():
            cells[key] = cells[key].merge(cell) if key in cells else cell
        for ekey, error in fold.errors.items():
            errors[ekey] = errors[ekey].merge(error) if ekey in errors else error
    return cells, errors


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(spans, max_size=30), min_size=1, max_size=5))
def test_batches_merge_to_the_whole(parts: list[list[SpanFacts]]) -> None:
    whole = Fold().add_all([s for part in parts for s in part])
    cells, errors = _merged(parts)
    assert {
        k: (c.count, c.errors_4xx, c.errors_5xx, c.errors_other, c.duration_sum_ns) for k, c in cells.items()
    } == {
        k: (c.count, c.errors_4xx, c.errors_5xx, c.errors_other, c.duration_sum_ns)
        for k, c in whole.finished().items()
    }
    assert {k: dict(c.histogram.counts) for k, c in cells.items()} == {
        k: dict(c.histogram.counts) for k, c in whole.cells.items()
    }
    assert {k: e.count for k, e in errors.items()} == {k: e.count for k, e in whole.errors.items()}
    # Every call is counted once per width in each of its three rows, weighted.
    weight = sum(s.weight for part in parts for s in part)
    assert sum(c.count for k, c in cells.items() if k.width_s == 60) == 3 * weight
