from __future__ import annotations

from pathlib import Path

import pytest

from collector.queues.config import (
    NatsPoller,
    RabbitMQPoller,
    RedisPoller,
    SqlPoller,
    load_pollers,
)
from vitals.kernel.configfile import ConfigError

FULL = """\
receivers: {http: 4318}   # another engineer's section: left alone
pollers:
  - name: rabbit
    type: rabbitmq
    management_url: {env: RABBIT_URL}
    interval: 15s
    system: integration-engine
    queues: [charges-outbound, "adt-*"]
    rename: {charges.out: charges-outbound}
    stuck_after: 5m
  - name: streams
    type: redis
    streams: ["queue:*"]
  - name: js
    type: nats
    servers: [nats://127.0.0.1:4222, {file: nats-url}]
  - name: mirth
    type: sql
    url: sqlite:///mirth.db
    query: SELECT 'q' AS queue, 1 AS depth
    timezone: America/Chicago
  - type: trace-latency
    interval: 30s
    percentiles: [99, 50]
  - type: otlp
    stuck_after: 15m
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "collector.yaml").write_text(text)
    return tmp_path


def test_every_poller_type_loads_with_its_own_interval(tmp_path: Path) -> None:
    (tmp_path / "nats-url").write_text("nats://user:pw@10.0.0.2:4222\n")
    config = load_pollers(write(tmp_path, FULL), {"RABBIT_URL": "http://guest:s3cret@127.0.0.1:15672"})
    rabbit, redis, nats, sql = config.brokers
    assert isinstance(rabbit, RabbitMQPoller) and rabbit.interval == 15 and rabbit.stuck_after == 300
    assert rabbit.management_url is not None
    assert rabbit.management_url.reveal() == "http://guest:s3cret@127.0.0.1:15672"
    assert "s3cret" not in repr(config) and "pw@" not in repr(config)
    assert rabbit.rename == {"charges.out": "charges-outbound"}
    assert isinstance(redis, RedisPoller) and redis.interval == 30 and redis.streams == ["queue:*"]
    assert redis.url.reveal() == "redis://127.0.0.1:6379/0"
    assert isinstance(nats, NatsPoller) and nats.consumers == ["*"]
    assert [s.reveal() for s in nats.servers] == ["nats://127.0.0.1:4222", "nats://user:pw@10.0.0.2:4222"]
    assert isinstance(sql, SqlPoller) and sql.timezone == "America/Chicago"
    assert config.trace_latency.interval == 30 and config.trace_latency.percentiles == [50, 99]
    assert config.otlp.stuck_after == 900


def test_no_file_or_no_section_means_no_broker_pollers_but_the_derived_jobs_run(tmp_path: Path) -> None:
    assert load_pollers(tmp_path).brokers == ()
    config = load_pollers(write(tmp_path, "receivers: {}\n"))
    assert config.brokers == () and config.trace_latency.enabled and config.otlp.enabled


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "pollers:\n  - name: r\n    type: redis\n    interval: soon\n",
            "collector.yaml:4: pollers[0].interval: expected a duration",
        ),
        (
            "pollers:\n  - name: r\n    type: redis\n    stremas: [x]\n",
            "collector.yaml:4: pollers[0].stremas: unknown field",
        ),
        (
            "pollers:\n  - name: a\n    type: rabbitmq\n    amqp_url: amqp://localhost\n",
            "collector.yaml:2: pollers[0]: without management_url the queues must be listed by exact name",
        ),
        (
            "pollers:\n  - name: a\n    type: sql\n    url: sqlite://\n",
            "collector.yaml:2: pollers[0].query: Field required",
        ),
        (
            "pollers:\n  - name: a\n    type: redis\n  - name: a\n    type: nats\n",
            "collector.yaml:4: pollers[1].name: duplicate poller name 'a'",
        ),
        (
            "pollers:\n  - name: a\n    type: sql\n    url: {env: NO_SUCH_VAR_X}\n    query: select 1\n",
            "collector.yaml:4: pollers[0].url: environment variable NO_SUCH_VAR_X is not set",
        ),
        (
            "pollers:\n  - name: a\n    type: rabbitmq\n    queues: [q]\n"
            "    amqp_url: amqp://u:${RABBIT_PASSWORD}@host\n",
            "collector.yaml:5: pollers[0].amqp_url: ${RABBIT_PASSWORD} is no longer expanded: keep the whole "
            "URL in a secret, e.g. amqp_url: {env: VARIABLE_HOLDING_THE_URL}",
        ),
        (
            "pollers:\n  - name: a\n    type: nats\n    servers: [nats://a:4222, {file: nope}]\n",
            "collector.yaml:4: pollers[0].servers[1]: file ",
        ),
        ("pollers:\n  - name: a\n    type: kafka\n", "collector.yaml:2: pollers[0]: Input tag 'kafka'"),
        ("pollers: {a: 1}\n", "collector.yaml:1: pollers: expected a list of pollers"),
        (
            "pollers:\n  - name: a\n    type: sql\n    url: sqlite://\n    query: x\n"
            "    timezone: Mars/Base\n",
            "collector.yaml:6: pollers[0].timezone: unknown time zone",
        ),
    ],
)
def test_errors_name_file_line_and_field(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_pollers(write(tmp_path, text), {})
    message = str(info.value)
    assert message.startswith(str(tmp_path / "collector.yaml")[: -len("collector.yaml")])
    assert expected in message, message
