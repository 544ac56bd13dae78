"""``vitals bench simulate``: how long back-filling the synthetic estate into a collector takes.

Prints the end-to-end figure (generator -> OpenTelemetry SDK -> OTLP exporter -> collector,
acknowledged) and, on the same history, two references that show where the time goes: the pure
generator alone, and generator + SDK + OTLP protobuf encoding without the network.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import click
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from simulator.emitter import OtelEmitter
from simulator.model import SpanSpec
from simulator.options import days_option, now_option, seed_option
from simulator.otlp import CollectorUnavailable, Endpoint, otlp_emitter, preflight
from simulator.runner import RunPlan, run
from simulator.scenario import load_scenario
from vitals.shell.bench.common import (
    Figure,
    Stopwatch,
    collector_process,
    db_option,
    fresh_store,
    out_option,
    report,
    say,
    scratch_dir,
)


class _EncodeOnly(SpanExporter):
    """Encodes every batch to OTLP protobuf and drops it: the exporter's CPU cost without the network."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        encode_spans(spans).SerializeToString()
        return SpanExportResult.SUCCESS


def _figure(measure: str, spans: int, seconds: float, reference: str = "", extra: str = "") -> Figure:
    detail = f"{spans:,} spans in {seconds:.1f} s" + (f", {extra}" if extra else "")
    return Figure(measure, spans / seconds if seconds else 0.0, "spans/s", detail=detail, reference=reference)


@click.command()
@days_option(default=1.0, min=0.01, max=30, help="Days of history to back-fill.")
@click.option(
    "--endpoint",
    default=None,
    metavar="URL",
    help="A running collector to measure against; default: start a fresh `vitals serve`.",
)
@click.option("--protocol", type=click.Choice(["http", "grpc"]), default="http", show_default=True)
@db_option("The store of the collector this benchmark starts (not used with --endpoint).")
@seed_option()
@now_option("End of the simulated history (ISO 8601, UTC unless an offset is given).")
@out_option()
def simulate(
    *,
    days: float,
    endpoint: str | None,
    protocol: str,
    db: str,
    seed: int,
    now: datetime,
    out: Path | None,
) -> None:
    """Back-fill the three facilities into a collector: the time and the spans/s reached.

    Beside the generator alone and the generator with the SDK and OTLP encoding.
    """
    plan = RunPlan(seed=seed, now=now, days=days, scenario=load_scenario())
    say(f"history: {days:g} day(s) of the default scenario, seed {seed}, up to {plan.now:%Y-%m-%d %H:%M} UTC")

    watch = Stopwatch()
    spans = sum(1 for item in plan.generator().items(plan.now_ns) if isinstance(item, SpanSpec))
    generator = _figure("generator only", spans, watch.seconds, "a reference")
    say(f"  {generator.measure}: {generator.text()}")

    encoder = OtelEmitter(_EncodeOnly(), None)
    watch = Stopwatch()
    run(plan, encoder)
    encoder.close()
    encoding = _figure("+ SDK + OTLP encoding", spans, watch.seconds, "a reference")
    say(f"  {encoding.measure}: {encoding.text()}")

    def measure(base: str) -> Figure:
        target = Endpoint.parse(base, "grpc" if protocol == "grpc" else "http")
        try:
            preflight(target)
        except CollectorUnavailable as exc:
            raise click.ClickException(str(exc)) from exc
        emitter = otlp_emitter(target, seed=seed)
        watch = Stopwatch()
        result = run(plan, emitter)
        emitter.close()
        seconds = watch.seconds
        share = (emitter.stats.spans / seconds) / (encoding.value or 1.0)
        return _figure(
            f"end to end ({protocol}, acknowledged)",
            emitter.stats.spans,
            seconds,
            f"{share:.0%} of generator + SDK + encoding",
            f"+ {result.metric_points:,} queue samples, {emitter.stats.requests:,} requests, "
            f"{emitter.stats.retries} retries",
        )

    if endpoint:
        say(f"collector: {endpoint}")
        end_to_end = measure(endpoint)
    else:
        with (
            scratch_dir() as workdir,
            fresh_store(db, workdir, "simulate") as url,
            collector_process(url, workdir) as collector,
        ):
            say(f"collector: a fresh vitals serve on {collector.http_base}, store {url}")
            end_to_end = measure(collector.http_base if protocol == "http" else collector.grpc_base)
    report([generator, encoding, end_to_end], out)


__all__ = ["simulate"]
