"""``vitals serve`` as an object: build the collector and its components, run, stop cleanly.

Start: migrate the store, start the writer, build the HTTP app, install the components
the caller hands over (``vitals.shell.serve`` chooses them), start their scheduler, then open the listeners.
Stop (SIGTERM/SIGINT): close the listeners and refuse new requests, let requests in progress
finish (each is answered after its commit), stop the scheduler, commit everything queued, exit;
all of it within the shutdown timeout (``collector.stopping``): what outlasts its share is left
behind, named in the log, and ``vitals serve`` exits with ``EXIT_UNFINISHED``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
import orjson
from aiohttp import web
from apscheduler.schedulers.background import BackgroundScheduler
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, ProcessCollector, generate_latest
from sqlalchemy.engine import Engine

from access.cache import TokenCache
from access.tokens import SqlTokenStore
from collector.auth import TokenAuthenticator
from collector.config import CollectorConfig
from collector.grpc_receiver import GrpcReceiver, grpc_credentials, grpc_server, grpc_server_options
from collector.hash_secret import resolve_hash_secret
from collector.http_receiver import HttpReceiver
from collector.ingest import Ingest
from collector.redaction import Redactor
from collector.rows import WriteBatch, metric_rows
from collector.self_metrics import CollectorMetrics
from collector.sql_sink import SqlSink
from collector.stopping import (
    EXIT_UNFINISHED,
    RunningJobs,
    StopBudget,
    Watchdog,
    aiohttp_grace,
    exit_now,
    in_thread,
    lingering_threads,
    within,
)
from collector.writer import CommitObserver, GroupCommitWriter, Writer
from collector.writer_process import ProcessWriter
from vitals.kernel.db import create_engine, migrate
from vitals.kernel.runtime import Component, ServiceContext
from vitals.kernel.settings import Settings

log = logging.getLogger("vitals.serve")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Longest /readyz waits for the components' fields (``ServiceContext.readiness``): readiness is
#: asked by health checks with short timeouts, and a slow store is news, not unreadiness.
READINESS_TIMEOUT_S = 5.0

#: Why /metrics refused a scrape while tokens exist (a token with the read scope is needed).
SCRAPE_REFUSED = {
    401: "/metrics needs a token with the read scope: Authorization: Bearer <token>",
    403: "/metrics needs a token with the read scope; this one lacks it",
}

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


class StartupError(Exception):
    """The collector refuses to start; the message says why and what to do."""


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    http_port: int = 4318
    grpc_port: int = 4317
    insecure_no_auth: bool = False
    #: Installed in this order next to the collector (``vitals.shell.serve`` picks them).
    components: Sequence[Component] = ()
    #: Seconds the whole stop may take after SIGTERM (requests in progress get about two thirds;
    #: see ``collector.stopping.StopBudget``).
    shutdown_timeout: float = 30.0
    #: Bind both ports with SO_REUSEPORT, so that several processes share them and the kernel
    #: spreads the connections (``vitals serve --workers N``). Off by default: two collectors
    #: must not share a port by accident.
    reuse_port: bool = False
    #: The /metrics body from this process's registry (default: its own exposition). ``vitals
    #: serve --workers N`` gives every worker's, so a scrape covers the instance.
    metrics_exposition: Callable[[CollectorRegistry], bytes] | None = None


def check_exposure(options: ServeOptions, config: CollectorConfig, *, store_tokens: bool = False) -> None:
    """Refuse to listen beyond this machine with nobody's token or certificate required.

    ``store_tokens``: whether the store holds an active API token (``vitals tokens``), of any scope.
    A required client certificate (``tls.require_client_cert``) authenticates a sender too.
    """
    if (
        is_loopback(options.host)
        or config.tokens
        or store_tokens
        or config.tls.require_client_cert
        or options.insecure_no_auth
    ):
        return
    raise StartupError(
        f"refusing to listen on {options.host} without authentication: no token exists. Create an "
        "ingest token (vitals tokens create SOURCE --scope ingest), or add tokens to collector.yaml "
        "(tokens: [{name: ..., token: {env: ...}}]), or require client certificates (tls: "
        "require_client_cert), or pass --insecure-no-auth if this network is trusted"
    )


@dataclass
class _Parts:
    ctx: ServiceContext
    writer: Writer
    ingest: Ingest
    http: HttpReceiver
    grpc: GrpcReceiver
    auth: TokenAuthenticator


@dataclass
class _Running:
    runner: web.AppRunner
    grpc_server: grpc.aio.Server
    http_port: int
    grpc_port: int


class Collector:
    """The collector process: receivers, writer, components. ``start``/``stop`` run in its loop."""

    def __init__(
        self,
        settings: Settings,
        config: CollectorConfig,
        options: ServeOptions | None = None,
    ) -> None:
        self.settings = settings
        self.config = config
        self.options = options or ServeOptions()
        self.registry = CollectorRegistry()
        self.metrics = CollectorMetrics(self.registry)
        self.ready = False
        self.stop_requested = asyncio.Event()
        self._parts: _Parts | None = None
        self._running: _Running | None = None
        self._signalled_at: float | None = None
        self._jobs = RunningJobs()
        #: What the stop is waiting for now (for the watchdog's log line).
        self._stopping = "not stopping"
        self._cut_off = 0
        self._token_cache: TokenCache | None = None

    # -- building ---------------------------------------------------------------------------

    def _build(self) -> _Parts:
        engine = create_engine(self.settings.db_url)
        started = time.perf_counter()
        migrate(engine)
        log.info("store ready (migrated in %.2fs)", time.perf_counter() - started)
        self._token_cache = TokenCache(SqlTokenStore(engine))
        check_exposure(self.options, self.config, store_tokens=self._token_cache.any_active())
        limits = self.config.limits
        writer = store_writer(self.settings.db_url, engine, limits.max_in_flight, self.metrics.committed)
        if self.config.buffer is not None:  # answered once JetStream holds the batch (issue 15)
            from collector.jetstream_buffer import BufferPublisher

            writer = BufferPublisher(self.config.buffer, max_in_flight_bytes=limits.max_in_flight)
        self.metrics.watch_writer(
            lambda: writer.queue_depth, lambda: writer.queued_rows, lambda: writer.in_flight_bytes
        )
        ProcessCollector(registry=self.registry)
        app = web.Application(client_max_size=limits.max_body, middlewares=[self._count_cut_off])

        def write_metric_points(rows: Sequence[Mapping[str, Any]]) -> None:
            writer.write_blocking(WriteBatch(metric_points=metric_rows(rows)))

        ctx = ServiceContext(
            settings=self.settings,
            engine=engine,
            scheduler=BackgroundScheduler(timezone="UTC"),
            http_app=app,
            registry=self.registry,
            write_metric_points=write_metric_points,
        )
        secret = resolve_hash_secret(self.config, engine)
        ingest = Ingest(
            Redactor(self.config.redaction.policy(), secret),
            writer,
            self.metrics,
            ctx.metric_transforms,
            self.config.sampling.policy(),
        )
        auth = TokenAuthenticator(
            self.config.token_map(),
            self._token_cache,
            anonymous_allowed=is_loopback(self.options.host)
            or self.options.insecure_no_auth
            or self.config.tls.require_client_cert,
        )
        http = HttpReceiver(ingest, auth, self.metrics, max_body=limits.max_body)
        http.add_routes(app)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        ctx.status["collector"] = "receiving OTLP/HTTP and OTLP/gRPC"
        return _Parts(ctx, writer, ingest, http, GrpcReceiver(ingest, auth, self.metrics, limits), auth)

    def _install_components(self, ctx: ServiceContext) -> None:
        for component in self.options.components:
            component.install(ctx)
            log.info("installed component %s", component.__name__)

    @property
    def parts(self) -> _Parts:
        if self._parts is None:
            raise RuntimeError("the collector has not been started")
        return self._parts

    @property
    def ctx(self) -> ServiceContext:
        return self.parts.ctx

    @property
    def writer(self) -> Writer:
        return self.parts.writer

    # -- HTTP endpoints of the process itself ------------------------------------------------

    @web.middleware
    async def _count_cut_off(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Count the requests that a stop cancels (never answered, so their clients retry)."""
        try:
            return await handler(request)
        except asyncio.CancelledError:
            self._cut_off += 1
            raise

    async def _healthz(self, request: web.Request) -> web.Response:
        alive = self.writer.alive or not self.ready
        return web.Response(status=200 if alive else 503, text="ok\n" if alive else "writer stopped\n")

    async def _readyz(self, request: web.Request) -> web.Response:
        ready = self.ready and self.writer.alive
        body: dict[str, Any] = {
            "status": "ready" if ready else "not ready",
            "components": self.ctx.status,
            "writer_queue_depth": self.writer.queue_depth,
            "in_flight_bytes": self.writer.in_flight_bytes,
        }
        if self.ctx.readiness:
            work = asyncio.get_running_loop().run_in_executor(None, self._readiness_facts)
            try:
                facts = await asyncio.wait_for(work, READINESS_TIMEOUT_S)
            except TimeoutError:
                facts = {"readiness_errors": [f"no answer within {READINESS_TIMEOUT_S:g}s"]}
            body.update({k: v for k, v in facts.items() if k not in body})
        return web.Response(
            status=200 if ready else 503, body=orjson.dumps(body), content_type="application/json"
        )

    def _readiness_facts(self) -> dict[str, Any]:
        """The components' /readyz fields (``ServiceContext.readiness``); a failing one is named
        in ``readiness_errors``: a store that is slow to answer is news, not unreadiness."""
        facts: dict[str, Any] = {}
        errors: list[str] = []
        for provide in self.ctx.readiness:
            try:
                facts.update(provide())
            except Exception as exc:
                log.warning("a /readyz field failed: %s", exc, exc_info=True)
                errors.append(f"{getattr(provide, '__qualname__', provide)}: {exc}")
        if errors:
            facts["readiness_errors"] = errors
        return facts

    async def _metrics(self, request: web.Request) -> web.Response:
        # Judged in a thread: a reload of the store's tokens queries the database.
        authorization = request.headers.get("Authorization")
        status = await asyncio.get_running_loop().run_in_executor(
            None, self.parts.auth.reader_status, authorization
        )
        if status != 200:
            return web.json_response(
                {"error": SCRAPE_REFUSED[status]},
                status=status,
                headers={"WWW-Authenticate": 'Bearer realm="vitals"'} if status == 401 else None,
            )
        exposition = self.options.metrics_exposition or generate_latest
        body = await asyncio.get_running_loop().run_in_executor(None, exposition, self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Build everything and open the listeners; on failure, undo what was started."""
        parts = self._parts = self._build()
        try:
            parts.writer.start()
            self._install_components(parts.ctx)
            parts.ctx.scheduler.add_listener(self._jobs.observe, RunningJobs.MASK)
            parts.ctx.scheduler.start()
            self._running = await self._listen(parts)
        except BaseException:
            await self.stop()
            raise
        self.ready = True
        host = self.options.host
        tls = self.config.tls
        log.info(
            "collector listening: OTLP/HTTP %s://%s:%d (/v1/traces, /v1/metrics), OTLP/gRPC %s:%d%s; "
            "authentication %s",
            "https" if tls.cert_file else "http",
            _address(host),
            self.http_port,
            _address(host),
            self.grpc_port,
            (" (TLS, client certificates required)" if tls.require_client_cert else " (TLS)")
            if tls.cert_file
            else "",
            self._authentication(host),
        )

    def _authentication(self, host: str) -> str:
        """How the start-up log describes authentication (the loopback rule: docs/how-to/tokens.md)."""
        cache = self._token_cache
        if self.config.tokens or (cache is not None and cache.any_created()):
            ttl = cache.ttl if cache is not None else 0
            return (
                f"on (a token is required; the collector refuses a revoked API token within {ttl:g}s, "
                "the API at once)"
            )
        if is_loopback(host):
            return "off: no token exists, so listening on loopback only (see vitals tokens create)"
        if self.config.tls.require_client_cert:
            return "by client certificate only (mutual TLS; no token exists)"
        return "OFF (insecure: no token exists and --insecure-no-auth was given)"

    async def _listen(self, parts: _Parts) -> _Running:
        host = self.options.host
        try:
            tls = self.config.tls.server()
            ssl_context = tls.context() if tls is not None else None
            credentials = grpc_credentials(tls) if tls is not None else None
        except ValueError as exc:  # TlsFileError too: a file changed since the config was loaded
            raise StartupError(f"cannot serve TLS: {exc}") from exc
        runner = web.AppRunner(
            parts.ctx.http_app,
            access_log=None,
            auto_decompress=False,
            shutdown_timeout=aiohttp_grace(self.options.shutdown_timeout),
        )
        await runner.setup()
        try:
            site = web.TCPSite(
                runner,
                host,
                self.options.http_port,
                backlog=1024,
                reuse_port=self.options.reuse_port or None,
                ssl_context=ssl_context,
            )
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise StartupError(
                f"cannot listen for OTLP/HTTP on {host}:{self.options.http_port}: {exc}"
            ) from exc
        server = shared_grpc_server(parts.grpc) if self.options.reuse_port else grpc_server(parts.grpc)
        try:
            address = f"{_address(host)}:{self.options.grpc_port}"
            if credentials is None:
                grpc_port = server.add_insecure_port(address)
            else:
                grpc_port = server.add_secure_port(address, credentials)
        except RuntimeError:
            grpc_port = 0
        if grpc_port == 0:
            await runner.cleanup()
            raise StartupError(f"cannot listen for OTLP/gRPC on {host}:{self.options.grpc_port}")
        await server.start()
        return _Running(runner, server, _bound_port(runner, self.options.http_port), grpc_port)

    @property
    def http_port(self) -> int:
        assert self._running is not None
        return self._running.http_port

    @property
    def grpc_port(self) -> int:
        assert self._running is not None
        return self._running.grpc_port

    async def stop(self) -> list[str]:
        """Stop accepting, finish what was accepted, commit it, release everything; all within
        the shutdown timeout, counted from the signal (or from now).

        Returns what did not finish in time (also logged; empty after a clean stop). Nothing of
        it was acknowledged: a request is answered only after its commit.
        """
        self.ready = False
        parts, self._parts = self._parts, None
        running, self._running = self._running, None
        if parts is None:
            return []
        started = self._signalled_at if self._signalled_at is not None else time.monotonic()
        budget = StopBudget(started, self.options.shutdown_timeout)
        unfinished: list[str] = []
        parts.ctx.stop_event.set()
        parts.http.stopping = True
        parts.grpc.stopping = True
        # The scheduler stops beside the listeners: its jobs derive from what is stored and
        # resume from their committed positions, so they need not wait for the last requests.
        scheduler: asyncio.Future[bool] | None = None
        if parts.ctx.scheduler.running:
            scheduler = asyncio.ensure_future(
                in_thread(
                    "scheduler shutdown",
                    parts.ctx.scheduler.shutdown,
                    budget.left(budget.components_end),
                )
            )
        if running is not None:
            self._stopping = "requests in progress"
            unfinished += await self._stop_listeners(parts, running, budget)
        parts.ingest.close()
        scheduler_stopped = True
        if scheduler is not None:
            self._stopping = f"scheduler jobs: {', '.join(self._jobs.names()) or 'none'}"
            scheduler_stopped = await scheduler
            if not scheduler_stopped:
                unfinished.append(f"scheduler job(s) still running: {', '.join(self._jobs.names()) or '?'}")
        unfinished += await self._run_stop_hooks(parts.ctx, budget, scheduler_stopped)
        queued = parts.writer.queue_depth
        self._stopping = f"the writer ({queued} request(s) not committed yet)"
        drained: list[bool] = []
        closed = await in_thread(
            "writer close",
            lambda: drained.append(parts.writer.close(budget.left(budget.end))),
            budget.left(budget.end) + budget.margin / 2,
        )
        if not (closed and all(drained)):
            unfinished.append(
                f"the store writer ({queued} request(s) not committed; none of them was acknowledged)"
            )
        parts.ctx.engine.dispose()
        if parts.ingest.busy:
            unfinished.append("the ingest worker (a request being decoded and redacted; not acknowledged)")
        if unfinished:
            log.error(
                "stop: not finished within the shutdown timeout (%gs), left behind: %s",
                self.options.shutdown_timeout,
                "; ".join(unfinished),
            )
        self._stopping = "exiting"
        log.info("collector stopped")
        return unfinished

    async def _stop_listeners(self, parts: _Parts, running: _Running, budget: StopBudget) -> list[str]:
        """Close both listeners; requests in progress get until ``budget.requests_end`` to
        finish, then they are cancelled, unanswered (the HTTP runner was built for that:
        ``aiohttp_grace``)."""
        grace = max(budget.left(budget.requests_end), 0.001)
        grpc_cut_off = False

        async def stop_grpc() -> None:
            nonlocal grpc_cut_off
            calls = parts.grpc.calls
            await running.grpc_server.stop(grace)
            # gRPC cancels the calls still running at the grace: it returned no earlier.
            grpc_cut_off = calls > 0 and budget.left(budget.requests_end) <= 0

        stopped = await within(
            asyncio.gather(stop_grpc(), running.runner.cleanup()), budget.left(budget.components_end)
        )
        unfinished = []
        if self._cut_off:
            log.warning(
                "stop: %d OTLP/HTTP request(s) still in progress after %.1fs were cancelled, "
                "unanswered (their clients retry)",
                self._cut_off,
                grace,
            )
        if grpc_cut_off:
            log.warning(
                "stop: OTLP/gRPC calls still in progress after %.1fs were cancelled, unanswered "
                "(their clients retry)",
                grace,
            )
        if parts.grpc.calls:
            unfinished.append(f"{parts.grpc.calls} OTLP/gRPC call(s)")
        if not stopped:
            unfinished.append("closing the listeners (requests that ignored cancellation)")
        return unfinished

    async def _run_stop_hooks(
        self, ctx: ServiceContext, budget: StopBudget, scheduler_stopped: bool
    ) -> list[str]:
        """The components' stop hooks, in order, until ``budget.components_end``. None runs
        while a scheduler job is still running: a hook finishes the work of that very job."""
        names = [_name(hook) for hook in ctx.on_stop]
        if not scheduler_stopped and names:
            return [f"stop hook(s) not run (a scheduler job was still running): {', '.join(names)}"]
        for index, (hook, name) in enumerate(zip(ctx.on_stop, names, strict=True)):
            self._stopping = f"stop hook {name}"
            if not await in_thread(f"stop hook {name}", hook, budget.left(budget.components_end)):
                skipped = names[index + 1 :]
                return [f"stop hook {name}"] + (
                    [f"stop hook(s) not run: {', '.join(skipped)}"] if skipped else []
                )
        return []

    def _still_running(self) -> str:
        threads = lingering_threads()
        return f"{self._stopping}; threads: {', '.join(threads) or 'none'}"

    async def serve_until_signalled(self) -> None:
        """Run until SIGTERM or SIGINT (the ``vitals serve`` main loop), then stop.

        If the stop leaves anything behind, or the process is still alive when the shutdown
        timeout has passed (a watchdog thread), it ends here with ``os._exit(EXIT_UNFINISHED)``
        after flushing the log: the interpreter would otherwise wait for those threads at exit.
        """
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._on_signal, signum)
        await self.start()
        await self.stop_requested.wait()
        started = self._signalled_at if self._signalled_at is not None else time.monotonic()
        Watchdog(StopBudget(started, self.options.shutdown_timeout).deadline, self._still_running).start()
        if await self.stop():
            exit_now(EXIT_UNFINISHED)

    def _on_signal(self, signum: int) -> None:
        if self.stop_requested.is_set():
            log.warning("already stopping; waiting for accepted data to be committed")
            return
        self._signalled_at = time.monotonic()
        log.info(
            "%s received: stopping within %gs (accepted data is committed first)",
            signal.Signals(signum).name,
            self.options.shutdown_timeout,
        )
        self.stop_requested.set()


def _name(hook: Callable[[], object]) -> str:
    owner = getattr(hook, "__self__", None)
    qualname = getattr(hook, "__qualname__", None) or repr(hook)
    module = getattr(owner if owner is not None else hook, "__module__", None) or ""
    return f"{module}.{qualname}" if module and owner is None else qualname


def _address(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def shared_grpc_server(receiver: GrpcReceiver) -> grpc.aio.Server:
    """``grpc_server`` with SO_REUSEPORT on: the port is shared by the workers of one ``vitals serve``."""
    options = [(k, v) for k, v in grpc_server_options(receiver.max_message) if k != "grpc.so_reuseport"]
    server = grpc.aio.server(options=[*options, ("grpc.so_reuseport", 1)])
    server.add_generic_rpc_handlers(receiver.handlers())
    return server


def store_writer(db_url: str, engine: Engine, max_in_flight: int, on_commit: CommitObserver) -> Writer:
    """The store's writer: group commit in a child process (its own core and GIL), unless the
    store is an in-memory SQLite database, which only this process can see."""
    if engine.dialect.name == "sqlite" and engine.url.database in (None, "", ":memory:"):
        return GroupCommitWriter(SqlSink(engine), max_in_flight_bytes=max_in_flight, on_commit=on_commit)
    return ProcessWriter(db_url, max_in_flight_bytes=max_in_flight, on_commit=on_commit)


def _bound_port(runner: web.AppRunner, requested: int) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return requested


class CollectorThread:
    """A collector running on its own event loop in a background thread (tests, benchmarks,
    ``vitals demo``). ``start()`` returns once it listens; ``stop()`` shuts it down cleanly."""

    def __init__(self, collector: Collector) -> None:
        self.collector = collector
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="vitals-collector", daemon=True)

    def start(self) -> Collector:
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.collector.start(), self._loop).result(timeout=120)
        except BaseException:
            self._end_loop()
            raise
        return self.collector

    def stop(self) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self.collector.stop(), self._loop).result(timeout=120)
        finally:
            self._end_loop()

    def _end_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()


__all__ = ["Collector", "CollectorThread", "ServeOptions", "StartupError", "check_exposure", "is_loopback"]
