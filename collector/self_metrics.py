"""The collector's own Prometheus metrics (served on ``/metrics``).

Counted per request or per commit, never per span, so they cost nothing on the hot path.
Exporters ignore ``partial_success``; ``vitals_collector_rejected_total`` is where a sender's
malformed spans show up.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from collector.rows import WriteResult

_PREFIX = "vitals_collector"


class CollectorMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            f"{_PREFIX}_requests",
            "Export requests answered, by transport, signal and status (HTTP code or gRPC status name).",
            ["transport", "signal", "status"],
            registry=registry,
        )
        self.received = Counter(
            f"{_PREFIX}_received",
            "Spans or metric data points received in decodable requests.",
            ["signal"],
            registry=registry,
        )
        self.accepted = Counter(
            f"{_PREFIX}_accepted",
            "Spans or data points committed to the store (new and duplicate); spans left out by "
            "sampling count too (the weight of a span kept in their place stands for them).",
            ["signal"],
            registry=registry,
        )
        self.rejected = Counter(
            f"{_PREFIX}_rejected",
            "Spans or data points refused, by reason (malformed ids, missing times, ...).",
            ["signal", "reason"],
            registry=registry,
        )
        self.duplicate = Counter(
            f"{_PREFIX}_duplicate",
            "Spans or data points already stored (an exporter retry); stored once.",
            ["signal"],
            registry=registry,
        )
        self.redacted = Counter(
            f"{_PREFIX}_redacted",
            "Redactions before storage, by rule (key.<kind>, value.<kind>, deny_keys, hash_key).",
            ["rule"],
            registry=registry,
        )
        self.sampled = Counter(
            f"{_PREFIX}_sampled_out",
            "Healthy spans left out by sampling (collector.yaml sampling), by service; the spans kept "
            "in their place carry their weight, so counts from the store stay exact.",
            ["service"],
            registry=registry,
        )
        self.unauthenticated = Counter(
            f"{_PREFIX}_unauthenticated",
            "Requests refused for a missing or unknown bearer token.",
            ["transport"],
            registry=registry,
        )
        self.throttled = Counter(
            f"{_PREFIX}_throttled",
            "Requests refused with a retryable status because the writer was saturated.",
            ["transport"],
            registry=registry,
        )
        self.commit_seconds = Histogram(
            f"{_PREFIX}_commit_seconds",
            "Time to write and commit one group-commit transaction.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry,
        )
        self.commit_rows = Histogram(
            f"{_PREFIX}_commit_rows",
            "Rows written per group-commit transaction.",
            buckets=(1, 10, 100, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000),
            registry=registry,
        )
        self.queue_depth = Gauge(
            f"{_PREFIX}_writer_queue_depth",
            "Requests waiting for the writer's next transaction.",
            registry=registry,
        )
        self.queued_rows = Gauge(
            f"{_PREFIX}_writer_queued_rows",
            "Rows waiting for the writer's next transaction.",
            registry=registry,
        )
        self.in_flight_bytes = Gauge(
            f"{_PREFIX}_in_flight_bytes",
            "Request bytes accepted for processing and not yet committed (capped by limits.max_in_flight).",
            registry=registry,
        )

    def watch_writer(
        self,
        queue_depth: Callable[[], float],
        queued_rows: Callable[[], float],
        in_flight: Callable[[], float],
    ) -> None:
        self.queue_depth.set_function(queue_depth)
        self.queued_rows.set_function(queued_rows)
        self.in_flight_bytes.set_function(in_flight)

    def committed(self, result: WriteResult, seconds: float, rows: int) -> None:
        self.commit_seconds.observe(seconds)
        self.commit_rows.observe(rows)
        if result.spans_duplicate:
            self.duplicate.labels("traces").inc(result.spans_duplicate)
        if result.points_duplicate:
            self.duplicate.labels("metrics").inc(result.points_duplicate)

    def sampled_out(self, counts: dict[str, int]) -> None:
        for service, n in counts.items():
            self.sampled.labels(service).inc(n)

    def redactions(self, counts: dict[str, int]) -> None:
        for rule, n in counts.items():
            self.redacted.labels(rule).inc(n)


__all__ = ["CollectorMetrics"]
