"""``vitals serve --workers N``: one supervising parent, N collector processes on the same ports.

One collector process decodes, redacts and converts on one core (its store writer, a child
process, takes part of a second). To use every core of a machine for ingest, the parent starts N
workers that bind the OTLP/HTTP, OTLP/gRPC and API ports with ``SO_REUSEPORT``: the kernel spreads the
incoming connections over them, so any worker takes any request and none of them is a proxy.

The parent chooses the ports before it starts anyone (port 0 becomes a free port, the same for
every worker) and keeps them bound, not listening, for its lifetime: a worker that is restarted
binds the same port again and nobody else can take it meanwhile. It restarts a worker that dies
(at once after a worker that ran for a while, with a growing pause for one that dies at start),
forwards SIGTERM and SIGINT, and exits as a single ``vitals serve`` would: 0 after a clean stop,
3 if a worker left something unfinished, 2 if a worker could not start.

Every worker installs every component, so whatever answers HTTP (the alerting API, /readyz,
/metrics) and whatever shapes ingest (metric transforms) is the same in each. Scheduled jobs
(SLA engine, alert evaluation and delivery, rollups, retention, queue pollers) run in worker 0
only: the queue pollers take no lease and would poll each broker N times, and the others would
only contend for their leases. Leases still decide between several machines, and the parent
restarts a dead worker 0 within a second or so. Each response carries a ``Vitals-Worker`` header.

/metrics covers the instance: the worker a scrape lands on returns every worker's metrics, each
labelled ``worker`` (``vitals.shell.worker_metrics``: the workers serve their own on Unix sockets
in a directory the parent makes for the instance and removes at exit).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from aiohttp import web
from prometheus_client import Gauge

from vitals.kernel.runtime import ServiceContext
from vitals.kernel.settings import Settings
from vitals.shell.memory import MemoryComponent, limit_arenas
from vitals.shell.ports import API_PORT
from vitals.shell.worker_metrics import ExpositionServer, InstanceExposition, socket_path

log = logging.getLogger("vitals.serve")

#: Response header naming the worker that answered (its index, 0 to N-1).
WORKER_HEADER = "Vitals-Worker"
#: Exit codes of ``vitals serve`` (``collector.stopping.EXIT_UNFINISHED`` is 3).
EXIT_STARTUP = 2
EXIT_UNFINISHED = 3
#: A worker that dies sooner than this after its start is restarted after a growing pause.
QUICK_DEATH_S = 10.0
MAX_RESTART_PAUSE_S = 30.0
#: Beyond the shutdown timeout, how long the parent waits for a worker before it kills it.
STOP_MARGIN_S = 15.0
#: prctl(2) option: the signal a process gets when its parent dies.
PR_SET_PDEATHSIG = 1


def parse_workers(value: str) -> int:
    """``--workers``: a count of at least 1, or ``auto`` for the CPUs this process may use."""
    text = value.strip().lower()
    if text == "auto":
        return max(1, len(os.sched_getaffinity(0)))
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise ValueError(f"expected a number of workers (1 or more) or 'auto', got {value!r}")
    return count


def sqlite_refusal(workers: int) -> str:
    """Why ``--workers N`` (N > 1) is refused on SQLite (pure: the tests read it)."""
    return (
        f"--workers {workers} needs PostgreSQL: SQLite takes one writer at a time, so one vitals serve "
        "process serves a SQLite store (--workers 1). Use --db postgresql://... to run several "
        "collector processes over one store."
    )


def restart_pause(quick_deaths: int) -> float:
    """Seconds before restarting a worker after ``quick_deaths`` deaths in a row soon after start."""
    if quick_deaths <= 1:
        return 0.0
    return float(min(MAX_RESTART_PAUSE_S, 2 ** (quick_deaths - 2)))


def exit_code(codes: Sequence[int | None]) -> int:
    """The parent's exit code from its workers' last exit codes (None or negative: killed)."""
    if any(code == EXIT_STARTUP for code in codes):
        return EXIT_STARTUP
    if any(code != 0 for code in codes):
        return EXIT_UNFINISHED
    return 0


# -- the ports -----------------------------------------------------------------------------------


def reserve_port(host: str, port: int) -> socket.socket:
    """Bind (without listening) ``host:port`` with SO_REUSEPORT; port 0 becomes a free port.

    The port is first bound without SO_REUSEPORT, which fails if anyone holds it, so two
    ``vitals serve`` never share a port by accident; the workers then bind beside the socket
    returned here, which the parent keeps for its lifetime.
    """
    family, kind, proto, _, address = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(address)
        chosen = int(probe.getsockname()[1])
    held = socket.socket(family, kind, proto)
    try:
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        held.bind((address[0], chosen, *address[2:]))
    except OSError:
        held.close()
        raise
    return held


# -- in each worker ------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerPlan:
    """What every worker is started with (pickled to the spawned process)."""

    settings: Settings
    components: tuple[str, ...]
    host: str
    http_port: int
    grpc_port: int
    insecure_no_auth: bool
    shutdown_timeout: float
    log_level: int
    workers: int
    #: The JSON API's port, shared by the workers like the OTLP ones.
    api_port: int = API_PORT
    #: Whether collector.yaml serves TLS (the start-up line then says https).
    tls: bool = False
    #: The instance's private directory where each worker serves its own metrics (made by
    #: :func:`supervise`); empty: each worker's /metrics is its own.
    metrics_dir: str = ""


class WorkerRole:
    """The component that makes a collector worker ``index`` of ``count``: it names itself in a
    response header, /metrics and /readyz, and outside worker 0 drops the scheduled jobs."""

    __name__ = "vitals.shell.workers"

    def __init__(self, index: int, count: int, metrics_dir: str = "") -> None:
        self.index = index
        self.count = count
        self.metrics_dir = metrics_dir

    def install(self, ctx: ServiceContext) -> None:
        worker = str(self.index)

        async def tag(request: web.Request, response: web.StreamResponse) -> None:
            response.headers[WORKER_HEADER] = worker

        ctx.http_app.on_response_prepare.append(tag)
        Gauge(
            "vitals_serve_worker",
            "1 for each worker of vitals serve --workers N (its index; the Vitals-Worker header "
            "names the one that answered)",
            ["worker", "workers"],
            registry=ctx.registry,
        ).labels(worker, str(self.count)).set(1)
        if self.metrics_dir:
            server = ExpositionServer(ctx.registry, socket_path(self.metrics_dir, self.index))
            server.start()
            ctx.on_stop.append(server.stop)
        if self.index == 0:
            ctx.status["worker"] = f"worker 0 of {self.count} (pid {os.getpid()}): runs the scheduled jobs"
            return
        dropped = len(ctx.scheduler.get_jobs())
        ctx.scheduler.remove_all_jobs()
        ctx.status["worker"] = (
            f"worker {self.index} of {self.count} (pid {os.getpid()}): receives only; "
            f"its {dropped} scheduled job(s) run in worker 0"
        )


def worker_main(plan: WorkerPlan, index: int, ready: Connection) -> None:
    """A worker's process: one collector on the shared ports; tells the parent once it listens."""
    from collector.config import load_collector_config
    from collector.service import Collector, ServeOptions, StartupError
    from vitals.kernel.configfile import ConfigError
    from vitals.shell import status
    from vitals.shell.serve import api_component, assemble

    _end_with_parent()
    limit_arenas()  # inherited from the parent's environment; mallopt for this process too
    logging.basicConfig(
        level=plan.log_level, format=f"%(asctime)s %(levelname)s %(name)s [worker {index}]: %(message)s"
    )
    if plan.log_level > logging.DEBUG:
        logging.getLogger("alembic").setLevel(logging.WARNING)
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
    try:
        config = load_collector_config(plan.settings.config_dir)
        options = ServeOptions(
            host=plan.host,
            http_port=plan.http_port,
            grpc_port=plan.grpc_port,
            insecure_no_auth=plan.insecure_no_auth,
            components=(
                *assemble(config, plan.components),
                status,
                MemoryComponent(),
                WorkerRole(index, plan.workers, plan.metrics_dir),
                api_component(
                    plan.host,
                    plan.api_port,
                    plan.shutdown_timeout,
                    reuse_port=True,
                    ssl_context=config.tls.api_context(),
                    insecure_no_auth=plan.insecure_no_auth,
                ),
            ),
            shutdown_timeout=plan.shutdown_timeout,
            reuse_port=True,
            metrics_exposition=(
                InstanceExposition(plan.metrics_dir, index, plan.workers) if plan.metrics_dir else None
            ),
        )
        asyncio.run(_serve(Collector(plan.settings, config, options), ready))
    except (StartupError, ConfigError) as exc:
        print(f"Error: worker {index}: {exc}", file=sys.stderr, flush=True)
        sys.exit(EXIT_STARTUP)


