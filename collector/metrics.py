"""OTLP metrics -> rows of ``metric_points`` (one row per data point), redacted on the way.

Every kind OTLP has is kept: gauge and sum points carry ``value``; histograms, exponential
histograms and summaries carry ``count``/``sum``/``min``/``max`` and their buckets as JSON.
Rows are dicts until the registered metric transforms have run (they rename or re-label
engine-specific metrics), then become tuples with a ``series_id`` that reflects the final row.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    ExponentialHistogramDataPoint,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    SummaryDataPoint,
)

from collector.attributes import attributes, clean_text
from collector.redaction import Redactor
from collector.rejections import Rejections
from collector.rows import Row, metric_row_tuple
from collector.spans import MAX_INT64
from vitals.kernel.runtime import MetricTransform

log = logging.getLogger(__name__)

TEMPORALITIES = ("unspecified", "delta", "cumulative")

_DataPoint = NumberDataPoint | HistogramDataPoint | ExponentialHistogramDataPoint | SummaryDataPoint


@dataclass
class ConvertedPoints:
    rows: list[Row] = field(default_factory=list)
    received: int = 0
    rejections: Rejections = field(default_factory=Rejections)

    @property
    def accepted(self) -> int:
        return len(self.rows)


def _temporality(value: int) -> str:
    return TEMPORALITIES[value] if 0 <= value < 3 else "unspecified"


def _number(point: NumberDataPoint) -> float | None:
    which = point.WhichOneof("value")
    if which == "as_double":
        return point.as_double
    if which == "as_int":
        return float(point.as_int)
    return None


def _buckets(bucket: ExponentialHistogramDataPoint.Buckets) -> dict[str, Any]:
    return {"offset": bucket.offset, "counts": list(bucket.bucket_counts)}


def _kind_fields(metric: Metric, point: _DataPoint) -> dict[str, Any]:
    """The columns that depend on the metric's kind."""
    kind = metric.WhichOneof("data")
    if isinstance(point, NumberDataPoint):
        fields: dict[str, Any] = {"kind": kind, "value": _number(point)}
        if kind == "sum":
            fields["temporality"] = _temporality(metric.sum.aggregation_temporality)
            fields["is_monotonic"] = metric.sum.is_monotonic
        return fields
    if isinstance(point, HistogramDataPoint):
        return {
            "kind": "histogram",
            "count": point.count,
            "sum": point.sum if point.HasField("sum") else None,
            "min": point.min if point.HasField("min") else None,
            "max": point.max if point.HasField("max") else None,
            "buckets": {"bounds": list(point.explicit_bounds), "counts": list(point.bucket_counts)},
            "temporality": _temporality(metric.histogram.aggregation_temporality),
        }
    if isinstance(point, ExponentialHistogramDataPoint):
        return {
            "kind": "exponential_histogram",
            "count": point.count,
            "sum": point.sum if point.HasField("sum") else None,
            "min": point.min if point.HasField("min") else None,
            "max": point.max if point.HasField("max") else None,
            "buckets": {
                "scale": point.scale,
                "zero_count": point.zero_count,
                "zero_threshold": point.zero_threshold,
                "positive": _buckets(point.positive),
                "negative": _buckets(point.negative),
            },
            "temporality": _temporality(metric.exponential_histogram.aggregation_temporality),
        }
    return {
        "kind": "summary",
        "count": point.count,
        "sum": point.sum,
        "buckets": {"quantiles": [{"quantile": q.quantile, "value": q.value} for q in point.quantile_values]},
    }


def _points(metric: Metric) -> Sequence[_DataPoint]:
    kind = metric.WhichOneof("data")
    if kind == "gauge":
        return metric.gauge.data_points
    if kind == "sum":
        return metric.sum.data_points
    if kind == "histogram":
        return metric.histogram.data_points
    if kind == "exponential_histogram":
        return metric.exponential_histogram.data_points
    if kind == "summary":
        return metric.summary.data_points
    return ()


def _reject_reason(point: _DataPoint) -> str | None:
    if not point.time_unix_nano:
        return "missing_time"
    if point.time_unix_nano > MAX_INT64 or point.start_time_unix_nano > MAX_INT64:
        return "time_out_of_range"
    if not isinstance(point, NumberDataPoint) and point.count > MAX_INT64:
        return "time_out_of_range"
    return None


def _iter_rows(
    request: ExportMetricsServiceRequest, redactor: Redactor, rejections: Rejections
) -> Iterator[dict[str, Any] | None]:
    """One dict per valid data point, None for each rejected one (so the caller counts them)."""
    for ri, resource_metrics in enumerate(request.resource_metrics):
        resource = redactor.attributes(attributes(resource_metrics.resource.attributes))
        service = clean_text(str(resource.get("service.name") or "unknown_service"))
        for si, scope_metrics in enumerate(resource_metrics.scope_metrics):
            scope = scope_metrics.scope.name
            scope_name = clean_text(redactor.name(scope)) if scope else None
            for mi, metric in enumerate(scope_metrics.metrics):
                name = clean_text(redactor.name(metric.name))
                unit = clean_text(redactor.name(metric.unit)) if metric.unit else None
                where = f"resource_metrics[{ri}].scope_metrics[{si}].metrics[{mi}]"
                points = _points(metric)
                if not name:
                    if points:
                        rejections.add("missing_metric_name", where, len(points))
                        yield from (None for _ in points)
                    continue
                for pi, point in enumerate(points):
                    reason = _reject_reason(point)
                    if reason is not None:
                        rejections.add(reason, f"{where}.data_points[{pi}]")
                        yield None
                        continue
                    yield {
                        "name": name,
                        "unit": unit,
                        "service_name": service,
                        "time_unix_nano": point.time_unix_nano,
                        "start_time_unix_nano": point.start_time_unix_nano or None,
                        "attributes": redactor.attributes(attributes(point.attributes)),
                        "resource_attributes": resource,
                        "scope_name": scope_name,
                        **_kind_fields(metric, point),
                    }


def apply_transforms(row: dict[str, Any], transforms: Sequence[MetricTransform]) -> dict[str, Any]:
    """Run each transform in order; one that raises is logged and skipped, not fatal."""
    for transform in transforms:
        try:
            changed = transform(row)
        except Exception:
            log.exception("metric transform %r failed; the row is kept as it was", transform)
            continue
        if changed is not None:
            row = changed
    return row


def convert_metrics(
    request: ExportMetricsServiceRequest,
    redactor: Redactor,
    received_at_unix_nano: int,
    transforms: Sequence[MetricTransform] = (),
) -> ConvertedPoints:
    """Rows for every valid data point of ``request``; invalid ones are counted in ``rejections``."""
    out = ConvertedPoints()
    for row in _iter_rows(request, redactor, out.rejections):
        out.received += 1
        if row is None:
            continue
        row["received_at_unix_nano"] = received_at_unix_nano
        if transforms:
            transformed = apply_transforms(dict(row), transforms)
            try:
                out.rows.append(metric_row_tuple(transformed))
                continue
            except (ValueError, TypeError):
                log.exception("a metric transform produced an invalid row; the row is kept as it was")
        out.rows.append(metric_row_tuple(row))
    return out


__all__ = ["TEMPORALITIES", "ConvertedPoints", "apply_transforms", "convert_metrics"]
