"""RabbitMQ: the management HTTP API where it is enabled, AMQP otherwise.

Oldest-message age, three ways (``oldest_age`` in the config):

- ``head_timestamp`` (default): the API's ``head_message_timestamp``, the ``timestamp`` property of
  the message at the head of the queue (unacknowledged ones included). Nothing is consumed, but it is
  only known for classic queues, when the publisher sets the ``timestamp`` property and the head is
  paged in.
- ``peek``: when the head timestamp is unknown, fetch the head message and put it back (API
  ``get`` with ``ack_requeue_true``; over AMQP ``basic.get`` + ``basic.nack(requeue)``). Works for
  quorum queues too, but the message comes back marked ``redelivered`` and a quorum queue counts a
  delivery (a ``delivery-limit`` can dead-letter it), and only ready messages are seen.
- ``off``: no age.
"""

from __future__ import annotations

import base64
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import orjson

from collector.queues.config import RabbitMQPoller
from collector.queues.samples import QueueReading
from collector.queues.source import NameFilter, Snapshot


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    return None


def _rate(stats: Mapping[str, Any], key: str) -> float | None:
    details = stats.get(f"{key}_details")
    return _number(details.get("rate")) if isinstance(details, Mapping) else None


def reading_from_api(queue: Mapping[str, Any], vhost_label: bool = False) -> QueueReading:
    """A reading from one entry of ``GET /api/queues/{vhost}`` (pure)."""
    stats = queue.get("message_stats")
    stats = stats if isinstance(stats, Mapping) else {}
    labels: tuple[tuple[str, str], ...] = (("vhost", str(queue.get("vhost", "/"))),) if vhost_label else ()
    head = _number(queue.get("head_message_timestamp"))
    # Counters appear once their first event happened: within present stats, absent means zero.
    # No stats at all (a queue that never saw traffic, or statistics disabled) means unknown.
    published = _number(stats.get("publish", 0)) if stats else None
    delivered = _number(stats.get("deliver_get", 0)) if stats else None
    return QueueReading(
        queue=str(queue["name"]),
        labels=labels,
        depth=_number(queue.get("messages_ready")),
        unacked=_number(queue.get("messages_unacknowledged")),
        consumers=_number(queue.get("consumers")),
        published_total=published,
        delivered_total=delivered,
        publish_rate=_rate(stats, "publish"),
        deliver_rate=_rate(stats, "deliver_get"),
        oldest_timestamp_s=head,
    )


def head_timestamp_from_get(messages: Sequence[Mapping[str, Any]]) -> float | None:
    """The ``timestamp`` property of the first message of an API ``get`` answer (pure)."""
    if not messages:
        return None
    properties = messages[0].get("properties")
    if isinstance(properties, Mapping):
        return _number(properties.get("timestamp"))
    return None


_COLUMNS = ",".join(
    (
        "name",
        "vhost",
        "messages",
        "messages_ready",
        "messages_unacknowledged",
        "consumers",
        "head_message_timestamp",
        "message_stats.publish",
        "message_stats.publish_details.rate",
        "message_stats.deliver_get",
        "message_stats.deliver_get_details.rate",
    )
)


