"""Volume control: what is always kept, and that kept weights add up to what was received."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.config import load_collector_config
from collector.rows import SAMPLE_WEIGHT, SPAN_COLUMNS, SPAN_INDEX, Row, WriteBatch
from collector.sampling import (
    SampleRule,
    Sampling,
    SamplingPolicy,
    always_kept,
    group_key,
    sample,
    weights,
)
from vitals.kernel.configfile import ConfigError

MINUTE = 60_000_000_000
MS = 1_000_000


def span_row(i: int = 0, **values: Any) -> Row:
    """A healthy internal span row of ``adt-router`` (1 ms), with ``values`` overriding columns."""
    base: dict[str, Any] = {
        "trace_id": f"{i:032x}",
        "span_id": f"{i + 1:016x}",
        "name": "route",
        "service_name": "adt-router",
        "kind": "internal",
        "start_time_unix_nano": 10 * MINUTE + i,
        "end_time_unix_nano": 10 * MINUTE + i + MS,
        "duration_ns": MS,
        "event_time_unix_nano": 10 * MINUTE + i,
        "status_code": "unset",
        "attributes": "{}",
        "resource_attributes": "{}",
        "received_at_unix_nano": 1,
        "sample_weight": 1,
    }
    base.update(values)
    return tuple(base.get(column) for column in SPAN_COLUMNS)


def col(row: Row, name: str) -> Any:
    return row[SPAN_INDEX[name]]


POLICY = SamplingPolicy((SampleRule(service="adt-*", one_in=10),), slow_ns=500 * MS)


def test_weights_are_even_and_sum_to_the_group() -> None:
    assert weights(1, 10) == [1]
    assert weights(10, 10) == [10]
    assert weights(11, 10) == [6, 5]
    assert weights(25, 10) == [9, 8, 8]
    for size in range(1, 60):
        for one_in in (2, 3, 10, 100):
            ws = weights(size, one_in)
            assert sum(ws) == size and len(ws) == -(-size // one_in) and max(ws) - min(ws) <= 1


def test_a_group_of_healthy_spans_keeps_one_in_n_with_exact_weights() -> None:
    rows = [span_row(i) for i in range(30)]
    out = sample(WriteBatch(spans=rows), POLICY)
    assert len(out.batch.spans) == 3
    assert sum(r[SAMPLE_WEIGHT] for r in out.batch.spans) == 30
    assert out.dropped == {"adt-router": 27}


@pytest.mark.parametrize(
    "values",
    [
        {"hc_stage": "charge.posted"},
        {"hc_amount": 12.5},
        {"attributes": '{"hc.amount":"n/a"}'},
        {"attributes": '{"hc.key.encounter":"0f3a"}'},
        {"status_code": "error"},
        {"links": "[]"},
        {"kind": "producer"},
        {"kind": "consumer"},
    ],
)
def test_spans_that_carry_meaning_are_always_kept_alone(values: dict[str, Any]) -> None:
    rows = [span_row(i, **values) for i in range(20)]
    assert all(always_kept(r) for r in rows)
    out = sample(WriteBatch(spans=rows), POLICY)
    assert out.batch.spans == rows and out.dropped == {}


def test_slow_spans_are_kept_by_the_default_or_the_rule_threshold() -> None:
    slow = [span_row(i, duration_ns=600 * MS) for i in range(10)]
    assert sample(WriteBatch(spans=slow), POLICY).batch.spans == slow
    strict = SamplingPolicy((SampleRule(service="adt-*", one_in=10, slow_ns=MS // 2),), slow_ns=500 * MS)
    ordinary = [span_row(i) for i in range(10)]  # 1 ms: slow for this rule
    assert sample(WriteBatch(spans=ordinary), strict).batch.spans == ordinary


def test_unmatched_services_names_and_kinds_are_kept() -> None:
    policy = SamplingPolicy(
        (SampleRule(service="adt-router", name="route*", one_in=5, kinds=frozenset({"server"})),)
    )
    rows = [span_row(i) for i in range(10)]  # internal: not this rule's kind
    rows += [span_row(100 + i, service_name="lab", kind="server") for i in range(10)]
    rows += [span_row(200 + i, name="transform", kind="server") for i in range(10)]
    assert sample(WriteBatch(spans=rows), policy).batch.spans == rows
    matched = [span_row(300 + i, kind="server") for i in range(10)]
    assert len(sample(WriteBatch(spans=matched), policy).batch.spans) == 2


def test_groups_follow_the_rollups_cells() -> None:
    """Spans of different minutes, interfaces or facilities never share a weight."""
    rows = [span_row(i, start_time_unix_nano=(10 + i % 3) * MINUTE + i) for i in range(30)]
    rows += [span_row(100 + i, messaging_destination="adt-in") for i in range(10)]
    rows += [span_row(200 + i, hc_facility="north") for i in range(10)]
    out = sample(WriteBatch(spans=rows), POLICY)
    totals: Counter[tuple[Any, ...]] = Counter()
    for r in out.batch.spans:
        totals[group_key(r)] += r[SAMPLE_WEIGHT]
    assert totals == Counter(group_key(r) for r in rows)
    assert len(out.batch.spans) == 5


def test_the_same_traces_are_kept_in_every_group_and_on_a_retry() -> None:
    parents = [span_row(i, name="route") for i in range(40)]
    children = [span_row(i, name="transform", span_id=f"{i + 5000:016x}") for i in range(40)]
    batch = WriteBatch(spans=parents + children)
    first, again = sample(batch, POLICY), sample(batch, POLICY)
    assert first.batch.spans == again.batch.spans
    kept = Counter(col(r, "trace_id") for r in first.batch.spans)
    assert len(kept) == 4 and set(kept.values()) == {2}  # 4 whole traces, parent and child each


def test_a_span_repeated_in_a_request_counts_once() -> None:
    rows = [span_row(i) for i in range(10)]
    out = sample(WriteBatch(spans=rows + rows[:4]), POLICY)
    assert sum(r[SAMPLE_WEIGHT] for r in out.batch.spans) == 10


def test_span_keys_and_metric_points_pass_through() -> None:
    keyed = span_row(99, attributes='{"hc.key.mrn":"ab"}')
    keys = [("mrn", "ab", col(keyed, "trace_id"), col(keyed, "span_id"), None, 1)]
    points = [("s", "m")]
    out = sample(
        WriteBatch(spans=[keyed, *(span_row(i) for i in range(10))], span_keys=keys, metric_points=points),
        POLICY,
    )
    assert out.batch.span_keys == keys and out.batch.metric_points == points
    assert keyed in out.batch.spans


def test_an_inactive_policy_returns_the_batch_itself() -> None:
    batch = WriteBatch(spans=[span_row(i) for i in range(10)])
    assert sample(batch, SamplingPolicy()).batch is batch


# --------------------------------------------------------------------------- property

_services = st.sampled_from(["adt-router", "adt-feed", "lab"])
_kinds = st.sampled_from(["internal", "server", "client", "producer", "consumer", "unspecified"])


@st.composite
def _rows(draw: st.DrawFn) -> list[Row]:
    n = draw(st.integers(0, 120))
    rows = []
    for i in range(n):
        flags = draw(st.sets(st.sampled_from(["stage", "error", "slow", "key", "amount"]), max_size=2))
        rows.append(
            span_row(
                i,
                trace_id=f"{draw(st.integers(0, 25)):032x}",
                service_name=draw(_services),
                name=draw(st.sampled_from(["route", "transform"])),
                kind=draw(_kinds),
                start_time_unix_nano=(start := draw(st.integers(0, 3)) * MINUTE + i),
                event_time_unix_nano=start + draw(st.sampled_from([0, 0, MINUTE, 90 * MINUTE])),
                hc_system=draw(st.sampled_from([None, "epic"])),
                messaging_destination=draw(st.sampled_from([None, "", "adt-in"])),
                hc_facility=draw(st.sampled_from([None, "north"])),
                hc_stage="admit" if "stage" in flags else None,
                status_code="error" if "error" in flags else draw(st.sampled_from(["unset", "ok"])),
                duration_ns=(900 if "slow" in flags else draw(st.integers(0, 499))) * MS,
                attributes='{"hc.key.mrn":"x"}' if "key" in flags else "{}",
                hc_amount=10.0 if "amount" in flags else None,
            )
        )
    return rows


@settings(max_examples=300, deadline=None)
@given(
    rows=_rows(),
    one_in=st.integers(2, 12),
    kinds=st.sets(st.sampled_from(["internal", "server", "client", "unspecified"]), min_size=1),
)
def test_any_batch_keeps_every_meaningful_span_and_exact_group_counts(
    rows: list[Row], one_in: int, kinds: set[str]
) -> None:
    policy = SamplingPolicy(
        (SampleRule(service="adt-*", one_in=one_in, kinds=frozenset(kinds)),), slow_ns=500 * MS
    )
    out = sample(WriteBatch(spans=list(rows)), policy)
    kept = out.batch.spans
    received: Counter[tuple[Any, ...]] = Counter(group_key(r) for r in rows)
    stored: Counter[tuple[Any, ...]] = Counter()
    for r in kept:
        stored[group_key(r)] += r[SAMPLE_WEIGHT]
    assert stored == received
    for r in rows:
        meaningful = (
            always_kept(r)
            or col(r, "duration_ns") >= 500 * MS
            or not col(r, "service_name").startswith("adt-")
        )
        if meaningful:
            assert r in kept  # unchanged, weight 1
    assert all(r[SAMPLE_WEIGHT] >= 1 for r in kept)
    assert out.dropped_total == len(rows) - len(kept)
    assert sum(out.dropped.values()) == len(rows) - len(kept)


# --------------------------------------------------------------------------- collector.yaml


def test_sampling_is_off_by_default_and_in_the_starter_file() -> None:
    assert not Sampling().policy().active
    from vitals.kernel.settings import default_config_dir

    assert load_collector_config(default_config_dir(), environ={}).sampling == Sampling()


def test_the_section_builds_the_policy(tmp_path: Path) -> None:
    (tmp_path / "collector.yaml").write_text(
        """
