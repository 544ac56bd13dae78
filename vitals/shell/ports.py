"""Where the processes the shell starts listen: ``--host`` and the port options, declared once.

``vitals serve`` and ``vitals demo`` both bind the collector's OTLP ports (``vitals serve`` also
the JSON API's, the demo the dashboard's): loopback unless told otherwise, the same default
ports, any port from 0 to 65535. Each command says in its help what a busy or zero port does for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from api.service import API_PORT  # the API's own default, declared once

F = TypeVar("F", bound=Callable[..., Any])

#: The OTLP ports every OpenTelemetry exporter tries first.
OTLP_HTTP_PORT = 4318
OTLP_GRPC_PORT = 4317


def host_option(help: str, *, envvar: str | None = None) -> Callable[[F], F]:
    """``--host ADDRESS``, loopback by default, handed to the command as ``host: str``."""
    return click.option("--host", envvar=envvar, default="127.0.0.1", show_default=True, help=help)


def port_option(flag: str, *, default: int, help: str, envvar: str | None = None) -> Callable[[F], F]:
    """A port option such as ``--http-port`` (0 to 65535), handed to the command as an int."""
    return click.option(
        flag, envvar=envvar, type=click.IntRange(0, 65535), default=default, show_default=True, help=help
    )


__all__ = ["API_PORT", "OTLP_GRPC_PORT", "OTLP_HTTP_PORT", "host_option", "port_option"]