def _end_with_parent() -> None:
    """Ask Linux for a SIGTERM when the parent dies (even by SIGKILL): a worker never outlives its
    supervisor, holding the port with nobody to restart or stop it."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    parent = multiprocessing.parent_process()
    if parent is not None and os.getppid() != parent.pid:  # it died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


async def _serve(collector: Any, ready: Connection) -> None:
    serving = asyncio.ensure_future(collector.serve_until_signalled())
    while not collector.ready and not serving.done():
        await asyncio.wait({serving}, timeout=0.05)
    if collector.ready:
        ready.send(os.getpid())
    await serving


# -- the parent ----------------------------------------------------------------------------------


@dataclass
class _Slot:
    index: int
    process: BaseProcess | None = None
    ready: Connection | None = None
    started: float = 0.0
    quick_deaths: int = 0
    restart_at: float | None = None
    last_exit: int | None = 0


@dataclass
class Supervisor:
    """Starts the workers, restarts the dead, stops them all on SIGTERM/SIGINT."""

    plan: WorkerPlan
    slots: list[_Slot] = field(default_factory=list)
    stopping: bool = False
    failed: bool = False

    def run(self) -> int:
        """Until a signal (or a worker that cannot start); returns the exit code."""
        context = multiprocessing.get_context("spawn")
        self.slots = [_Slot(index) for index in range(self.plan.workers)]
        with _wakeup_on_signals() as wakeup:
            signal.signal(signal.SIGTERM, self._on_signal)
            signal.signal(signal.SIGINT, self._on_signal)
            for slot in self.slots:
                self._start(context, slot)
            announced = False
            while not self.stopping:
                waiting: list[Any] = [wakeup]
                for slot in self.slots:
                    if slot.process is not None and slot.process.sentinel is not None:
                        waiting.append(slot.process.sentinel)
                    if slot.ready is not None:
                        waiting.append(slot.ready)
                due = [slot.restart_at for slot in self.slots if slot.restart_at is not None]
                timeout = max(0.0, min(due) - time.monotonic()) if due else None
                for item in wait(waiting, timeout):
                    if item is wakeup:
                        with contextlib.suppress(BlockingIOError):
                            os.read(wakeup, 64)
                self._collect(context)
                if not announced and all(slot.ready is None and slot.process for slot in self.slots):
                    announced = True
                    self._announce()
            return self._stop_all()

    def _on_signal(self, signum: int, frame: object) -> None:
        if not self.stopping:
            log.info(
                "%s received: stopping %d worker(s) within %gs",
                signal.Signals(signum).name,
                self.plan.workers,
                self.plan.shutdown_timeout,
            )
        self.stopping = True

    def _start(self, context: Any, slot: _Slot) -> int | None:
        """Start the worker of ``slot``; its pid."""
        receive, send = context.Pipe(duplex=False)
        process = context.Process(
            target=worker_main, args=(self.plan, slot.index, send), name=f"vitals-worker-{slot.index}"
        )
        process.start()
        send.close()
        slot.process, slot.ready, slot.started, slot.restart_at = process, receive, time.monotonic(), None
        return int(process.pid) if process.pid is not None else None

    def _collect(self, context: Any) -> None:
        """Note the workers that became ready, restart the dead ones that are due."""
        for slot in self.slots:
            if slot.ready is not None and slot.ready.poll():
                try:
                    pid = slot.ready.recv()
                    log.info("worker %d (pid %s) is listening", slot.index, pid)
                except EOFError:
                    pass
                slot.ready.close()
                slot.ready = None
            process = slot.process
            if process is not None and process.exitcode is not None:
                self._died(slot, process)
            due = slot.restart_at is not None and time.monotonic() >= slot.restart_at
            if slot.process is None and due and not self.stopping:
                log.info("worker %d restarted (pid %s)", slot.index, self._start(context, slot))

    def _died(self, slot: _Slot, process: BaseProcess) -> None:
        code = process.exitcode
        slot.last_exit, slot.process = code, None
        if slot.ready is not None:
            slot.ready.close()
            slot.ready = None
        if code == EXIT_STARTUP:
            log.error("worker %d could not start (exit %d): stopping every worker", slot.index, code)
            self.failed = self.stopping = True
            return
        lived = time.monotonic() - slot.started
        slot.quick_deaths = slot.quick_deaths + 1 if lived < QUICK_DEATH_S else 1
        pause = restart_pause(slot.quick_deaths)
        how = f"signal {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit {code}"
        log.error(
            "worker %d (pid %s) died (%s) after %.1fs; restarting it in %gs",
            slot.index,
            process.pid,
            how,
            lived,
            pause,
        )
        slot.restart_at = time.monotonic() + pause

    def _announce(self) -> None:
        plan = self.plan
        host = f"[{plan.host}]" if ":" in plan.host and not plan.host.startswith("[") else plan.host
        log.info(
            "vitals serve: %d workers listening on OTLP/HTTP %s://%s:%d and OTLP/gRPC %s:%d%s (pids %s); "
            "the API on %s:%d",
            plan.workers,
            "https" if plan.tls else "http",
            host,
            plan.http_port,
            host,
            plan.grpc_port,
            " (TLS)" if plan.tls else "",
            ", ".join(str(slot.process.pid) for slot in self.slots if slot.process),
            host,
            plan.api_port,
        )

    def _stop_all(self) -> int:
        alive = [slot for slot in self.slots if slot.process is not None and slot.process.exitcode is None]
        for slot in alive:
            assert slot.process is not None and slot.process.pid is not None
            with contextlib.suppress(ProcessLookupError):
                os.kill(slot.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.plan.shutdown_timeout + STOP_MARGIN_S
        for slot in alive:
            assert slot.process is not None
            slot.process.join(max(0.0, deadline - time.monotonic()))
            if slot.process.exitcode is None:
                log.error("worker %d (pid %s) did not stop in time: killed", slot.index, slot.process.pid)
                slot.process.kill()
                slot.process.join()
            slot.last_exit = slot.process.exitcode
        code = EXIT_STARTUP if self.failed else exit_code([slot.last_exit for slot in alive])
        log.info("vitals serve: every worker stopped (exit %d)", code)
        return code


@contextlib.contextmanager
def _wakeup_on_signals() -> Iterator[int]:
    """A pipe the signal machinery writes to, so that the supervisor's wait returns at a signal."""
    read, write = os.pipe()
    os.set_blocking(read, False)
    os.set_blocking(write, False)
    previous = signal.set_wakeup_fd(write)
    try:
        yield read
    finally:
        signal.set_wakeup_fd(previous)
        os.close(read)
        os.close(write)


