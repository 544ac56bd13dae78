"""Run the API with uvicorn inside an event loop that something else owns (``vitals serve``).

uvicorn normally owns the process: it installs signal handlers and runs its own loop. Here the
collector owns both, so the server takes an already bound socket (``SO_REUSEPORT`` under
``vitals serve --workers N``, where the workers share the port), leaves signals alone, and stops
when told to, within a grace period for the requests in progress. TLS: pass an
``ssl.SSLContext`` and the same socket speaks only HTTPS.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Callable, Generator

import uvicorn
from starlette.types import ASGIApp

#: Requests in progress get this share of the stop's time before they are cut off.
GRACE_SHARE = 2 / 3


class _QuietServer(uvicorn.Server):
    """A uvicorn server that never touches signal handlers and also stops when ``stopping()``."""

    def __init__(self, config: uvicorn.Config, stopping: Callable[[], bool]) -> None:
        super().__init__(config)
        self._stopping = stopping

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def on_tick(self, counter: int) -> bool:
        if self._stopping():
            self.should_exit = True
        return await super().on_tick(counter)


def bind(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A listening TCP socket on ``host:port`` (0: a free port); ``OSError`` when it cannot."""
    family, kind, proto, _, address = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(1024)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


class ApiServer:
    """``app`` on ``sock`` in the running loop: ``start()`` then, at the end, ``stop()``."""

    def __init__(
        self,
        app: ASGIApp,
        sock: socket.socket,
        *,
        ssl_context: ssl.SSLContext | None = None,
        shutdown_timeout: float = 30.0,
        stopping: Callable[[], bool] = lambda: False,
    ) -> None:
        self.sock = sock
        self.ssl_context = ssl_context
        config = uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=max(1, round(shutdown_timeout * GRACE_SHARE)),
            server_header=False,
        )
        config.load()
        # uvicorn builds its SSLContext from file names only: hand it the caller's context.
        config.ssl = ssl_context
        self.server = _QuietServer(config, stopping)
        self.task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    @property
    def scheme(self) -> str:
        return "https" if self.ssl_context is not None else "http"

    async def start(self) -> None:
        """Serve from now on; returns once the server accepts connections."""
        self.task = asyncio.ensure_future(self.server.serve(sockets=[self.sock]))
        while not self.server.started and not self.task.done():
            await asyncio.wait({self.task}, timeout=0.01)
        if self.task.done():
            self.task.result()  # raises why it could not start
            raise RuntimeError("the API server stopped while starting")

    def request_stop(self) -> None:
        """Stop accepting; requests in progress get the grace period (thread-safe enough: a flag)."""
        self.server.should_exit = True

    async def stop(self, timeout: float | None = None) -> bool:
        """Stop and wait for it (at most ``timeout`` s, then requests are cut off); True if clean."""
        self.request_stop()
        if self.task is None:
            self.sock.close()
            return True
        try:
            await asyncio.wait_for(asyncio.shield(self.task), timeout)
            clean = True
        except TimeoutError:
            self.server.force_exit = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.task), 1.0)
            clean = False
        self.sock.close()
        return clean


__all__ = ["ApiServer", "bind"]
