"""``vitals bench simulate``: how long back-filling the synthetic estate into a collector takes.

Prints the end-to-end figure (generator -> OpenTelemetry SDK -> OTLP exporter -> collector,
acknowledged) and, on the same history, two references that show where the time goes: the pure
generator alone, and generator + SDK + OTLP protobuf encoding without the network.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import click
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from simulator.emitter import OtelEmitter
from simulator.model import SpanSpec
from simulator.otlp import CollectorUnavailable, Endpoint, otlp_emitter, preflight
from simulator.runner import RunPlan, run, utc_now
from simulator.scenario import load_scenario
from simulator.supervisor import free_port, http_ok, wait_until


class _EncodeOnly(SpanExporter):
    """Encodes every batch to OTLP protobuf and drops it: the exporter's CPU cost without the network."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        encode_spans(spans).SerializeToString()
        return SpanExportResult.SUCCESS


@contextmanager
def _collector(db: str | None) -> Iterator[tuple[str, str]]:
    """A fresh ``vitals serve`` on free ports (SQLite in a temporary directory unless ``db``)."""
    with tempfile.TemporaryDirectory(prefix="vitals-bench-") as tmp:
        http_port, grpc_port = free_port("127.0.0.1"), free_port("127.0.0.1")
        url = db or f"sqlite:///{Path(tmp) / 'bench.db'}"
        log = Path(tmp) / "serve.log"
        with log.open("wb") as out:
            process = subprocess.Popen(  # our own interpreter and arguments
                [
                    sys.executable,
                    "-m",
                    "vitals",
                    "serve",
                    "--db",
                    url,
                    "--components",
                    "none",
                    "--http-port",
                    str(http_port),
                    "--grpc-port",
                    str(grpc_port),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=tmp,
                env={**os.environ, "VITALS_HASH_SECRET": os.environ.get("VITALS_HASH_SECRET", "bench")},
            )
        base = f"http://127.0.0.1:{http_port}"
        try:
            if not wait_until(lambda: http_ok(f"{base}/readyz"), 90, lambda: process.poll() is None):
                raise click.ClickException(f"the collector did not start:\n{log.read_text()[-2000:]}")
            click.echo(f"collector: vitals serve on {base}, store {url}")
            yield base, f"http://127.0.0.1:{grpc_port}"
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()


def _line(label: str, spans: int, seconds: float, extra: str = "") -> None:
    rate = spans / seconds if seconds else 0.0
    click.echo(f"{label + ':':<30}{spans:>9,} spans in {seconds:6.1f}s  {rate:>9,.0f} spans/s{extra}")


@click.command()
@click.option(
    "--days",
    type=click.FloatRange(min=0.01, max=30),
    default=1.0,
    show_default=True,
    help="Days of history to back-fill.",
)
@click.option(
    "--endpoint",
    default=None,
    metavar="URL",
    help="A running collector to measure against; default: start a fresh `vitals serve`.",
)
@click.option("--protocol", type=click.Choice(["http", "grpc"]), default="http", show_default=True)
@click.option(
    "--db",
    default=None,
    metavar="URL",
    help="Store of the collector this benchmark starts (default: SQLite in a temporary directory).",
)
@click.option("--seed", type=int, default=7, show_default=True)
def simulate(*, days: float, endpoint: str | None, protocol: str, db: str | None, seed: int) -> None:
    """Back-fill the three facilities into a collector; print the time and the spans/s reached."""
    plan = RunPlan(seed=seed, now=utc_now(), days=days, scenario=load_scenario())
    click.echo(
        f"history: {days:g} day(s) of the default scenario, seed {seed}, up to {plan.now:%Y-%m-%d %H:%M} UTC"
    )

    started = time.perf_counter()
    spans = sum(1 for item in plan.generator().items(plan.now_ns) if isinstance(item, SpanSpec))
    _line("generator only", spans, time.perf_counter() - started)

    encoder = OtelEmitter(_EncodeOnly(), None)
    started = time.perf_counter()
    run(plan, encoder)
    encoder.close()
    _line("+ SDK + OTLP encoding", spans, time.perf_counter() - started)

    def measure(base: str) -> None:
        target = Endpoint.parse(base, "grpc" if protocol == "grpc" else "http")
        try:
            preflight(target)
        except CollectorUnavailable as exc:
            raise click.ClickException(str(exc)) from exc
        emitter = otlp_emitter(target, seed=seed)
        began = time.perf_counter()
        result = run(plan, emitter)
        emitter.close()
        elapsed = time.perf_counter() - began
        _line(
            f"end to end ({protocol}, acked)",
            emitter.stats.spans,
            elapsed,
            f"  (+ {result.metric_points:,} queue samples, {emitter.stats.requests:,} requests, "
            f"{emitter.stats.retries} retries)",
        )

    if endpoint:
        measure(endpoint)
    else:
        with _collector(db) as (http_base, grpc_base):
            measure(http_base if protocol == "http" else grpc_base)


__all__ = ["simulate"]