class ManagementApi:
    """The few calls of the RabbitMQ management HTTP API the poller needs (stdlib HTTP)."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in {"http", "https"}:
            raise ValueError(f"management_url must be http:// or https://, got {parts.scheme!r}")
        user = urllib.parse.unquote(parts.username or "guest")
        password = urllib.parse.unquote(parts.password or "guest")
        netloc = parts.hostname or "127.0.0.1"
        if parts.port:
            netloc = f"{netloc}:{parts.port}"
        self.base = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self._auth = f"Basic {token}"
        self.timeout = timeout

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = orjson.dumps(body) if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Authorization", self._auth)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return orjson.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:200].decode(errors="replace")
            raise RuntimeError(f"RabbitMQ management API {method} {path}: HTTP {exc.code} {detail}") from exc

    def queues(self, vhost: str) -> list[dict[str, Any]]:
        # Only the fields we read: a broker with thousands of queues answers far faster.
        answer = self._call("GET", f"/api/queues/{urllib.parse.quote(vhost, safe='')}?columns={_COLUMNS}")
        if not isinstance(answer, list):
            raise RuntimeError("RabbitMQ management API: /api/queues did not return a list")
        return answer

    def peek_head(self, vhost: str, queue: str) -> list[dict[str, Any]]:
        path = f"/api/queues/{urllib.parse.quote(vhost, safe='')}/{urllib.parse.quote(queue, safe='')}/get"
        body = {"count": 1, "ackmode": "ack_requeue_true", "encoding": "auto", "truncate": 1}
        answer = self._call("POST", path, body)
        return answer if isinstance(answer, list) else []


class RabbitManagementSource:
    """Every metric, for every matching queue of one vhost, through the management API."""

    broker = "rabbitmq"

    def __init__(self, config: RabbitMQPoller) -> None:
        assert config.management_url
        self.config = config
        self.api = ManagementApi(config.management_url.reveal(), config.timeout)
        self.filter = NameFilter(tuple(config.queues), tuple(config.exclude))

    def fetch(self) -> Snapshot:
        readings = []
        for entry in self.api.queues(self.config.vhost):
            name = str(entry.get("name", ""))
            if not self.filter.matches(name):
                continue
            reading = reading_from_api(entry)
            if (
                reading.oldest_timestamp_s is None
                and self.config.oldest_age == "peek"
                and (reading.depth or 0) > 0
            ):
                stamp = head_timestamp_from_get(self.api.peek_head(self.config.vhost, name))
                if stamp is not None:
                    reading = _with_oldest(reading, stamp)
            if self.config.oldest_age == "off":
                reading = _with_oldest(reading, None)
            readings.append(reading)
        return Snapshot(tuple(readings), self.filter.missing(r.queue for r in readings))

    def close(self) -> None:
        return None


def _with_oldest(reading: QueueReading, stamp: float | None) -> QueueReading:
    return replace(reading, oldest_timestamp_s=stamp)


class RabbitAmqpSource:
    """Depth (ready) and consumers of named queues over AMQP, with a passive ``queue.declare``.

    AMQP cannot list queues or see unacknowledged counts and rates; enable the management plugin
    for those.
    """

    broker = "rabbitmq"

    def __init__(self, config: RabbitMQPoller) -> None:
        assert config.amqp_url
        self.config = config
        self.filter = NameFilter(tuple(config.queues), tuple(config.exclude))

    def _parameters(self) -> Any:
        import pika

        assert self.config.amqp_url
        params = pika.URLParameters(self.config.amqp_url.reveal())
        params.socket_timeout = self.config.timeout
        params.stack_timeout = self.config.timeout
        params.blocked_connection_timeout = self.config.timeout
        params.connection_attempts = 1
        params.retry_delay = 0
        return params

    def fetch(self) -> Snapshot:
        import pika
        from pika.exceptions import ChannelClosedByBroker

        readings: list[QueueReading] = []
        missing: list[str] = []
        connection = pika.BlockingConnection(self._parameters())
        try:
            channel = connection.channel()
            for name in self.filter.exact:
                if not self.filter.matches(name):
                    continue
                try:
                    frame = channel.queue_declare(queue=name, passive=True)
                except ChannelClosedByBroker as exc:
                    if exc.reply_code != 404:
                        raise
                    missing.append(name)
                    channel = connection.channel()
                    continue
                depth = float(frame.method.message_count)
                stamp = None
                if self.config.oldest_age == "peek" and depth > 0:
                    stamp = self._peek(channel, name)
                readings.append(
                    QueueReading(
                        queue=name,
                        depth=depth,
                        consumers=float(frame.method.consumer_count),
                        oldest_timestamp_s=stamp,
                    )
                )
        finally:
            if connection.is_open:
                connection.close()
        return Snapshot(tuple(readings), tuple(missing))

    @staticmethod
    def _peek(channel: Any, queue: str) -> float | None:
        method, properties, _body = channel.basic_get(queue=queue, auto_ack=False)
        if method is None:
            return None
        channel.basic_nack(delivery_tag=method.delivery_tag, requeue=True)
        stamp = getattr(properties, "timestamp", None)
        return float(stamp) if stamp is not None else None

    def close(self) -> None:
        return None


def rabbitmq_source(config: RabbitMQPoller) -> RabbitManagementSource | RabbitAmqpSource:
    if config.management_url:
        return RabbitManagementSource(config)
    return RabbitAmqpSource(config)


__all__ = [
    "ManagementApi",
    "RabbitAmqpSource",
    "RabbitManagementSource",
    "head_timestamp_from_get",
    "rabbitmq_source",
    "reading_from_api",
]