def supervise(plan: WorkerPlan) -> int:
    """Reserve the ports, run the workers until a signal; the exit code of ``vitals serve``."""
    held: list[socket.socket] = []
    # Fresh for each instance (a crashed one's sockets are never read): the workers' own metrics.
    metrics_dir = tempfile.mkdtemp(prefix="vitals-metrics-")
    try:
        ports = (("OTLP/HTTP", plan.http_port), ("OTLP/gRPC", plan.grpc_port), ("the API", plan.api_port))
        for name, port in ports:
            try:
                held.append(reserve_port(plan.host, port))
            except OSError as exc:
                print(f"Error: cannot listen for {name} on {plan.host}:{port}: {exc}", file=sys.stderr)
                return EXIT_STARTUP
        http_port, grpc_port, api_port = (int(sock.getsockname()[1]) for sock in held)
        ported = WorkerPlan(
            **{
                **plan.__dict__,
                "http_port": http_port,
                "grpc_port": grpc_port,
                "api_port": api_port,
                "metrics_dir": metrics_dir,
            }
        )
        return Supervisor(ported).run()
    finally:
        for sock in held:
            sock.close()
        shutil.rmtree(metrics_dir, ignore_errors=True)


__all__ = [
    "WORKER_HEADER",
    "Supervisor",
    "WorkerPlan",
    "WorkerRole",
    "exit_code",
    "parse_workers",
    "reserve_port",
    "restart_pause",
    "sqlite_refusal",
    "supervise",
    "worker_main",
]
