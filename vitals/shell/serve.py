"""``vitals serve``: assemble one process from the collector and the components that plug into it.

The collector owns the listeners and the durable writer; this module, not the collector, decides
which components run beside it and in what order. Components are imported here only when chosen,
so a process started with ``--components none`` loads none of them.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import ssl
import sys
from pathlib import Path

import click
from sqlalchemy.engine import make_url

from collector import retention
from collector.buffer_consumer import components as buffer_components
from collector.config import CollectorConfig, Retention, load_collector_config
from collector.service import Collector, ServeOptions, StartupError
from vitals.kernel.configfile import ConfigError, load_yaml, validate
from vitals.kernel.db import normalize_url
from vitals.kernel.options import settings_options
from vitals.kernel.runtime import Component, ServiceContext
from vitals.kernel.settings import Settings
from vitals.shell import status
from vitals.shell.memory import MemoryComponent, limit_arenas
from vitals.shell.ports import API_PORT, OTLP_GRPC_PORT, OTLP_HTTP_PORT, host_option, port_option
from vitals.shell.serve_lock import AlreadyServed, take_serve_lock
from vitals.shell.workers import WorkerPlan, parse_workers, sqlite_refusal, supervise

log = logging.getLogger("vitals.serve")

#: Component name (as --components takes it) -> its module, installed in this order.
COMPONENTS: dict[str, str] = {
    "queues": "collector.queues.service",
    "slas": "slas.service",
    "alerts": "alerts.service",
    "dashboards": "dashboards.service",
    "analytics": "analytics.service",
}


def choose_components(value: str) -> tuple[str, ...]:
    """The component names that ``--components`` asks for, in installation order."""
    chosen = value.strip().lower()
    if chosen == "all":
        return tuple(COMPONENTS)
    if chosen == "none":
        return ()
    # Accept the module names that earlier releases documented (``slas.service``) too.
    by_module = {module: name for name, module in COMPONENTS.items()}
    asked = [part.strip() for part in chosen.split(",") if part.strip()]
    names = {by_module.get(part, part) for part in asked}
    unknown = sorted(names - set(COMPONENTS))
    if unknown:
        raise click.BadParameter(
            f"unknown component(s) {', '.join(unknown)}; choose from {', '.join(COMPONENTS)}",
            param_hint="--components",
        )
    return tuple(name for name in COMPONENTS if name in names)


class RetentionComponent:
    """The collector's retention job (``collector.retention``), configured in collector.yaml.

    It runs in every ``vitals serve``, whatever ``--components`` says: it bounds the collector's
    own tables, and its lease lets one process at a time delete.
    """

    __name__ = retention.JOB_ID

    def __init__(self, settings: Retention) -> None:
        self.settings = settings

    def install(self, ctx: ServiceContext) -> None:
        retention.install(ctx, self.settings)


def assemble(config: CollectorConfig, names: tuple[str, ...]) -> tuple[Component, ...]:
    """What ``vitals serve`` installs beside the collector: the retention job, then ``names``."""
    return (RetentionComponent(config.retention), *buffer_components(config.buffer), *load_components(names))


def serve_workers(plan: WorkerPlan) -> int:
    """``--workers N`` (N > 1): refuse SQLite, else supervise N workers; the exit code."""
    if make_url(normalize_url(plan.settings.db_url)).get_backend_name() == "sqlite":
        click.echo(f"Error: {sqlite_refusal(plan.workers)}", err=True)
        return 2
    return supervise(plan)


def dashboard_document(config_dir: Path) -> object:
    """``dashboard.yaml`` validated without reading its secrets, for ``/api/v1/config`` (the API
    may not import the dashboards; None when the file is absent)."""
    from dashboards.config import FILE_NAME, DashboardConfig

    path = config_dir / FILE_NAME
    if not path.is_file():
        return None
    loaded = load_yaml(path)
    return None if loaded.data is None else validate(DashboardConfig, loaded)


def api_component(
    host: str,
    port: int,
    shutdown_timeout: float,
    *,
    reuse_port: bool = False,
    ssl_context: ssl.SSLContext | None = None,
    insecure_no_auth: bool = False,
) -> Component:
    """The JSON API (``/api/v1``) on its own port, served from the collector's event loop."""
    from api.service import ApiComponent

    return ApiComponent(
        host,
        port,
        reuse_port=reuse_port,
        ssl_context=ssl_context,
        shutdown_timeout=shutdown_timeout,
        insecure_no_auth=insecure_no_auth,
        config_documents={"dashboard.yaml": dashboard_document},
    )


