"""OTLP metrics -> rows of metric_points, every kind, and the series id."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from collector.metrics import convert_metrics
from collector.otlp_json import metrics_from_json
from collector.redaction import RedactionPolicy, Redactor
from collector.rows import METRIC_COLUMNS, series_id
from tests.collector.otlp import T0, gauge_request, key_values
from tests.support.factories import metric_row

FIXTURES = Path(__file__).parent / "fixtures"
SECRET = b"metrics-test-secret-012345678"


def rows_of(request: Any, transforms: list[Any] | None = None) -> tuple[list[dict[str, Any]], Any]:
    out = convert_metrics(request, Redactor(RedactionPolicy(), SECRET), T0, transforms or [])
    return [dict(zip(METRIC_COLUMNS, row, strict=True)) for row in out.rows], out


def test_every_kind_of_the_specification_example() -> None:
    rows, out = rows_of(metrics_from_json((FIXTURES / "metrics.json").read_bytes()))
    by_name = {row["name"]: row for row in rows}
    assert out.received == 4 and out.rejections.total == 0

    counter = by_name["my.counter"]
    assert (counter["kind"], counter["value"], counter["temporality"], counter["is_monotonic"]) == (
        "sum",
        5.0,
        "delta",
        True,
    )
    assert counter["unit"] == "1"
    assert counter["service_name"] == "my.service"
    assert counter["scope_name"] == "my.library"
    assert counter["time_unix_nano"] == 1544712660300000000
    assert counter["start_time_unix_nano"] == 1544712660300000000
    assert orjson.loads(counter["attributes"]) == {"my.counter.attr": "some value"}
    assert orjson.loads(counter["resource_attributes"]) == {"service.name": "my.service"}

    gauge = by_name["my.gauge"]
    assert (gauge["kind"], gauge["value"], gauge["temporality"], gauge["is_monotonic"]) == (
        "gauge",
        10.0,
        None,
        None,
    )

    histogram = by_name["my.histogram"]
    assert (histogram["count"], histogram["sum"], histogram["min"], histogram["max"]) == (2, 2.0, 0.0, 2.0)
    assert orjson.loads(histogram["buckets"]) == {"bounds": [1.0], "counts": [1, 1]}

    exponential = by_name["my.exponential.histogram"]
    assert exponential["kind"] == "exponential_histogram"
    assert (exponential["count"], exponential["sum"], exponential["min"], exponential["max"]) == (
        3,
        10.0,
        0.0,
        5.0,
    )
    assert orjson.loads(exponential["buckets"]) == {
        "scale": 0,
        "zero_count": 1,
        "zero_threshold": 0.0,
        "positive": {"offset": 1, "counts": [0, 2]},
        "negative": {"offset": 0, "counts": []},
    }
    for row in rows:
        assert row["series_id"] == series_id(
            row["name"],
            row["service_name"],
            orjson.loads(row["resource_attributes"]),
            orjson.loads(row["attributes"]),
        )
        assert row["received_at_unix_nano"] == T0


def test_summary_points_keep_their_quantiles() -> None:
    request = gauge_request("unused", [])
    metric = request.resource_metrics[0].scope_metrics[0].metrics.add()
    metric.name = "rpc.latency"
    point = metric.summary.data_points.add()
    point.time_unix_nano = T0
    point.count = 10
    point.sum = 4.5
    for quantile, value in ((0.5, 0.3), (0.99, 1.2)):
        item = point.quantile_values.add()
        item.quantile, item.value = quantile, value
    rows, _ = rows_of(request)
    (row,) = [row for row in rows if row["name"] == "rpc.latency"]
    assert (row["kind"], row["count"], row["sum"]) == ("summary", 10, 4.5)
    assert orjson.loads(row["buckets"]) == {
        "quantiles": [{"quantile": 0.5, "value": 0.3}, {"quantile": 0.99, "value": 1.2}]
    }


def test_integer_points_and_the_queue_column() -> None:
    request = gauge_request("queue.depth", [(T0, 0.0, {"queue": "adt-inbound"})])
    request.resource_metrics[0].scope_metrics[0].metrics[0].gauge.data_points[0].as_int = 42
    rows, _ = rows_of(request)
    assert rows[0]["value"] == 42.0
    assert rows[0]["queue"] == "adt-inbound"


def test_series_ids_are_stable_and_distinguish_series() -> None:
    a = series_id("queue.depth", "engine", {"service.name": "engine"}, {"queue": "a", "broker": "rabbitmq"})
    assert a == series_id(
        "queue.depth", "engine", {"service.name": "engine"}, {"broker": "rabbitmq", "queue": "a"}
    )
    assert a != series_id(
        "queue.depth", "engine", {"service.name": "engine"}, {"queue": "b", "broker": "rabbitmq"}
    )
    assert a != series_id("queue.depth", "engine", {"service.name": "engine", "host": "x"}, {"queue": "a"})
    assert len(a) == 32 and int(a, 16) >= 0


def test_the_test_factory_uses_the_collectors_series_id() -> None:
    row = metric_row(name="queue.depth", value=3, time_s=10, attributes={"queue": "q"}, service="engine")
    assert row["series_id"] == series_id("queue.depth", "engine", {"service.name": "engine"}, {"queue": "q"})


def test_points_without_time_or_name_are_rejected() -> None:
    request = gauge_request("queue.depth", [(T0, 1.0, {}), (0, 2.0, {})])
    unnamed = request.resource_metrics[0].scope_metrics[0].metrics.add()
    unnamed.gauge.data_points.add(time_unix_nano=T0, as_double=1.0)
    rows, out = rows_of(request)
    assert [row["value"] for row in rows] == [1.0]
    assert out.rejections.counts == {"missing_time": 1, "missing_metric_name": 1}
    assert out.received == 3


def test_transforms_rename_and_the_series_follows() -> None:
    def rename(row: dict[str, Any]) -> dict[str, Any] | None:
        if row["name"] == "rabbitmq.message.current":
            row["name"] = "queue.depth"
            row["attributes"] = {**row["attributes"], "queue": "charges-outbound"}
            return row
        return None

    def broken(row: dict[str, Any]) -> dict[str, Any] | None:
        raise RuntimeError("a transform bug")

    rows, _ = rows_of(gauge_request("rabbitmq.message.current", [(T0, 7.0, {})]), [broken, rename])
    (row,) = rows
    assert row["name"] == "queue.depth"
    assert row["queue"] == "charges-outbound"
    assert row["series_id"] == series_id(
        "queue.depth", "engine", {"service.name": "engine"}, {"queue": "charges-outbound"}
    )


def test_a_transform_that_breaks_the_row_leaves_it_as_it_was() -> None:
    def bad(row: dict[str, Any]) -> dict[str, Any]:
        return {**row, "no_such_column": 1}

    rows, _ = rows_of(gauge_request("queue.depth", [(T0, 1.0, {})]), [bad])
    assert rows[0]["name"] == "queue.depth"


def test_point_attributes_are_redacted() -> None:
    rows, _ = rows_of(gauge_request("visits", [(T0, 1.0, {"patient.mrn": "QZ88421X"})]))
    assert orjson.loads(rows[0]["attributes"]) == {"patient.mrn": "[REDACTED:mrn]"}


@pytest.mark.parametrize("count", [2**63])
def test_counts_beyond_int64_are_rejected(count: int) -> None:
    request = gauge_request("unused", [])
    metric = request.resource_metrics[0].scope_metrics[0].metrics.add()
    metric.name = "h"
    metric.histogram.data_points.add(time_unix_nano=T0, count=count)
    _, out = rows_of(request)
    assert out.rejections.counts == {"time_out_of_range": 1}


def test_every_text_field_of_a_metric_is_scanned() -> None:
    request = gauge_request(
        "lookups MRN: QZ88421X",
        [(T0, 1.0, {"queue": "adt for jane.doe@example.org", "note 123-45-6789": "x", "raw": b"\xff"})],
        service="engine 555-867-5309",
    )
    resource = request.resource_metrics[0]
    resource.resource.attributes.extend(key_values({"host.name": "SSN 123-45-6789"}))
    scope = resource.scope_metrics[0]
    scope.scope.name = "scope jane@example.org"
    scope.metrics[0].unit = "{DOB: 04/12/1961}"
    rows, _ = rows_of(request)
    (row,) = rows
    assert row["name"] == "lookups MRN: [REDACTED:mrn]"
    assert row["unit"] == "{DOB: [REDACTED:birth_date]}"
    assert row["service_name"] == "engine [REDACTED:phone]"
    assert row["scope_name"] == "scope [REDACTED:email]"
    assert row["queue"] == "adt for [REDACTED:email]"
    assert orjson.loads(row["attributes"]) == {
        "queue": "adt for [REDACTED:email]",
        "note [REDACTED:ssn]": "[REDACTED:ssn]",
        "raw": "[REDACTED:bytes]",
    }
    assert orjson.loads(row["resource_attributes"]) == {
        "service.name": "engine [REDACTED:phone]",
        "host.name": "SSN [REDACTED:ssn]",
    }
    for planted in ("QZ88421X", "jane", "867-5309", "123-45-6789", "1961"):
        assert planted not in str(row)


def test_strict_mode_on_a_metric() -> None:
    request = gauge_request("orders.20240501.count", [(T0, 1.0, {"queue": "adt", "note": "x", "code": 7})])
    out = convert_metrics(request, Redactor(RedactionPolicy(strict=True), SECRET), T0)
    row = dict(zip(METRIC_COLUMNS, out.rows[0], strict=True))
    assert row["name"] == "orders.#.count"
    assert orjson.loads(row["attributes"]) == {"queue": "adt", "note": "[REDACTED:strict]", "code": 7}
    assert row["unit"] == "1"