sampling:
  enabled: true
  slow: 250ms
  rules:
    - {service: "fhir-*", name: "GET /Patient*", kinds: [server], rate: 5%, slow: 2s}
    - {service: adt-router, one_in: 20}
"""
    )
    policy = load_collector_config(tmp_path, environ={}).sampling.policy()
    assert policy.slow_ns == 250 * MS
    assert policy.rules == (
        SampleRule("fhir-*", 20, "GET /Patient*", frozenset({"server"}), 2000 * MS),
        SampleRule("adt-router", 20),
    )
    assert policy.rule_for("fhir-api", "GET /Patient/1", "server") == policy.rules[0]
    assert policy.rule_for("fhir-api", "GET /Patient/1", "client") is None


@pytest.mark.parametrize(
    ("text", "field", "says"),
    [
        ("sampling:\n  enabled: true\n", "sampling", "at least one rule"),
        ("sampling:\n  rules:\n    - {service: a}\n", "sampling.rules[0]", "one_in"),
        ("sampling:\n  rules:\n    - {service: a, one_in: 2, rate: 10%}\n", "sampling.rules[0]", "not both"),
        ("sampling:\n  rules:\n    - {service: a, one_in: 1}\n", "sampling.rules[0].one_in", "2"),
        ("sampling:\n  rules:\n    - {service: a, rate: 90%}\n", "sampling.rules[0]", "50%"),
        (
            "sampling:\n  rules:\n    - {service: a, one_in: 3, kinds: [producer]}\n",
            "sampling.rules[0].kinds[0]",
            "",
        ),
    ],
)
def test_mistakes_name_file_line_and_field(tmp_path: Path, text: str, field: str, says: str) -> None:
    (tmp_path / "collector.yaml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_collector_config(tmp_path, environ={})
    message = str(caught.value)
    assert "collector.yaml" in message and field in message and says in message
