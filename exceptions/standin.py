"""A stand-in integration engine: the Mirth Connect REST endpoints a replay uses, and a webhook.

For tests and the demo, where no Mirth server runs. It implements what ``MirthSender`` calls as
Mirth documents it: ``POST /api/users/_login`` (form ``username``, ``password``; a ``JSESSIONID``
cookie), ``POST /api/channels/{channelId}/messages/{messageId}/_reprocess`` (204), and
``POST /api/users/_logout``; every request without ``X-Requested-With`` is refused with 400 as
Mirth's CSRF guard does. ``POST /webhook`` takes the generic webhook's JSON. While ``down`` is
set, or until ``down_until`` on its ``clock`` (``go_down``: the demo's planted outage), it answers
503, as an engine that has not come back yet. ``on_replay`` is called with each accepted request
(the demo emits the new transaction's spans from it).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Received:
    """One replay request the stand-in accepted."""

    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any = None


@dataclass
class StandIn:
    username: str = "admin"
    password: str = "admin"
    channels: frozenset[str] = frozenset()
    down: bool = False
    #: Down until this reading of ``clock`` as well (None: only ``down`` says).
    down_until: float | None = None
    #: The clock ``down_until`` is read on; tests pass their own.
    clock: Callable[[], float] = time.monotonic
    received: list[Received] = field(default_factory=list)
    logins: int = 0
    on_replay: Callable[[Received], None] | None = None
    _sessions: set[str] = field(default_factory=set)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on a thread; returns the base URL (``http://host:port``)."""
        handler = _handler(self)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="standin-engine", daemon=True)
        self._thread.start()
        return f"http://{host}:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def go_down(self, seconds: float) -> float:
        """Answer 503 for ``seconds`` from now on ``clock`` (0: stay up); returns when it is back."""
        self.down_until = self.clock() + max(0.0, seconds)
        return self.down_until

    def down_for(self) -> float:
        """Seconds it stays down (0 when up; ``inf`` while ``down`` is set)."""
        if self.down:
            return float("inf")
        if self.down_until is None:
            return 0.0
        return max(0.0, self.down_until - self.clock())

    def _accept(self, item: Received) -> None:
        with self._lock:
            self.received.append(item)
        if self.on_replay is not None:
            self.on_replay(item)


def _handler(engine: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _answer(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)

        def _session(self) -> bool:
            cookie = self.headers.get("Cookie", "")
            values = dict(part.strip().split("=", 1) for part in cookie.split(";") if "=" in part)
            return values.get("JSESSIONID", "") in engine._sessions

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            url = urlsplit(self.path)
            parts = url.path.strip("/").split("/")
            headers = {k.lower(): v for k, v in self.headers.items()}
            left = engine.down_for()
            if left > 0:
                back = "" if left == float("inf") else f" (back in {left:.0f} s)"
                self._answer(503, f"engine unavailable: the stand-in engine is down{back}".encode())
                return
            if url.path == "/webhook":
                engine._accept(Received(url.path, parse_qs(url.query), headers, json.loads(raw or b"null")))
                self._answer(202, b'{"accepted": true}', {"Content-Type": "application/json"})
                return
            if parts[:1] != ["api"]:
                self._answer(404)
                return
            if "x-requested-with" not in headers:
                self._answer(400, b"All requests must have 'X-Requested-With' header")
                return
            if parts[1:] == ["users", "_login"]:
                form = parse_qs(raw.decode())
                if form.get("username") == [engine.username] and form.get("password") == [engine.password]:
                    session = secrets.token_hex(16)
                    engine._sessions.add(session)
                    engine.logins += 1
                    self._answer(
                        200, b'{"status": "SUCCESS"}', {"Set-Cookie": f"JSESSIONID={session}; Path=/api"}
                    )
                else:
                    self._answer(401, b'{"status": "FAIL"}')
                return
            if parts[1:] == ["users", "_logout"]:
                self._answer(204)
                return
            if not self._session():
                self._answer(401)
                return
            # /api/channels/{channelId}/messages/{messageId}/_reprocess
            if (
                len(parts) == 6
                and parts[1] == "channels"
                and parts[3] == "messages"
                and parts[5] == "_reprocess"
            ):
                if engine.channels and parts[2] not in engine.channels:
                    self._answer(404, b"channel not found")
                    return
                if not parts[4].isdigit():
                    self._answer(400, b"message id must be a number")
                    return
                engine._accept(Received(url.path, parse_qs(url.query), headers))
                self._answer(204)
                return
            self._answer(404)

    return Handler


def replayed_span(received: Received, now_ns: int) -> dict[str, Any] | None:
    """The OTLP/JSON export of the transaction a webhook replay re-drove, as an engine that
    propagates ``traceparent`` would report it: one span at the replayed stage, in the failed
    transaction's trace, child of the replay request's parent id, status OK. None for a request
    that does not say its stage (Mirth's reprocess carries only the message id)."""
    body = received.body if isinstance(received.body, dict) else {}
    parts = received.headers.get("traceparent", "").split("-")
    stage = body.get("stage")
    if len(parts) != 4 or not isinstance(stage, str) or not stage:
        return None
    trace_id, parent = parts[1], parts[2]

    def text(key: str, value: str) -> dict[str, Any]:
        return {"key": key, "value": {"stringValue": value}}

    attributes = [
        text("hc.stage", stage),
        text("vitals.replay.of", f"{body.get('trace_id')}/{body.get('span_id')}"),
    ]
    if isinstance(body.get("system"), str) and body["system"]:
        attributes.append(text("hc.system", body["system"]))
    span = {
        "traceId": trace_id,
        "spanId": secrets.token_hex(8),
        "parentSpanId": parent,
        "name": f"replay {stage}",
        "kind": 1,
        "startTimeUnixNano": str(now_ns),
        "endTimeUnixNano": str(now_ns + 1_000_000),
        "attributes": attributes,
        "status": {"code": 1},
    }
    resource = {"attributes": [text("service.name", "standin-engine")]}
    return {
        "resourceSpans": [
            {"resource": resource, "scopeSpans": [{"scope": {"name": "vitals.standin"}, "spans": [span]}]}
        ]
    }


def post_replayed(endpoint: str, received: Received, now_ns: int) -> bool:
    """Report the transaction a webhook replay re-drove to a collector (OTLP/HTTP, e.g.
    ``http://127.0.0.1:4318``). False when the request did not say its stage; httpx errors raise."""
    import httpx

    export = replayed_span(received, now_ns)
    if export is None:
        return False
    answer = httpx.post(f"{endpoint.rstrip('/')}/v1/traces", json=export, timeout=10, trust_env=False)
    answer.raise_for_status()
    return True


__all__ = ["Received", "StandIn", "post_replayed", "replayed_span"]
