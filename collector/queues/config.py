"""The ``pollers:`` section of ``collector.yaml``: which brokers to watch and how often.

The collector keeps the section as raw data; this module validates it (errors name the file,
line and field) because it is the only reader. Broker pollers each run on their own interval; the
``trace-latency`` and ``otlp`` entries tune the two jobs that run even without configuration.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from vitals.kernel.configfile import ConfigError, LoadedYaml, load_yaml, validate
from vitals.kernel.secrets import Secret, sources
from vitals.kernel.units import Duration

COLLECTOR_FILE = "collector.yaml"

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _no_interpolation(value: Any, info: ValidationInfo) -> Any:
    """``${NAME}`` inside a URL was the old way to keep a password out of the file: say the new one."""
    found = _ENV_REF.search(value) if isinstance(value, str) else None
    if found is not None:
        name = info.field_name or "url"
        raise ValueError(
            f"${{{found.group(1)}}} is no longer expanded: keep the whole URL in a secret, e.g. "
            f"{name}: {{env: VARIABLE_HOLDING_THE_URL}} or {name}: {{file: PATH}}"
        )
    return value


#: A broker URL: it may carry a password, so it is a secret (``{env: ...}``, ``{file: ...}`` or the URL).
BrokerUrl = Annotated[Secret, BeforeValidator(_no_interpolation)]
PollerName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BrokerPoller(_Strict):
    """Fields every broker poller has."""

    #: Unique name (letters, digits, ``.``, ``_``, ``-``), shown in errors, in ``queue.poller_up``
    #: and in the poll error counter.
    name: PollerName
    #: How often this poller samples.
    interval: Duration = 30.0
    #: ``false`` keeps the entry but does not run it.
    enabled: bool = True
    #: ``hc.system`` attribute on this poller's samples (the system the queues belong to).
    system: str | None = None
    #: How long growth without draining lasts before ``queue.stuck`` is 1.
    stuck_after: Duration = 600.0
    #: Connect and request timeout of one poll.
    timeout: Duration = 5.0
    #: Broker queue name -> the name Vitals reports (``queue`` attribute).
    rename: dict[str, str] = Field(default_factory=dict)
    #: Globs of queue or stream names to skip.
    exclude: list[str] = Field(default_factory=list)

    @field_validator("interval", "timeout")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be longer than 0s")
        return value


class RabbitMQPoller(BrokerPoller):
    #: RabbitMQ, through its management HTTP API (or AMQP).
    type: Literal["rabbitmq"]
    #: Management HTTP API, e.g. http://guest:guest@127.0.0.1:15672 (preferred: all metrics).
    management_url: BrokerUrl | None = None
    #: AMQP URL, used when ``management_url`` is not set: depth and consumers only.
    amqp_url: BrokerUrl | None = None
    #: Virtual host.
    vhost: str = "/"
    #: Exact names or globs (``charges-*``); globs need the management API.
    queues: list[str] = Field(default_factory=lambda: ["*"])
    exclude: list[str] = Field(default_factory=lambda: ["amq.gen-*"])
    #: How the age of the oldest message is found: the head message's timestamp property, a peek
    #: (fetch and requeue the head), or not at all.
    oldest_age: Literal["head_timestamp", "peek", "off"] = "head_timestamp"

    @model_validator(mode="after")
    def _endpoints(self) -> RabbitMQPoller:
        if not self.management_url and not self.amqp_url:
            raise ValueError("set management_url (HTTP API, port 15672) or amqp_url (AMQP, port 5672)")
        if not self.management_url and any(is_glob(q) for q in self.queues):
            raise ValueError(
                "without management_url the queues must be listed by exact name "
                "(AMQP cannot list queues); globs such as '*' need the management API"
            )
        return self


class RedisPoller(BrokerPoller):
    #: Redis Streams consumer groups.
    type: Literal["redis"]
    #: Redis URL (``rediss://`` for TLS).
    url: BrokerUrl = Field(default_factory=lambda: Secret.inline("redis://127.0.0.1:6379/0"))
    #: Stream keys, exact or globs (found with SCAN ... TYPE stream).
    streams: list[str] = Field(default_factory=lambda: ["*"])
    #: A consumer counts in ``queue.consumers`` when it was active this recently.
    active_within: Duration = 300.0


class NatsPoller(BrokerPoller):
    #: NATS JetStream consumers.
    type: Literal["nats"]
    #: NATS URLs (credentials in the URL).
    servers: list[BrokerUrl] = Field(default_factory=lambda: [Secret.inline("nats://127.0.0.1:4222")])
    #: Stream names, exact or globs.
    streams: list[str] = Field(default_factory=lambda: ["*"])
    #: Durable consumer names, exact or globs.
    consumers: list[str] = Field(default_factory=lambda: ["*"])

    @field_validator("servers")
    @classmethod
    def _some_server(cls, value: list[Secret]) -> list[Secret]:
        if not value:
            raise ValueError("list at least one server, e.g. nats://127.0.0.1:4222")
        return value


class SqlPoller(BrokerPoller):
    #: Any SQL table an engine keeps its queue in (Mirth Connect and kin), through a query.
    type: Literal["sql"]
    #: SQLAlchemy URL of the engine's message store (postgresql://, mysql+pymysql://, sqlite:///).
    url: BrokerUrl
    #: Returns one row per queue: ``queue``, ``depth`` and optionally ``oldest`` (timestamp),
    #: ``oldest_age_seconds``, ``unacked``, ``consumers``.
    query: str
    #: Time zone of naive ``oldest`` timestamps.
    timezone: str = "UTC"
    #: Unit of a numeric ``oldest`` (epoch): s, ms, us or ns.
    epoch_unit: Literal["s", "ms", "us", "ns"] = "s"

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as UTC)") from exc
        return value

    @field_validator("query")
    @classmethod
    def _select(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("write the SQL that returns queue, depth and oldest per queue")
        return value


class TraceLatencyJob(_Strict):
    #: Tunes the job that derives ``queue.latency_seconds`` from traces (it runs without this entry).
    type: Literal["trace-latency"]
    #: The job's name in logs and errors.
    name: PollerName = "trace-latency"
    #: ``false`` stops the job.
    enabled: bool = True
    #: How often the job reads new spans.
    interval: Duration = 60.0
    #: A minute is written once ingestion is this far past its end (late pairs are dropped).
    grace: Duration = 120.0
    #: A producer waits this long for its consumer (and a consumer for its producer).
    max_wait: Duration = 3600.0
    #: On start, how far back to read spans.
    lookback: Duration = 900.0
    #: Percentiles written per queue and minute (attribute ``quantile``: 0.5, 0.95, 0.99).
    percentiles: list[float] = Field(default_factory=lambda: [50.0, 95.0, 99.0])
    #: Spans read per step.
    batch_size: int = Field(default=5000, ge=100, le=100_000)

    @field_validator("percentiles")
    @classmethod
    def _range(cls, value: list[float]) -> list[float]:
        if not value:
            raise ValueError("list at least one percentile, e.g. [50, 95, 99]")
        for item in value:
            if not 0 <= item <= 100:
                raise ValueError(f"percentiles are between 0 and 100, got {item}")
        return sorted(set(value))


class OtlpStuckJob(_Strict):
    """Stuck detection for queue gauges that engines push over OTLP (no poller sees them)."""

    #: Tunes stuck detection for gauges pushed over OTLP (it runs without this entry).
    type: Literal["otlp"]
    #: The job's name in logs and errors.
    name: PollerName = "otlp"
    #: ``false`` stops the job.
    enabled: bool = True
    #: How often the job reads the stored queue gauges.
    interval: Duration = 30.0
    #: How long growth without draining lasts before ``queue.stuck`` is 1.
    stuck_after: Duration = 600.0
    #: On start, how far back to read the stored gauges (so a restart rebuilds its history).
    lookback: Duration = 900.0


AnyPoller = Annotated[
    RabbitMQPoller | RedisPoller | NatsPoller | SqlPoller | TraceLatencyJob | OtlpStuckJob,
    Field(discriminator="type"),
]
BrokerPollerConfig = RabbitMQPoller | RedisPoller | NatsPoller | SqlPoller


@dataclass(frozen=True)
class PollersConfig:
    """The validated ``pollers:`` section."""

    brokers: tuple[BrokerPollerConfig, ...] = ()
    trace_latency: TraceLatencyJob = field(default_factory=lambda: TraceLatencyJob(type="trace-latency"))
    otlp: OtlpStuckJob = field(default_factory=lambda: OtlpStuckJob(type="otlp"))
    file: str | None = None

    def enabled_brokers(self) -> tuple[BrokerPollerConfig, ...]:
        return tuple(p for p in self.brokers if p.enabled)


def is_glob(pattern: str) -> bool:
    return any(ch in pattern for ch in "*?[")


def parse_pollers(loaded: LoadedYaml, environ: Mapping[str, str] | None = None) -> PollersConfig:
    """Validate the ``pollers`` section of an already loaded ``collector.yaml``, reading its
    secrets (from ``environ``, default the process environment, and files beside the file)."""
    data = loaded.data
    if data is None:
        return PollersConfig(file=loaded.file)
    if not isinstance(data, dict):
        raise ConfigError.single(loaded.file, loaded.line_of(()), "", "expected a mapping of sections")
    raw: Any = data.get("pollers")
    if raw is None:
        return PollersConfig(file=loaded.file)
    if not isinstance(raw, list):
        raise ConfigError.single(
            loaded.file, loaded.line_of(("pollers",)), "pollers", "expected a list of pollers"
        )
    found = sources(Path(loaded.file).parent, environ)
    items: list[Any] = validate(list[AnyPoller], loaded, raw, ("pollers",), context=found.context())
    seen: dict[str, int] = {}
    singles: dict[str, int] = {}
    brokers: list[BrokerPollerConfig] = []
    trace = TraceLatencyJob(type="trace-latency")
    otlp = OtlpStuckJob(type="otlp")
    for index, item in enumerate(items):
        where = ("pollers", index)
        if item.name in seen:
            raise ConfigError.single(
                loaded.file,
                loaded.line_of((*where, "name")),
                f"pollers[{index}].name",
                f"duplicate poller name {item.name!r} (first used by pollers[{seen[item.name]}])",
            )
        seen[item.name] = index
        if isinstance(item, TraceLatencyJob | OtlpStuckJob):
            if item.type in singles:
                raise ConfigError.single(
                    loaded.file,
                    loaded.line_of((*where, "type")),
                    f"pollers[{index}].type",
                    f"only one {item.type!r} entry is allowed (first at pollers[{singles[item.type]}])",
                )
            singles[item.type] = index
            if isinstance(item, TraceLatencyJob):
                trace = item
            else:
                otlp = item
        else:
            brokers.append(item)
    return PollersConfig(tuple(brokers), trace, otlp, loaded.file)


def load_pollers(config_dir: str | Path, environ: Mapping[str, str] | None = None) -> PollersConfig:
    """The pollers of ``<config_dir>/collector.yaml``; none when the file or section is absent."""
    path = Path(config_dir) / COLLECTOR_FILE
    if not path.exists():
        return PollersConfig()
    return parse_pollers(load_yaml(path), environ)


__all__ = [
    "COLLECTOR_FILE",
    "BrokerPoller",
    "BrokerPollerConfig",
    "BrokerUrl",
    "NatsPoller",
    "OtlpStuckJob",
    "PollersConfig",
    "RabbitMQPoller",
    "RedisPoller",
    "SqlPoller",
    "TraceLatencyJob",
    "is_glob",
    "load_pollers",
    "parse_pollers",
]
