"""``vitals serve``: run the collector and the components that plug into it."""

from __future__ import annotations

import asyncio
import logging
import sys

import click

from collector.config import load_collector_config
from collector.service import Collector, ServeOptions, StartupError
from vitals.configfile import ConfigError
from vitals.options import settings_options
from vitals.runtime import COMPONENT_MODULES
from vitals.settings import Settings

log = logging.getLogger("vitals.serve")


@click.command(context_settings={"max_content_width": 110})
@settings_options
@click.option(
    "--host",
    envvar="VITALS_HOST",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (env VITALS_HOST). Anything but loopback needs tokens in collector.yaml "
    "or --insecure-no-auth.",
)
@click.option(
    "--http-port",
    envvar="VITALS_HTTP_PORT",
    type=click.IntRange(0, 65535),
    default=4318,
    show_default=True,
    help="OTLP/HTTP port, also /healthz, /readyz and /metrics (env VITALS_HTTP_PORT; 0 picks a free port).",
)
@click.option(
    "--grpc-port",
    envvar="VITALS_GRPC_PORT",
    type=click.IntRange(0, 65535),
    default=4317,
    show_default=True,
    help="OTLP/gRPC port (env VITALS_GRPC_PORT; 0 picks a free port).",
)
@click.option(
    "--insecure-no-auth",
    is_flag=True,
    envvar="VITALS_INSECURE_NO_AUTH",
    help="Allow a non-loopback --host with no tokens configured: anyone who can reach the port can "
    "write telemetry (env VITALS_INSECURE_NO_AUTH).",
)
@click.option(
    "--components",
    envvar="VITALS_COMPONENTS",
    default="all",
    show_default=True,
    metavar="LIST",
    help="Comma-separated components to run next to the collector, or 'all' or 'none' (env "
    f"VITALS_COMPONENTS). Available: {', '.join(COMPONENT_MODULES)}.",
)
@click.option(
    "--shutdown-timeout",
    envvar="VITALS_SHUTDOWN_TIMEOUT",
    type=click.FloatRange(0),
    default=30.0,
    show_default=True,
    help="Seconds that requests in progress get to finish after SIGTERM (env VITALS_SHUTDOWN_TIMEOUT).",
)
def serve(
    *,
    settings: Settings,
    host: str,
    http_port: int,
    grpc_port: int,
    insecure_no_auth: bool,
    components: str,
    shutdown_timeout: float,
) -> None:
    """Run the collector: OTLP/HTTP and OTLP/gRPC receivers, PHI redaction and the durable writer,
    with the SLA engine, alerting and queue pollers when they are installed.

    \b
    Endpoints (HTTP port):
      POST /v1/traces, /v1/metrics   OTLP/HTTP, protobuf or JSON, optionally gzip
      GET  /healthz, /readyz         liveness and readiness
      GET  /metrics                  the collector's own Prometheus metrics
    gRPC port: TraceService/Export and MetricsService/Export.

    \b
    Other environment variables:
      VITALS_HASH_SECRET             secret for the HMAC of hc.key.* values
                                     (or redaction.hash_secret_env in collector.yaml)
      VITALS_SQLITE_SYNCHRONOUS      NORMAL (default: survives kill -9) or FULL (also power loss)
      VITALS_WRITER_LINGER           seconds a commit waits for more requests (default 0.03)

    A 200 means the data is committed. SIGTERM or SIGINT stops accepting, commits what was
    accepted and exits 0.
    """
    try:
        config = load_collector_config(settings.config_dir)
    except ConfigError as exc:
        raise click.ClickException(f"invalid collector config:\n{exc}") from exc
    chosen = components.strip().lower()
    wanted: tuple[str, ...] | None
    if chosen == "all":
        wanted = None
    elif chosen == "none":
        wanted = ()
    else:
        wanted = tuple(part.strip() for part in components.split(",") if part.strip())
        unknown = sorted(set(wanted) - set(COMPONENT_MODULES))
        if unknown:
            raise click.BadParameter(f"unknown component(s) {', '.join(unknown)}", param_hint="--components")
    options = ServeOptions(
        host=host,
        http_port=http_port,
        grpc_port=grpc_port,
        insecure_no_auth=insecure_no_auth,
        components=wanted,
        shutdown_timeout=shutdown_timeout,
    )
    collector = Collector(settings, config, options)
    try:
        asyncio.run(collector.serve_until_signalled())
    except (StartupError, ConfigError) as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
