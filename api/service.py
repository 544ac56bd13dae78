"""The API as a ``vitals serve`` component: its own port, the collector's event loop and store.

``vitals.shell.serve`` creates ``ApiComponent(host, port, ...)`` and hands it to the collector
with the others. ``install`` binds the port at once (a busy port stops the start, as the OTLP
ports do) and serves from the collector's loop; when the collector stops (``ctx.stop_event``)
the API stops accepting and its requests in progress get two thirds of ``--shutdown-timeout``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import threading
import time
from collections.abc import Callable, Mapping

from access.audit import SqlAuditLog
from access.model import AuditLog, TokenStore
from access.tokens import SqlTokenStore
from alerts.config import API_TOKEN_ENV
from alerts.schema import API_TOKENS_NOW
from api.app import OPENAPI_PATH, PREFIX, create_app
from api.deps import ApiDeps, ConfigDocument
from api.routing import RoutingConfig
from api.server import ApiServer, bind
from collector.service import StartupError, is_loopback
from vitals.kernel.runtime import ServiceContext

log = logging.getLogger(__name__)

#: The API's port unless ``--api-port`` (or VITALS_API_PORT) says otherwise.
API_PORT = 8502


class ApiComponent:
    """Serves ``/api/v1`` next to the collector; ``port`` is the bound one once installed."""

    __name__ = "api.service"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = API_PORT,
        *,
        reuse_port: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        shutdown_timeout: float = 30.0,
        clock: Callable[[], float] = time.time,
        tokens: Callable[[ServiceContext], TokenStore] | None = None,
        audit: Callable[[ServiceContext], AuditLog] | None = None,
        insecure_no_auth: bool = False,
        environ: Mapping[str, str] | None = None,
        config_documents: Mapping[str, ConfigDocument] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.reuse_port = reuse_port
        self.ssl_context = ssl_context
        self.shutdown_timeout = shutdown_timeout
        self.clock = clock
        self.tokens = tokens or (lambda ctx: SqlTokenStore(ctx.engine))
        self.audit = audit or (lambda ctx: SqlAuditLog(ctx.engine))
        self.server: ApiServer | None = None
        self._authentication = ""
        #: The loopback rule: the API never asks for client certificates, so beyond loopback only
        #: an API token (or ``--insecure-no-auth``) can authenticate its callers.
        self.anonymous_allowed = is_loopback(host) or insecure_no_auth
        self.environ = os.environ if environ is None else environ
        #: Other components' files for ``/api/v1/config`` (``ApiDeps.config_documents``).
        self.config_documents = dict(config_documents or {})

    def install(self, ctx: ServiceContext) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError("the API component is installed from the collector's event loop") from None
        if API_TOKEN_ENV in self.environ:
            # A warning, not a refusal: the variable is often set by a unit file or a secret
            # manager shared with the previous version, and refusing would stop ingest on an
            # upgrade for a value that no longer does anything. Nothing is opened by ignoring it:
            # beyond loopback the API still refuses to start without an API token.
            log.warning(
                "%s is set but no longer read: the API does not check it. %s",
                API_TOKEN_ENV,
                API_TOKENS_NOW,
            )
        config_dir = ctx.settings.config_dir
        # Routing only (an incident's alerts), read without alerting's secrets.
        holder = RoutingConfig(config_dir, self.clock)
        tokens = self.tokens(ctx)
        if not self.anonymous_allowed and not _api_token_exists(tokens, self.clock()):
            raise StartupError(
                f"refusing to serve the API on {self.host} without authentication: no active API "
                "token with the read, write or admin scope exists (ingest tokens, collector.yaml's "
                "tokens and client certificates are for senders). Create one (vitals tokens create "
                "NAME --scope read), or pass --insecure-no-auth if this network is trusted"
            )
        self._authentication = _authentication(tokens, self.anonymous_allowed, is_loopback(self.host))
        deps = ApiDeps(
            ctx.engine,
            tokens,
            self.audit(ctx),
            config_dir,
            holder,
            self.clock,
            self.anonymous_allowed,
            self.config_documents,
        )
        try:
            sock = bind(self.host, self.port, reuse_port=self.reuse_port)
        except OSError as exc:
            raise StartupError(f"cannot listen for the API on {self.host}:{self.port}: {exc}") from exc
        server = self.server = ApiServer(
            create_app(deps),
            sock,
            ssl_context=self.ssl_context,
            shutdown_timeout=self.shutdown_timeout,
            stopping=ctx.stop_event.is_set,
        )
        self.port = server.port
        stopped = threading.Event()
        server.task = loop.create_task(server.server.serve(sockets=[sock]))
        server.task.add_done_callback(lambda task: stopped.set())

        def wait_for_api() -> None:
            server.request_stop()
            if not stopped.wait(self.shutdown_timeout):
                log.warning("the API had requests in progress at the end of the shutdown timeout")
            sock.close()

        ctx.on_stop.append(wait_for_api)
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        url = f"{server.scheme}://{host}:{self.port}"
        ctx.status["api"] = f"JSON API on {url}{PREFIX} (OpenAPI: {url}{OPENAPI_PATH})"
        log.info(
            "API listening on %s%s (OpenAPI document %s%s); authentication %s",
            url,
            PREFIX,
            url,
            OPENAPI_PATH,
            self._authentication,
        )


def _api_token_exists(tokens: TokenStore, now: float) -> bool:
    """Whether an active token can call the API (an ingest-only token reads nothing here)."""
    return any(info.active(now) and info.scopes & {"read", "write", "admin"} for info in tokens.list())


def _authentication(tokens: TokenStore, anonymous_allowed: bool, loopback: bool) -> str:
    """How the start line describes authentication (docs/reference/api.md: anonymous access)."""
    if not anonymous_allowed or tokens.any_created():
        return "on (a token is required; a revoked token is refused at once)"
    if loopback:
        return "off: no token was ever created, so anonymous on loopback only (see vitals tokens create)"
    return "OFF (insecure: no token was ever created and --insecure-no-auth was given)"


__all__ = ["API_PORT", "ApiComponent"]
