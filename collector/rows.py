"""Rows of the telemetry tables as plain tuples, and the batches the writer commits.

The converters produce tuples in the column order below rather than dicts: at tens of thousands
of spans a second, building and binding a dict per row is a measurable share of the budget.
The column lists are checked against ``collector.tables`` by a test, so they cannot drift.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from collector.attributes import clean_text, json_text

Row = tuple[Any, ...]

SPAN_COLUMNS: tuple[str, ...] = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "service_name",
    "kind",
    "start_time_unix_nano",
    "end_time_unix_nano",
    "duration_ns",
    "event_time_unix_nano",
    "status_code",
    "status_message",
    "attributes",
    "resource_attributes",
    "events",
    "links",
    "scope_name",
    "hc_workflow",
    "hc_stage",
    "hc_system",
    "hc_message_type",
    "hc_facility",
    "hc_service_line",
    "hc_amount",
    "hc_denial_code",
    "messaging_destination",
    "received_at_unix_nano",
    "sample_weight",
)

#: The span attributes that ``spans`` also keeps in columns of their own (column -> attribute),
#: in column order, so SLA and dashboard queries can filter and index them.
SPAN_LIFTED_ATTRIBUTES: dict[str, str] = {
    "hc_workflow": "hc.workflow",
    "hc_stage": "hc.stage",
    "hc_system": "hc.system",
    "hc_message_type": "hc.message.type",
    "hc_facility": "hc.facility",
    "hc_service_line": "hc.service_line",
    "hc_amount": "hc.amount",
    "hc_denial_code": "hc.denial.code",
    "messaging_destination": "messaging.destination.name",
}

SPAN_KEY_COLUMNS: tuple[str, ...] = (
    "key_name",
    "key_hash",
    "trace_id",
    "span_id",
    "hc_stage",
    "event_time_unix_nano",
)
#: The columns of ``span_keys`` a key row is stored in: the row without ``hc_stage``, which the
#: store no longer repeats (migration c0009). Rows keep it, so the row layout that receivers,
#: the writer process and the buffer exchange (``collector.buffer.LAYOUT``) is unchanged.
STORED_SPAN_KEY_COLUMNS: tuple[str, ...] = tuple(c for c in SPAN_KEY_COLUMNS if c != "hc_stage")

METRIC_COLUMNS: tuple[str, ...] = (
    "series_id",
    "name",
    "kind",
    "unit",
    "service_name",
    "time_unix_nano",
    "start_time_unix_nano",
    "value",
    "count",
    "sum",
    "min",
    "max",
    "buckets",
    "temporality",
    "is_monotonic",
    "attributes",
    "resource_attributes",
    "scope_name",
    "queue",
    "received_at_unix_nano",
)

#: Position of each column in a span row, for code that reads rows back (tests, the in-memory sink).
SPAN_INDEX = {name: i for i, name in enumerate(SPAN_COLUMNS)}
#: Position of ``sample_weight``, the last column: row builders put 1 there (the span stands for
#: itself); sampling that keeps one span of N replaces it with ``with_sample_weight(row, n)``.
SAMPLE_WEIGHT = SPAN_INDEX["sample_weight"]
SPAN_KEY_INDEX = {name: i for i, name in enumerate(SPAN_KEY_COLUMNS)}
METRIC_INDEX = {name: i for i, name in enumerate(METRIC_COLUMNS)}

#: Position of the resource's JSON text in a span row. The sinks store it once per distinct
#: resource (``span_resources``) and give the span its ``resource_id`` instead.
SPAN_RESOURCE = SPAN_INDEX["resource_attributes"]

_METRIC_REQUIRED = ("name", "time_unix_nano")


@dataclass(slots=True)
class WriteBatch:
    """Everything one request (or one group commit) stores, committed in one transaction."""

    spans: list[Row] = field(default_factory=list)
    span_keys: list[Row] = field(default_factory=list)
    metric_points: list[Row] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return len(self.spans) + len(self.span_keys) + len(self.metric_points)

    def extend(self, other: WriteBatch) -> None:
        self.spans.extend(other.spans)
        self.span_keys.extend(other.span_keys)
        self.metric_points.extend(other.metric_points)

    @classmethod
    def concat(cls, batches: Iterable[WriteBatch]) -> WriteBatch:
        merged = cls()
        for batch in batches:
            merged.extend(batch)
        return merged


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a committed batch changed: new rows, and rows that were already stored."""

    spans_inserted: int = 0
    spans_duplicate: int = 0
    points_inserted: int = 0
    points_duplicate: int = 0


def with_sample_weight(row: Row, weight: int) -> Row:
    """``row`` (a span row) standing for ``weight`` spans: the sampler's one way to set the weight."""
    if weight < 1:
        raise ValueError(f"a sample weight is at least 1, not {weight}")
    return (*row[:SAMPLE_WEIGHT], weight, *row[SAMPLE_WEIGHT + 1 :])


