"""``vitals demo``: the whole product on a synthetic regional health system, in one process tree.

Starts ``vitals serve`` (collector; the SLA engine, alerting and queue jobs run inside it as they
are installed) on a throwaway SQLite store, waits until it is ready, back-fills a week of
history through the real OTLP exporter, starts ``vitals dashboard`` when it exists, prints where
to look, then keeps live traffic flowing until Ctrl-C or SIGTERM, which stop everything in order
(simulator flush, dashboard, collector) and exit 0.

The collector back-fills without the SLA engine and alerting, then restarts with them. Evaluated
while the history is still arriving, the last hours would look silent (every feed's newest
message is hours old) and page for outages that never happened; evaluated once it is all in,
the store is like one that Vitals is pointed at in production.

A stand-in integration engine takes the replays of the exception work queue. It is down for a
planted window at the start of the live phase (``--engine-down-for``): a replay then fails to
send and can be sent again once the console says the engine is back, when it succeeds.

Every run starts from a fresh demo store (``.vitals/demo.db``): the history is generated relative
to "now", so topping up an old store would put a second set of incidents next to the first.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

import click

from dashboards.cli import DEFAULT_PORT
from simulator.options import days_option, live_option, rate_scale_option, scenario_option, seed_option
from simulator.scenario import Scenario
from vitals.kernel.settings import Settings
from vitals.shell.ports import API_PORT, OTLP_GRPC_PORT, OTLP_HTTP_PORT, host_option, port_option

DEMO_DB_PATH = Path(".vitals") / "demo.db"
LOG_DIR = Path(".vitals") / "demo-logs"
READY_TIMEOUT_S = 90.0
#: The stand-in integration engine's port: the default of the starter exceptions.yaml's webhook URL.
STANDIN_PORT = 8590
#: The variable the starter exceptions.yaml reads the stand-in's URL from (``${...:-default}``).
STANDIN_URL_VARIABLE = "VITALS_STANDIN_URL"
#: How long the stand-in engine is down at the start of the live phase by default.
ENGINE_DOWN_FOR = "5m"
#: What runs beside the collector during the back-fill: everything but the evaluators.
BACKFILL_COMPONENTS = ("queues", "dashboards")
#: Days of history the demo back-fills. A week fills the 7-day window of every rolling starter
#: SLA, and gives late-charges (due 72 h after the procedure, reported per calendar month) four
#: days of charges past their deadline: with three days none would be due yet, and the SLA would
#: honestly show no data. Early in a month its window holds only the days since the 1st.
DEMO_DAYS = 7.0

#: Collector warnings that are production advice, not news, on a throwaway local demo.
_DEMO_NOISE = (
    "collector.hash_secret",  # the demo store keeps its own generated HMAC secret
    "has no token",  # the alerts API listens on loopback only
    "apscheduler",  # a tick skipped while the back-fill floods the store
)


class ConsoleFilter:
    """Which collector log lines reach the console: alert notifications (with their continuation
    lines), errors, and warnings that are not demo noise. Everything is in the log file anyway."""

    def __init__(self) -> None:
        self._previous = False

    def __call__(self, line: str) -> bool:
        if line[:1].isspace() and line.strip():
            return self._previous  # a continuation of a multi-line message
        self._previous = (
            " alerts.console" in line
            or " ERROR " in line
            or " CRITICAL " in line
            or line.startswith("Traceback")
            or (" WARNING " in line and not any(noise in line for noise in _DEMO_NOISE))
        )
        return self._previous


def _fresh_demo_store(db: str | None) -> str:
    """The store URL; the default demo store is recreated, an explicit one must hold no spans."""
    if db is None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            path = DEMO_DB_PATH.with_name(DEMO_DB_PATH.name + suffix)
            if path.exists():
                path.unlink()
        DEMO_DB_PATH.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{DEMO_DB_PATH}"
    from sqlalchemy import inspect, text

    from vitals.kernel.db import create_engine

    engine = create_engine(db)
    try:
        if inspect(engine).has_table("spans"):
            with engine.connect() as connection:
                count = connection.execute(text("SELECT COUNT(*) FROM spans")).scalar_one()
            if count:
                raise click.ClickException(
                    f"the store {engine.url.render_as_string()} already holds {count:,} spans. The demo "
                    f"generates history relative to now, so it needs an empty store: omit --db to use the "
                    f"throwaway {DEMO_DB_PATH} (recreated on every run), or give an empty database."
                )
    finally:
        engine.dispose()
    return db


def _readyz(base: str) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(f"{base}/readyz", timeout=2) as response:
            data = json.loads(response.read() or b"{}")
            return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


@click.command()
@days_option(default=DEMO_DAYS, max=30, help="Days of history to back-fill before live traffic starts.")
@seed_option(help="Random seed of the synthetic estate.")
@scenario_option("Scenario file with the incidents (default: the shipped default scenario).")
@click.option(
    "--db",
    default=None,
    metavar="URL",
    help=f"Store URL. Default: sqlite:///{DEMO_DB_PATH}, recreated on every run. "
    "An explicit store must hold no spans yet.",
)
@click.option(
    "--config",
    default=None,
    metavar="DIR",
    type=click.Path(file_okay=False),
    help="Config directory (collector.yaml, alerts.yaml, slas/). Default: the starter config.",
)
@host_option("Address the collector and dashboard bind.")
@port_option(
    "--http-port", default=OTLP_HTTP_PORT, help="OTLP/HTTP port (a free one is picked if it is busy)."
)
@port_option(
    "--grpc-port", default=OTLP_GRPC_PORT, help="OTLP/gRPC port (a free one is picked if it is busy)."
)
@port_option(
    "--dashboard-port", default=DEFAULT_PORT, help="Dashboard port (a free one is picked if it is busy)."
)
@port_option(
    "--api-port",
    default=API_PORT,
    envvar="VITALS_API_PORT",
    help="JSON API port (env VITALS_API_PORT; a free one is picked if it is busy).",
)
@click.option("--dashboard/--no-dashboard", "with_dashboard", default=True, help="Start the dashboard.")
@live_option(
    default=True, help="Keep emitting live traffic after the back-fill (else only keep the services up)."
)
@rate_scale_option(help="Multiply every simulated volume.", min=0.01, max=10)
@click.option(
    "--engine-down-for",
    default=ENGINE_DOWN_FOR,
    show_default=True,
    metavar="DURATION",
    help="Keep the stand-in integration engine down (503) this long once the history is loaded, "
    "so replays of the exception queue fail to send until it is back (the console says when); "
    "0 keeps it up.",
)
def demo(
    *,
    days: float,
    seed: int,
    scenario: Scenario | None,
    db: str | None,
    config: str | None,
    host: str,
    http_port: int,
    grpc_port: int,
    dashboard_port: int,
    api_port: int,
    with_dashboard: bool,
    live: bool,
    rate_scale: float,
    engine_down_for: str,
) -> None:
    """Run Vitals end to end on a synthetic regional health system (the main job).

    One process tree: the collector with everything installed inside it, the synthetic estate
    (a week of history, then live traffic) and the dashboard. Ctrl-C stops it all cleanly.
    """
    from simulator.emitter import ExportError
    from simulator.otlp import CollectorUnavailable, Endpoint, otlp_emitter, preflight
    from simulator.progress import Progress
    from simulator.runner import RunPlan, run, utc_now
    from simulator.supervisor import Child, choose_port, http_ok, wait_until
    from vitals.kernel.units import parse_duration

    try:
        engine_down_s = parse_duration(engine_down_for)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--engine-down-for") from exc
    say = _Console()
    settings = Settings.resolve(db, config)
    _check_days_kept(days, settings.config_dir)
    db_url = _fresh_demo_store(db)
    taken: set[int] = set()
    ports = {}
    wanted_ports = (
        ("OTLP/HTTP", http_port),
        ("OTLP/gRPC", grpc_port),
        ("dashboard", dashboard_port),
        ("API", api_port),
    )
    for label, wanted in wanted_ports:
        chosen = choose_port(host, wanted, taken)
        taken.add(chosen)
        ports[label] = chosen
        if wanted and chosen != wanted:
            say(f"port {wanted} ({label}) is busy: using {chosen} instead")
    base = f"http://{host}:{ports['OTLP/HTTP']}"
    python = [sys.executable, "-m", "vitals"]
    common = ["--db", db_url, *(["--config", str(settings.config_dir)] if config else [])]
    serve_argv = [
        *python,
        "serve",
        *common,
        "--host",
        host,
        "--http-port",
        str(ports["OTLP/HTTP"]),
        "--grpc-port",
        str(ports["OTLP/gRPC"]),
        "--api-port",
        str(ports["API"]),
    ]
    standin, standin_url = _start_standin(base, say)
    # Every child reads the starter exceptions.yaml with the port the stand-in really has.
    child_env = {**os.environ, STANDIN_URL_VARIABLE: standin_url}
    serve = Child(
        "serve",
        [*serve_argv, "--components", ",".join(BACKFILL_COMPONENTS)],
        LOG_DIR / "serve.log",
        echo=ConsoleFilter(),
        env=child_env,
    )
    dashboard: Child | None = None
    stop = threading.Event()
    children: list[Child] = []

    def request_stop(signum: int, frame: Any) -> None:
        if not stop.is_set():
            say("stopping (flushing the simulator, then the dashboard and the collector)...")
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    exit_code = 0
    try:
        say(f"starting the collector on {base} (store {db_url}; log {LOG_DIR / 'serve.log'})")
        serve.start()
        children.append(serve)
        if not wait_until(
            lambda: http_ok(f"{base}/readyz"), READY_TIMEOUT_S, lambda: serve.running() and not stop.is_set()
        ):
            if stop.is_set():
                return
            raise click.ClickException(
                f"the collector did not become ready (exit code {serve.returncode()}); its last lines:\n"
                f"{serve.last_lines()}"
            )
        if with_dashboard:
            dashboard = Child(
                "dashboard",
                [*python, "dashboard", *common, "--host", host, "--port", str(ports["dashboard"])],
                LOG_DIR / "dashboard.log",
                echo=lambda line: " ERROR " in line or "Traceback" in line,
                env=child_env,
            )
            dashboard.start()
            children.append(dashboard)
        endpoint = Endpoint.parse(base, "http")
        try:
            preflight(endpoint)
        except CollectorUnavailable as exc:
            raise click.ClickException(str(exc)) from exc
        plan = RunPlan(seed=seed, now=utc_now(), days=days, scenario=scenario, rate_scale=rate_scale)
        emitter = otlp_emitter(endpoint, seed=seed)
        say(
            f"back-filling {days:g} day(s) of history "
            f"(seed {seed}, scenario {scenario.name if scenario else '-'})"
        )
        progress = Progress("back-fill", plan.now_ns - plan.start_ns)
        watcher = _watch(children, stop, say, on_crash=emitter.abort)

        def start_evaluators() -> bool:
            say("history loaded; restarting the collector with the SLA engine and alerting")
            serve.restart([*serve_argv, "--components", "all"])
            return wait_until(
                lambda: http_ok(f"{base}/readyz"),
                READY_TIMEOUT_S,
                lambda: serve.running() and not stop.is_set(),
            )

        def banner(_result: Any) -> None:
            if stop.is_set():
                return
            if not start_evaluators():
                if stop.is_set():
                    return
                emitter.abort()
                raise click.ClickException(
                    f"the collector did not come back after the back-fill (exit code "
                    f"{serve.returncode()}); its last lines:\n{serve.last_lines()}"
                )
            _plant_engine_outage(standin, engine_down_s, stop, say)
            _print_banner(
                say=say,
                base=base,
                ports=ports,
                host=host,
                db_url=db_url,
                dashboard=dashboard,
                plan=plan,
                scenario=scenario,
                live=live,
                http_ok=http_ok,
                standin_url=standin_url,
                standin_down_s=standin.down_for(),
            )

        try:
            run(plan, emitter, live=live, stop=stop, progress=progress, on_backfilled=banner)
            if not live:
                while not stop.is_set():
                    stop.wait(0.5)
            emitter.close()
        except ExportError as exc:
            emitter.abort()
            if not stop.is_set():
                exit_code = 1
                say(f"the simulator could not deliver its telemetry: {exc}")
        watcher.set()
        if any(child.returncode() not in (None, 0) for child in children):
            exit_code = 1
    finally:
        stop.set()
        standin.stop()
        for child in reversed(children):
            code = child.stop()
            say(f"{child.name} stopped (exit code {code})")
        for sig, old in previous.items():
            signal.signal(sig, old)
    if exit_code:
        raise SystemExit(exit_code)
    say("demo stopped cleanly")


def _start_standin(base: str, say: Any, port: int = STANDIN_PORT) -> tuple[Any, str]:
    """The stand-in integration engine the starter exceptions.yaml replays to, and its URL: each
    replay it accepts comes back to the collector as a successful transaction in the replayed
    trace. On loopback, port 8590 (the starter's default) or a free one when that is busy; the
    children get its URL in ``VITALS_STANDIN_URL``, which the starter's target URLs read."""
    import time

    from exceptions.standin import Received, StandIn, post_replayed

    def report(received: Received) -> None:
        try:
            post_replayed(base, received, time.time_ns())
        except Exception as exc:
            say(f"stand-in engine: could not report a replayed transaction: {exc}")

    engine = StandIn(on_replay=report)
    try:
        url = engine.start("127.0.0.1", port)
    except OSError as exc:
        url = engine.start("127.0.0.1", 0)
        say(f"port {port} is busy ({exc.strerror}): the stand-in engine uses {url} instead")
    say(f"stand-in integration engine on {url}: replays of the exception queue go there")
    return engine, url


def _plant_engine_outage(
    engine: Any, seconds: float, stop: threading.Event, say: Any
) -> threading.Thread | None:
    """The planted incident of the exception queue: the stand-in engine answers 503 for
    ``seconds``, so a replay fails to send (and can be sent again); the thread it returns says
    when it is back."""
    from datetime import UTC, datetime, timedelta

    from vitals.kernel.units import format_duration

    if seconds <= 0:
        return None
    back_at = engine.go_down(seconds)
    until = datetime.now(UTC) + timedelta(seconds=seconds)
    say(
        f"planted incident: the stand-in integration engine is DOWN for {format_duration(seconds)} "
        f"(until {until:%H:%M:%S} UTC); replays fail to send until it is back"
    )

    def wait_for_it() -> None:
        while not stop.is_set():
            left = back_at - engine.clock()
            if left <= 0:
                say("the stand-in integration engine is BACK: replay the failed charges again")
                return
            stop.wait(left)

    thread = threading.Thread(target=wait_for_it, name="standin-outage", daemon=True)
    thread.start()
    return thread


class _Console:
    def __call__(self, message: str) -> None:
        click.echo(f"[demo] {message}", err=True)


def _watch(
    children: list[Any], stop: threading.Event, say: _Console, on_crash: Any = None
) -> threading.Event:
    """Stop the demo if a child dies on its own (a crashed collector must not go unnoticed)."""
    done = threading.Event()

    def loop() -> None:
        while not done.is_set() and not stop.is_set():
            for child in list(children):
                code = child.returncode()
                if code is not None:
                    say(
                        f"{child.name} exited unexpectedly (exit code {code}); "
                        f"its last lines:\n{child.last_lines()}"
                    )
                    if on_crash is not None:
                        on_crash()
                    stop.set()
                    return
            done.wait(1.0)

    threading.Thread(target=loop, name="demo-watch", daemon=True).start()
    return done


def _print_banner(
    *,
    say: _Console,
    base: str,
    ports: dict[str, int],
    host: str,
    db_url: str,
    dashboard: Any,
    plan: Any,
    scenario: Any,
    live: bool,
    http_ok: Any,
    standin_url: str,
    standin_down_s: float = 0.0,
) -> None:
    from simulator.calendar import ZONE
    from vitals.kernel.units import format_duration

    status = _readyz(base)
    components = status.get("components") if isinstance(status.get("components"), dict) else {}
    lines = ["", "Vitals demo is running. Ctrl-C stops everything.", ""]
    engine_notes = ["replay target of `vitals exceptions replay`"]
    if standin_down_s > 0:
        engine_notes.append(f"DOWN for {format_duration(standin_down_s)} more: the planted incident")
    if not standin_url.endswith(f":{STANDIN_PORT}"):
        engine_notes.append(f"other commands: export {STANDIN_URL_VARIABLE}={standin_url}")
    if dashboard is not None:
        url = f"http://{host}:{ports['dashboard']}"
        ready = http_ok(f"{url}/_stcore/health")
        lines.append(
            f"  dashboard        {url}"
            + ("" if ready else f"  (still starting; log {LOG_DIR / 'dashboard.log'})")
        )
    else:
        lines.append("  dashboard        off (--no-dashboard)")
    lines += [
        f"  OTLP/HTTP        {base}/v1/traces  {base}/v1/metrics",
        f"  OTLP/gRPC        {host}:{ports['OTLP/gRPC']}",
        f"  collector        {base}/metrics (Prometheus)  {base}/healthz  {base}/readyz",
        f"  JSON API         http://{host}:{ports['API']}/api/v1/slas  (OpenAPI: /api/v1/openapi.json)",
        f"  store            {db_url}   (other commands: export VITALS_DB={db_url})",
        f"  stand-in engine  {standin_url}/webhook  ({'; '.join(engine_notes)})",
        f"  logs             {LOG_DIR}/",
        "  alerts           to the console (lines prefixed [serve]) and the collector log, unless Slack is "
        "configured in alerts.yaml",
    ]
    for name, text in sorted((components or {}).items()):
        lines.append(f"  running          {name}: {text}")
    if scenario is not None:
        lines.append("")
        lines.append(f"  incidents of scenario {scenario.name!r} (times {ZONE.key}):")
        for effect in scenario.expected_effects(plan.now):
            start = effect.start.astimezone(ZONE)
            end = effect.end.astimezone(ZONE)
            if effect.start <= plan.now < effect.end:
                when = "under way"
            elif effect.start > plan.now:
                when = "later, live"
            elif effect.end_ns <= plan.start_ns:
                when = "before the history: not shown (use more --days)"
            else:
                when = ""
            where = ", ".join(f"{k}={v}" for k, v in effect.slice.items())
            lines.append(
                f"    {start:%a %d %b %H:%M}-{end:%H:%M}  {effect.incident:<26} -> {', '.join(effect.slas)}"
                f"{f' ({where})' if where else ''}{f'  [{when}]' if when else ''}"
            )
    lines.append("")
    lines.append("  live traffic follows the clock now" if live else "  no live traffic (--no-live)")
    for line in lines:
        click.echo(line, err=True)


def _check_days_kept(days: float, config_dir: Path) -> None:
    """Refuse a history longer than the store keeps telemetry: its oldest days would be deleted
    by the retention job a minute after the start, before the SLA engine had read them."""
    from collector.config import load_collector_config
    from vitals.kernel.configfile import ConfigError
    from vitals.kernel.units import format_duration

    try:
        kept = load_collector_config(config_dir).retention
    except ConfigError:
        return  # `vitals serve` reports the file's error itself
    limits = {name: s for name, s in (("spans", kept.spans), ("metrics", kept.metrics)) if s is not None}
    if limits and days * 86400 > min(limits.values()):
        said = ", ".join(f"{name} {format_duration(s)}" for name, s in limits.items())
        raise click.BadParameter(
            f"{days:g} days of history is longer than the store keeps telemetry ({said}, "
            f"retention in {config_dir}/collector.yaml): use fewer --days or a longer retention",
            param_hint="--days",
        )


__all__ = ["BACKFILL_COMPONENTS", "DEMO_DAYS", "ENGINE_DOWN_FOR", "STANDIN_URL_VARIABLE", "demo"]
