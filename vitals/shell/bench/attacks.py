"""``vitals bench attacks``: the collector's peak memory under hostile load, at the default limits.

Each attack runs against a fresh ``vitals serve`` (default limits, one token configured) so that
each peak is its own: the figure is the peak resident set of the receiver process plus the peak
of its store writer child (``VmHWM``; the sum of two peaks, so never below the true peak of the
pair). Every request is sent once and its answer counted by status; refusals are what bounds the
memory, and exporters retry them. The goal is the same for every attack: the whole collector
below 512 MiB. The attacks are the ones that once took it to gigabytes: many concurrent large
gRPC exports, unauthenticated senders of large gRPC messages (formerly read whole before the
token was checked), the same concurrent large bodies over HTTP, requests carrying megabyte-long
attribute keys (once cached by the key redactor without bound), and 512 KiB attributes of one
letter while ``/healthz`` is polled (once a quadratic scan on the event loop).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import click
import grpc

from collector.config import Limits
from vitals.kernel.units import parse_size
from vitals.shell.bench.common import (
    NO_RETENTION,
    Collector,
    Figure,
    children,
    collector_process,
    fresh_store,
    out_option,
    peak_rss_kib,
    report,
    say,
    scratch_dir,
)

#: The one token the attacked collector accepts (never a real one).
TOKEN = "vitals-bench-attack-token-0123456789"
GOAL_MIB = 512
MIB = 1 << 20
TRACES_PATH = "/v1/traces"
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
#: A method the collector does not serve.
UNKNOWN_METHOD = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
#: Seconds a client waits for one answer (a stalled collector shows as timeouts, not a hang).
CLIENT_TIMEOUT = 120.0


@dataclass
class Outcome:
    """What the senders of one attack saw."""

    sent: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    #: Slowest ``/healthz`` answer while the attack ran (attacks that poll it).
    healthz_max_ms: float | None = None

    def count(self, status: str) -> None:
        self.sent += 1
        self.statuses[status] += 1

    def summary(self) -> str:
        parts = ", ".join(f"{n} {status}" for status, n in self.statuses.most_common())
        return f"{self.sent} sent: {parts}"


# -- bodies ---------------------------------------------------------------------------------------


def _span_request(attributes: Sequence[tuple[str, str]], spans: int = 1, seed: int = 0) -> bytes:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

    now = time.time_ns()
    scope = ScopeSpans()
    for i in range(spans):
        scope.spans.append(
            Span(
                trace_id=(seed * 1_000_003 + i + 1).to_bytes(16, "big"),
                span_id=(i + 1).to_bytes(8, "big"),
                name="HL7 ADT^A01 process",
                kind=Span.SPAN_KIND_SERVER,
                start_time_unix_nano=now - 5_000_000,
                end_time_unix_nano=now,
                attributes=[KeyValue(key=k, value=AnyValue(string_value=v)) for k, v in attributes],
            )
        )
    service = KeyValue(key="service.name", value=AnyValue(string_value="attack"))
    resource = ResourceSpans(resource=Resource(attributes=[service]), scope_spans=[scope])
    return bytes(ExportTraceServiceRequest(resource_spans=[resource]).SerializeToString())


def large_request(size: int) -> bytes:
    """A valid trace export of about ``size`` bytes: spans with a 2 KiB free-text note each."""
    note = ("admit note for the evening shift, bed 4 ready; " * 44)[:2048]
    one = len(_span_request([("hc.note", note)], spans=1))
    return _span_request([("hc.note", note)], spans=max(1, size // one))


def long_key_request(index: int, key_size: int) -> bytes:
    """One span whose one attribute key is ``key_size`` characters, different in every request."""
    key = f"k{index:06d}." + "x" * max(0, key_size - 8)
    return _span_request([(key, "v")], seed=index)


def long_value_request(index: int, value_size: int) -> bytes:
    """One span with one attribute of ``value_size`` times the same letter."""
    return _span_request([("hc.note", "a" * value_size)], seed=index)


# -- senders --------------------------------------------------------------------------------------


#: Answers the attacks are meant to get; others are shown with gRPC's details.
_EXPECTED = frozenset({"RESOURCE_EXHAUSTED", "UNAUTHENTICATED", "UNIMPLEMENTED"})


async def grpc_export(port: int, body: bytes, token: str | None, method: str = EXPORT) -> str:
    """One export on its own connection; the status name (``OK`` or the gRPC code)."""
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    options = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
        try:
            await channel.unary_unary(method)(body, metadata=metadata, timeout=CLIENT_TIMEOUT)
            return "OK"
        except grpc.aio.AioRpcError as error:
            code = str(error.code().name)
            if code in _EXPECTED:
                return code
            # Anything else is worth a look: say which of the several causes it was.
            return f"{code} ({str(error.details())[:60]})"


async def http_export(session: aiohttp.ClientSession, url: str, body: bytes, token: str | None) -> str:
    """One POST; the status code, or the kind of failure when the connection broke off."""
    headers = {"Content-Type": "application/x-protobuf"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        async with session.post(url, data=body, headers=headers) as response:
            await response.read()
            return str(response.status)
    except (aiohttp.ClientError, TimeoutError) as error:
        return type(error).__name__


async def _gather(outcome: Outcome, calls: Sequence[Awaitable[str]]) -> None:
    for status in await asyncio.gather(*calls):
        outcome.count(status)


async def _in_rounds(outcome: Outcome, calls: Sequence[Callable[[], Awaitable[str]]], width: int) -> None:
    """``calls`` with at most ``width`` at once."""
    gate = asyncio.Semaphore(width)

    async def one(call: Callable[[], Awaitable[str]]) -> str:
        async with gate:
            return await call()

    await _gather(outcome, [one(call) for call in calls])


def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=CLIENT_TIMEOUT)
    )


# -- attacks --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """The sizes of one run (from the options)."""

    size: int
    concurrency: int
    unauthenticated: int
    key_requests: int
    key_size: int
    value_size: int


Attack = Callable[[Collector, Plan], Coroutine[None, None, Outcome]]


async def idle(collector: Collector, plan: Plan) -> Outcome:
    return Outcome()


async def grpc_large(collector: Collector, plan: Plan) -> Outcome:
    body, outcome = large_request(plan.size), Outcome()
    await _gather(outcome, [grpc_export(collector.grpc_port, body, TOKEN) for _ in range(plan.concurrency)])
    return outcome


async def grpc_at_limit(collector: Collector, plan: Plan) -> Outcome:
    body, outcome = large_request(Limits().max_grpc_message - 64 * 1024), Outcome()
    await _gather(outcome, [grpc_export(collector.grpc_port, body, TOKEN) for _ in range(plan.concurrency)])
    return outcome


async def grpc_unauthenticated(collector: Collector, plan: Plan, method: str = EXPORT) -> Outcome:
    body, outcome = large_request(plan.size), Outcome()

    async def sender() -> list[str]:
        return [await grpc_export(collector.grpc_port, body, None, method) for _ in range(2)]

    for statuses in await asyncio.gather(*(sender() for _ in range(plan.unauthenticated))):
        for status in statuses:
            outcome.count(status)
    return outcome


async def grpc_unknown_method(collector: Collector, plan: Plan) -> Outcome:
    return await grpc_unauthenticated(collector, plan, UNKNOWN_METHOD)


async def http_large(collector: Collector, plan: Plan) -> Outcome:
    body, outcome = large_request(plan.size), Outcome()
    url = collector.http_base + TRACES_PATH
    async with _session() as session:
        await _gather(outcome, [http_export(session, url, body, TOKEN) for _ in range(plan.concurrency)])
    return outcome


async def http_long_keys(collector: Collector, plan: Plan) -> Outcome:
    outcome, url = Outcome(), collector.http_base + TRACES_PATH
    async with _session() as session:

        def call(index: int) -> Callable[[], Awaitable[str]]:
            return lambda: http_export(session, url, long_key_request(index, plan.key_size), TOKEN)

        await _in_rounds(outcome, [call(i) for i in range(plan.key_requests)], 4)
    return outcome


async def http_long_value(collector: Collector, plan: Plan) -> Outcome:
    outcome, url = Outcome(), collector.http_base + TRACES_PATH
    bodies = [long_value_request(i, plan.value_size) for i in range(8)]
    slowest = 0.0
    done = asyncio.Event()
    async with _session() as session:

        async def poll() -> None:
            nonlocal slowest
            while not done.is_set():
                started = time.perf_counter()
                async with session.get(collector.http_base + "/healthz") as response:
                    await response.read()
                slowest = max(slowest, time.perf_counter() - started)
                await asyncio.sleep(0.05)

        poller = asyncio.create_task(poll())
        try:
            await _gather(outcome, [http_export(session, url, body, TOKEN) for body in bodies])
        finally:
            done.set()
            await poller
    outcome.healthz_max_ms = slowest * 1000
    return outcome


@dataclass(frozen=True)
class Scenario:
    name: str
    label: Callable[[Plan], str]
    attack: Attack


def _mib(size: int) -> str:
    return f"{size / MIB:g} MiB" if size >= MIB else f"{size / 1024:g} KiB"


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("idle", lambda p: "idle collector (reference)", idle),
    Scenario(
        "grpc-large",
        lambda p: f"gRPC: {p.concurrency} concurrent {_mib(p.size)} exports",
        grpc_large,
    ),
    Scenario(
        "grpc-at-limit",
        lambda p: f"gRPC: {p.concurrency} concurrent exports just under max_grpc_message",
        grpc_at_limit,
    ),
    Scenario(
        "grpc-unauthenticated",
        lambda p: f"gRPC: {p.unauthenticated} unauthenticated senders of {_mib(p.size)}",
        grpc_unauthenticated,
    ),
    Scenario(
        "grpc-unknown-method",
        lambda p: f"gRPC: {p.unauthenticated} senders of {_mib(p.size)} to a method not served",
        grpc_unknown_method,
    ),
    Scenario(
        "http-large",
        lambda p: f"HTTP: {p.concurrency} concurrent {_mib(p.size)} bodies",
        http_large,
    ),
    Scenario(
        "http-long-keys",
        lambda p: f"HTTP: {p.key_requests} requests with {_mib(p.key_size)} attribute keys",
        http_long_keys,
    ),
    Scenario(
        "http-long-value",
        lambda p: f"HTTP: 8 requests with a {_mib(p.value_size)} one-letter attribute",
        http_long_value,
    ),
)


@dataclass(frozen=True)
class Measured:
    outcome: Outcome
    receiver_kib: int
    writer_kib: int
    seconds: float

    @property
    def peak_mib(self) -> float:
        return (self.receiver_kib + self.writer_kib) / 1024


def run_scenario(scenario: Scenario, plan: Plan) -> Measured:
    """``scenario`` against a fresh collector with the default limits and one token."""
    with scratch_dir() as workdir, fresh_store("sqlite", workdir, "attacks") as url:
        settings = NO_RETENTION + f"tokens:\n  - name: bench\n    token: {TOKEN}\n"
        with collector_process(url, workdir, collector_yaml=settings) as collector:
            started = time.perf_counter()
            outcome = asyncio.run(scenario.attack(collector, plan))
            seconds = time.perf_counter() - started
            pid = collector.process.pid
            return Measured(
                outcome,
                peak_rss_kib(pid),
                sum(peak_rss_kib(child) for child in children(pid)),
                seconds,
            )


@click.command()
@click.option(
    "--size", default="6MiB", show_default=True, help="Size of each large message or body (6MiB, 512KiB)."
)
@click.option(
    "--concurrency", default=128, show_default=True, help="Concurrent senders of large messages/bodies."
)
@click.option("--unauthenticated", default=96, show_default=True, help="Unauthenticated gRPC senders.")
@click.option(
    "--key-requests", default=150, show_default=True, help="Requests carrying a long attribute key."
)
@click.option("--key-size", default="1MiB", show_default=True, help="Length of each long attribute key.")
@click.option(
    "--value-size", default="512KiB", show_default=True, help="Length of the one-letter attribute value."
)
@click.option(
    "--only",
    default="",
    metavar="NAMES",
    help=f"Run only these attacks, comma-separated ({', '.join(s.name for s in SCENARIOS)}); default all.",
)
@out_option()
def attacks(
    *,
    size: str,
    concurrency: int,
    unauthenticated: int,
    key_requests: int,
    key_size: str,
    value_size: str,
    only: str,
    out: Path | None,
) -> None:
    """The collector's peak memory (receiver + store writer) under each attack, at the default limits."""
    try:
        plan = Plan(
            parse_size(size),
            concurrency,
            unauthenticated,
            key_requests,
            parse_size(key_size),
            parse_size(value_size),
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    chosen = {name.strip() for name in only.split(",") if name.strip()}
    unknown = chosen - {s.name for s in SCENARIOS}
    if unknown:
        raise click.BadParameter(f"unknown attack(s): {', '.join(sorted(unknown))}", param_hint="--only")
    figures: list[Figure] = []
    for scenario in SCENARIOS:
        if chosen and scenario.name not in chosen:
            continue
        label = scenario.label(plan)
        say(f"{label} ...")
        measured = run_scenario(scenario, plan)
        say(f"  {measured.outcome.summary() or 'no requests'} in {measured.seconds:.1f}s")
        detail = f"receiver {measured.receiver_kib / 1024:.0f} + writer {measured.writer_kib / 1024:.0f}"
        if measured.outcome.sent:
            detail = f"{measured.outcome.summary()}; {detail}"
        figures.append(
            Figure(label, measured.peak_mib, "MiB", detail=detail, reference=f"goal < {GOAL_MIB} MiB")
        )
        if measured.outcome.healthz_max_ms is not None:
            figures.append(
                Figure(
                    f"{label}: slowest /healthz",
                    measured.outcome.healthz_max_ms,
                    "ms",
                    reference="answered while the attack runs",
                )
            )
    report(figures, out, {"size": plan.size, "concurrency": concurrency, "only": sorted(chosen)})


__all__ = ["SCENARIOS", "TOKEN", "Outcome", "attacks", "large_request", "long_key_request"]