def resource_id(resource_json: str) -> int:
    """The id of a resource in ``span_resources``: 64 bits of BLAKE2b over its JSON text, signed
    so it fits BIGINT. Any writer computes it without asking the store; two spellings of the same
    attributes (another key order) are two rows, which costs a row and nothing else."""
    digest = hashlib.blake2b(resource_json.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def series_id(
    name: str,
    service_name: str,
    resource_attributes: Mapping[str, Any],
    attributes: Mapping[str, Any],
) -> str:
    """A stable id for one metric time series: 32 hex digits of SHA-256 over its identity.

    Key order does not matter (keys are sorted before hashing), so the same series from two
    exporters, or from a poller and a test factory, gets the same id.
    """
    identity = orjson.dumps(
        [name, service_name, resource_attributes, attributes], option=orjson.OPT_SORT_KEYS
    )
    return hashlib.sha256(identity).hexdigest()[:32]


#: The lifted attributes the collector does not repeat in a span's ``attributes`` JSON when
#: their column holds them: readers that want a span's attributes whole merge them back.
UNREPEATED_ATTRIBUTES: dict[str, str] = {
    c: a for c, a in SPAN_LIFTED_ATTRIBUTES.items() if c.startswith("hc_")
}


def lifted_attributes(attributes: Any, values: Iterable[Any]) -> dict[str, Any]:
    """A span's attributes whole: its ``attributes`` (mapping or JSON text) with the values of its
    ``UNREPEATED_ATTRIBUTES`` columns (``values``, in that order) where the JSON has none."""
    out = (
        json_object(attributes)
        if attributes is None or isinstance(attributes, str | bytes)
        else dict(attributes)
    )
    for name, value in zip(UNREPEATED_ATTRIBUTES.values(), values, strict=True):
        if value is not None:
            out.setdefault(name, value)
    return out


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    return clean_text(value) if isinstance(value, str) else json_text(value)


def json_object(value: Any) -> dict[str, Any]:
    """An attributes column as a dict, whether it holds JSON text (SQLite, OTLP rows) or a mapping."""
    if value is None:
        return {}
    if isinstance(value, str | bytes):
        loaded = orjson.loads(value)
        return loaded if isinstance(loaded, dict) else {}
    return dict(value)


def metric_row_tuple(row: Mapping[str, Any], received_at_unix_nano: int | None = None) -> Row:
    """A ``metric_points`` row (column name -> value) as a tuple, with every default filled in.

    Rows come from the OTLP receiver and from components such as the queue pollers; this is the
    one place that decides what a missing column means. ``series_id`` is recomputed whenever it
    is absent, so a transform that renames a metric or edits its attributes moves it to the
    right series.
    """
    missing = [column for column in _METRIC_REQUIRED if row.get(column) is None]
    if missing:
        raise ValueError(f"metric_points row without {', '.join(missing)}")
    unknown = set(row) - set(METRIC_COLUMNS)
    if unknown:
        raise ValueError(f"metric_points has no column(s) {', '.join(sorted(unknown))}")
    attributes = json_object(row.get("attributes"))
    resource = json_object(row.get("resource_attributes"))
    service = clean_text(row.get("service_name") or str(resource.get("service.name") or "unknown_service"))
    values = dict(row)
    values["service_name"] = service
    values.setdefault("kind", "gauge")
    if not values.get("series_id"):
        values["series_id"] = series_id(str(values["name"]), service, resource, attributes)
    if values.get("queue") is None and attributes.get("queue") is not None:
        values["queue"] = str(attributes["queue"])
    for column in ("name", "unit", "scope_name", "queue"):
        text = values.get(column)
        if isinstance(text, str) and "\x00" in text:
            # PostgreSQL's TEXT cannot hold NUL; every store gets U+FFFD alike (see json_text).
            values[column] = clean_text(text)
    if values.get("received_at_unix_nano") is None:
        values["received_at_unix_nano"] = received_at_unix_nano or time.time_ns()
    values["attributes"] = _json_text(attributes)
    values["resource_attributes"] = _json_text(resource)
    values["buckets"] = _json_text(values.get("buckets"))
    return tuple(values.get(column) for column in METRIC_COLUMNS)


def metric_rows(rows: Sequence[Mapping[str, Any]]) -> list[Row]:
    now = time.time_ns()
    return [metric_row_tuple(row, now) for row in rows]


__all__ = [
    "METRIC_COLUMNS",
    "METRIC_INDEX",
    "SAMPLE_WEIGHT",
    "SPAN_COLUMNS",
    "SPAN_INDEX",
    "SPAN_KEY_COLUMNS",
    "SPAN_KEY_INDEX",
    "SPAN_LIFTED_ATTRIBUTES",
    "SPAN_RESOURCE",
    "STORED_SPAN_KEY_COLUMNS",
    "UNREPEATED_ATTRIBUTES",
    "Row",
    "WriteBatch",
    "WriteResult",
    "json_object",
    "lifted_attributes",
    "metric_row_tuple",
    "metric_rows",
    "resource_id",
    "series_id",
    "with_sample_weight",
]