def load_components(names: tuple[str, ...]) -> tuple[Component, ...]:
    loaded: list[Component] = []
    for name in names:
        module: Component = importlib.import_module(COMPONENTS[name])
        loaded.append(module)
    return tuple(loaded)


@click.command(context_settings={"max_content_width": 110})
@settings_options
@host_option(
    "Address to listen on (env VITALS_HOST). Anything but loopback needs a token (vitals tokens "
    "create; tokens in collector.yaml or required client certificates suffice for OTLP, not for the "
    "API) or --insecure-no-auth.",
    envvar="VITALS_HOST",
)
@port_option(
    "--http-port",
    default=OTLP_HTTP_PORT,
    envvar="VITALS_HTTP_PORT",
    help="OTLP/HTTP port, also /healthz, /readyz and /metrics (env VITALS_HTTP_PORT; 0 picks a free port).",
)
@port_option(
    "--grpc-port",
    default=OTLP_GRPC_PORT,
    envvar="VITALS_GRPC_PORT",
    help="OTLP/gRPC port (env VITALS_GRPC_PORT; 0 picks a free port).",
)
@port_option(
    "--api-port",
    default=API_PORT,
    envvar="VITALS_API_PORT",
    help="JSON API port: /api/v1 and its OpenAPI document /api/v1/openapi.json, on the same --host "
    "(env VITALS_API_PORT; 0 picks a free port).",
)
@click.option(
    "--insecure-no-auth",
    is_flag=True,
    envvar="VITALS_INSECURE_NO_AUTH",
    help="Allow a non-loopback --host with no tokens configured. Anyone who can reach the ports can "
    "then write telemetry, read /metrics, and use the whole JSON API anonymously with every scope: "
    "read and change configuration, acknowledge alerts, create and remove silences "
    "(env VITALS_INSECURE_NO_AUTH).",
)
@click.option(
    "--components",
    envvar="VITALS_COMPONENTS",
    default="all",
    show_default=True,
    metavar="LIST",
    help="Comma-separated components to run next to the collector, or 'all' or 'none' (env "
    f"VITALS_COMPONENTS). Available: {', '.join(COMPONENTS)}.",
)
@click.option(
    "--shutdown-timeout",
    envvar="VITALS_SHUTDOWN_TIMEOUT",
    type=click.FloatRange(0),
    default=30.0,
    show_default=True,
    help="Seconds the whole stop may take after SIGTERM or SIGINT (env VITALS_SHUTDOWN_TIMEOUT): requests "
    "in progress get about two thirds of it to finish, then the writer commits what is queued. What is "
    "still running at the end is named in the log and the process exits 3.",
)
@click.option(
    "--workers",
    envvar="VITALS_WORKERS",
    default="1",
    show_default=True,
    metavar="N|auto",
    help="Collector processes sharing both ports (SO_REUSEPORT), under a parent that restarts any "
    "that dies; 'auto' starts one per CPU (env VITALS_WORKERS). More than 1 needs PostgreSQL.",
)
def serve(
    *,
    settings: Settings,
    host: str,
    http_port: int,
    grpc_port: int,
    api_port: int,
    insecure_no_auth: bool,
    components: str,
    shutdown_timeout: float,
    workers: str,
) -> None:
    """Run the collector (OTLP receivers, PHI redaction, durable writer) and the chosen components.

    The collector takes OTLP/HTTP and OTLP/gRPC; the components (--components) are the queue
    pollers, the SLA engine, alerting and the dashboard rollups. Whatever --components says, the
    retention job deletes spans and metric points older than collector.yaml's retention (14 days
    by default), one process at a time.

    Endpoints on the HTTP port (the gRPC port serves TraceService/Export and MetricsService/Export):

    \b
        POST /v1/traces, /v1/metrics   OTLP/HTTP, protobuf or JSON, optionally gzip
        GET  /healthz, /readyz         liveness and readiness; /readyz also names which
                                       process holds which job (lease), the rollups' lag
                                       and the age of the newest SLA evaluation
        GET  /metrics                  Prometheus metrics of the process and its jobs
                                       (once a token exists: a token with the read scope)

    The JSON API listens on its own port (--api-port, 8502): SLA status and history,
    incidents, alerts, silences, the audit log and the configuration (secrets masked), with
    its OpenAPI document at /api/v1/openapi.json. Requests carry Authorization: Bearer <token>
    (vitals tokens create); while no token exists they are anonymous, on loopback only.

    With a certificate and key in collector.yaml's tls: section, both OTLP ports and the API
    speak only TLS (https://, gRPC with TLS); mutual TLS for senders is optional there.

    Other environment variables:

    \b
        VITALS_HASH_SECRET             secret for the HMAC of hc.key.* values
                                       (or redaction.hash_secret in collector.yaml)
        VITALS_SQLITE_SYNCHRONOUS      NORMAL (default: survives kill -9) or FULL (also power loss)
        VITALS_WRITER_LINGER           seconds a commit waits for more requests (default 0.03)

    On SQLite, one vitals serve at a time: a second one over the same file is refused at start
    (the lock file <database>-serve.lock beside it names the holder); run several over PostgreSQL.

    --workers N (PostgreSQL only) runs N collector processes on the same two ports: a parent
    chooses the ports (0 picks a free one, the same for all), starts the workers, restarts one
    that dies and stops them all on SIGTERM or SIGINT, with the exit codes below. Every worker
    receives; the scheduled jobs (SLA engine, alerts, rollups, retention, queue pollers) run in
    worker 0. Each response names its worker in the Vitals-Worker header.

    A 200 means the data is committed. SIGTERM or SIGINT stops accepting, commits what was
    accepted and exits 0, within --shutdown-timeout whatever is in progress: if something is
    still running then (a store that hangs, a job blocked on a broker, a huge request), it is
    named in the log and the process exits 3; nothing it left behind was acknowledged.
    """
    try:
        config = load_collector_config(settings.config_dir)
    except ConfigError as exc:
        raise click.ClickException(f"invalid collector config:\n{exc}") from exc
    names = choose_components(components)
    limit_arenas()  # before any worker or store writer process starts (vitals.shell.memory)
    try:
        count = parse_workers(workers)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--workers") from exc
    if count > 1:
        plan = WorkerPlan(
            settings=settings,
            components=names,
            host=host,
            http_port=http_port,
            grpc_port=grpc_port,
            api_port=api_port,
            insecure_no_auth=insecure_no_auth,
            shutdown_timeout=shutdown_timeout,
            tls=config.tls.cert_file is not None,
            log_level=logging.getLogger().getEffectiveLevel(),
            workers=count,
        )
        sys.exit(serve_workers(plan))
    wanted = assemble(config, names)
    options = ServeOptions(
        host=host,
        http_port=http_port,
        grpc_port=grpc_port,
        insecure_no_auth=insecure_no_auth,
        # Then, whatever --components says: who holds which job and how far the derived work
        # trails the store, in /readyz and /metrics.
        components=(
            *wanted,
            status,
            MemoryComponent(),
            api_component(
                host,
                api_port,
                shutdown_timeout,
                ssl_context=config.tls.api_context(),
                insecure_no_auth=insecure_no_auth,
            ),
        ),
        shutdown_timeout=shutdown_timeout,
    )
    try:
        # SQLite: one vitals serve per store (several processes are PostgreSQL's job).
        lock = take_serve_lock(settings.db_url)
    except AlreadyServed as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    collector = Collector(settings, config, options)
    try:
        asyncio.run(collector.serve_until_signalled())
    except (StartupError, ConfigError) as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    finally:
        if lock is not None:
            lock.release()
