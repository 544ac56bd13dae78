"""``vitals serve`` integration: one scheduler job per poller, the OTLP transform, the derived jobs.

``install(ctx)`` is called by ``vitals serve`` (see ``vitals.kernel.runtime``). Everything is written
through ``ctx.write_metric_points`` (the collector's single durable writer).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from collector.queues.config import BrokerPollerConfig, PollersConfig, load_pollers
from collector.queues.poller import Poller, PollResult
from collector.queues.pushed import PushedStuckJob, SqlPointReader
from collector.queues.redacted import RedactingWriter, queue_redactor
from collector.queues.source import QueueSource, Snapshot
from collector.queues.trace_latency import SqlSpanReader, TraceLatency
from collector.queues.transform import QueueMetricTransform
from vitals.kernel.runtime import MetricPointWriter, ServiceContext

log = logging.getLogger(__name__)


def make_source(config: BrokerPollerConfig) -> QueueSource:
    """The real source for one configured poller (imports the broker client lazily)."""
    if config.type == "rabbitmq":
        from collector.queues.rabbitmq import rabbitmq_source

        return rabbitmq_source(config)
    if config.type == "redis":
        from collector.queues.redis_streams import RedisStreamsSource

        return RedisStreamsSource(config)
    if config.type == "nats":
        from collector.queues.jetstream import JetStreamSource

        return JetStreamSource(config)
    from collector.queues.sqlstore import SqlStoreSource

    return SqlStoreSource(config)


class LazySource:
    """Builds the real source on first use, so a bad driver or URL is a poll error, not a crash."""

    def __init__(
        self, config: BrokerPollerConfig, factory: Callable[[BrokerPollerConfig], QueueSource]
    ) -> None:
        self.config = config
        self.factory = factory
        self.broker: str = config.type  # the poller types are named after their brokers
        self._inner: QueueSource | None = None

    def fetch(self) -> Snapshot:
        if self._inner is None:
            self._inner = self.factory(self.config)
        return self._inner.fetch()

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()


def build_pollers(
    config: PollersConfig,
    *,
    on_error: Callable[[str], None] | None = None,
    factory: Callable[[BrokerPollerConfig], QueueSource] = make_source,
    clock: Callable[[], float] | None = None,
    redact: Callable[[str], str] | None = None,
) -> list[Poller]:
    pollers = []
    for item in config.enabled_brokers():
        kwargs: dict[str, Any] = {"on_error": on_error, "redact": redact}
        if clock is not None:
            kwargs["clock"] = clock
        pollers.append(Poller(item, LazySource(item, factory), **kwargs))
    return pollers


class PollJob:
    """What the scheduler runs for one poller: poll, then write the rows."""

    def __init__(self, poller: Poller, write: MetricPointWriter) -> None:
        self.poller = poller
        self.write = write
        self.last: PollResult | None = None

    def run(self) -> PollResult:
        result = self.poller.poll()
        self.last = result
        if result.rows:
            self.write(list(result.rows))
        return result


def poll_error_counter(registry: Any) -> Callable[[str], None]:
    from prometheus_client import Counter

    counter = Counter(
        "collector_poll_errors",
        "Queue broker polls that failed, by poller (Vitals metric collector.poll_errors).",
        ["poller"],
        registry=registry,
    )
    return lambda poller: counter.labels(poller=poller).inc()


def install(ctx: ServiceContext, config: PollersConfig | None = None) -> list[PollJob]:
    """Register the pollers, the OTLP queue-metric transform and the derived-metric jobs.

    Everything they write passes the collector's redaction policy first (``RedactingWriter``).
    """
    config = config if config is not None else load_pollers(ctx.settings.config_dir)
    ctx.metric_transforms.append(QueueMetricTransform())
    on_error = poll_error_counter(ctx.registry)
    write = RedactingWriter(ctx.write_metric_points, queue_redactor(ctx.settings.config_dir))
    now = datetime.now(UTC)
    jobs = []
    for poller in build_pollers(config, on_error=on_error, redact=write.text):
        job = PollJob(poller, write)
        ctx.scheduler.add_job(
            job.run,
            "interval",
            seconds=poller.config.interval,
            id=f"queues.poll.{poller.name}",
            name=f"queue poller {poller.name}",
            max_instances=1,
            coalesce=True,
            next_run_time=now,
        )
        jobs.append(job)
    parts = [f"{len(jobs)} poller(s)"] + [f"{j.poller.name}={j.poller.source.broker}" for j in jobs]
    if config.trace_latency.enabled:
        latency = TraceLatency(config.trace_latency, SqlSpanReader(ctx.engine), write)
        ctx.scheduler.add_job(
            latency.run,
            "interval",
            seconds=config.trace_latency.interval,
            id="queues.trace_latency",
            name="queue latency from traces",
            max_instances=1,
            coalesce=True,
        )
        ctx.on_stop.append(latency.drain)
        parts.append("trace latency")
    if config.otlp.enabled:
        pushed = PushedStuckJob(config.otlp, SqlPointReader(ctx.engine), write)
        ctx.scheduler.add_job(
            pushed.run,
            "interval",
            seconds=config.otlp.interval,
            id="queues.otlp_stuck",
            name="stuck detection for pushed queue gauges",
            max_instances=1,
            coalesce=True,
        )
        ctx.on_stop.append(pushed.drain)
        parts.append("stuck detection for pushed gauges")
    ctx.status["queues"] = ", ".join(parts)
    log.info("queues: %s", ctx.status["queues"])
    return jobs


__all__ = ["LazySource", "PollJob", "build_pollers", "install", "make_source", "poll_error_counter"]
