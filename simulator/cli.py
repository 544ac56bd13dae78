"""``vitals simulate``: the synthetic health system, over OTLP, into any collector."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import click

from simulator.emitter import ExportError
from simulator.options import (
    days_option,
    live_option,
    now_given,
    now_option,
    rate_scale_option,
    scenario_option,
    seed_option,
)
from simulator.otlp import CollectorUnavailable, Endpoint, otlp_emitter, preflight
from simulator.progress import Progress
from simulator.runner import RunPlan, run
from simulator.scenario import Scenario


def pretend_clock(now: datetime) -> Callable[[], float]:
    """Unix seconds that read ``now`` at this call and then advance in real time: with ``--now``,
    live traffic continues the pretended history instead of racing to catch up with the clock."""
    offset = now.timestamp() - time.time()
    return lambda: time.time() + offset


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT (Ctrl-C) and SIGTERM ask the run to stop; it then flushes what it emitted and exits 0."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@click.command()
@days_option(
    default=3.0, help="Days of history to back-fill, ending now (fractions allowed: 0.25 is six hours)."
)
@scenario_option(
    "Scenario YAML scheduling incidents; default: the default scenario shipped with Vitals.",
    healthy_flag=True,
)
@click.option(
    "--endpoint",
    envvar="VITALS_OTLP_ENDPOINT",
    default=None,
    metavar="URL",
    help="Collector base URL (env VITALS_OTLP_ENDPOINT). Default http://127.0.0.1:4318, or "
    "http://127.0.0.1:4317 with --protocol grpc.",
)
@click.option(
    "--protocol",
    type=click.Choice(["http", "grpc"]),
    default="http",
    show_default=True,
    help="OTLP transport: HTTP/protobuf or gRPC.",
)
@click.option(
    "--token", envvar="VITALS_OTLP_TOKEN", default=None, help="Bearer token (env VITALS_OTLP_TOKEN)."
)
@seed_option(help="Random seed: the same seed and --now give byte-identical telemetry (ids included).")
@live_option(default=False, help="After the back-fill, keep emitting in real time.")
@rate_scale_option(help="Multiply every volume (0.1 for a tenth of the traffic).", min=0.001, max=100)
@now_option(
    "Pretend it is this time (ISO 8601) for the history and the scenario; with --live, live traffic "
    "follows a clock that starts at TIME. Re-running with the same --seed and --now resends identical "
    "spans, which the collector stores once."
)
@click.option("--no-metrics", is_flag=True, help="Do not push the simulated queue gauges.")
@click.option("--quiet", is_flag=True, help="No progress display.")
@click.pass_context
def simulate(
    ctx: click.Context,
    *,
    days: float,
    scenario: Scenario | None,
    endpoint: str | None,
    protocol: str,
    token: str | None,
    seed: int,
    live: bool,
    rate_scale: float,
    now: datetime,
    no_metrics: bool,
    quiet: bool,
) -> None:
    """Emit a synthetic regional health system's integration telemetry over OTLP.

    Three facilities (north-campus, south-campus, lakeside-asc), eight systems and the
    patient-to-cash, supply, procure-to-pay and workforce workflows, with the incidents of the
    scenario. Back-fills --days of history with explicit timestamps through the real OpenTelemetry
    SDK and OTLP exporter, then with --live follows the clock until Ctrl-C (which flushes and exits 0).
    """
    try:
        target = Endpoint.parse(endpoint, "grpc" if protocol == "grpc" else "http", token)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--endpoint") from exc
    plan = RunPlan(
        seed=seed,
        now=now,
        days=days,
        scenario=scenario,
        rate_scale=rate_scale,
        queue_metrics=not no_metrics,
    )
    try:
        preflight(target)
    except CollectorUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    incidents = len(scenario.incidents) if scenario else 0
    click.echo(
        f"simulating lakeview-health into {target}: {days:g} day(s) of history up to "
        f"{plan.now.isoformat(timespec='seconds')}, seed {seed}, "
        f"{incidents} incident(s){' then live' if live else ''}",
        err=True,
    )
    stop = threading.Event()
    emitter = otlp_emitter(target, seed=seed, metrics=not no_metrics)
    progress = None if quiet else Progress("back-fill", plan.now_ns - plan.start_ns)
    live_note = (
        (lambda _r: click.echo("live: following the clock (Ctrl-C to stop)", err=True)) if live else None
    )
    try:
        with stop_on_signals(stop):
            result = run(
                plan,
                emitter,
                live=live,
                stop=stop,
                progress=progress,
                on_backfilled=live_note,
                clock=pretend_clock(plan.now) if now_given(ctx) else time.time,
            )
            emitter.close()
    except ExportError as exc:
        emitter.abort()
        sent = emitter.stats.spans
        raise click.ClickException(
            f"{exc}\n{sent:,} spans were acknowledged before that. Re-running with --seed {seed} --now "
            f"{plan.now.isoformat()} resends the same spans (the collector stores duplicates once)."
        ) from exc
    stats = emitter.stats
    click.echo(
        f"{'stopped' if result.stopped else 'done'}: {stats.spans:,} spans and {stats.metric_points:,} "
        f"queue samples acknowledged by the collector ({stats.requests:,} requests, {stats.retries} retries)",
        err=True,
    )


__all__ = ["pretend_clock", "simulate", "stop_on_signals"]
