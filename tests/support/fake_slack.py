"""A local HTTP server that behaves like Slack's Web API and incoming webhooks, for tests.

Point the real ``slack_sdk`` clients at it (``WebClient(base_url=fake.api_url)``,
``WebhookClient(fake.webhook_url(channel))``). It implements what Vitals uses — ``auth.test``,
``chat.postMessage`` (threads, ``reply_broadcast``, message ``metadata``), ``chat.update``,
``conversations.history``, ``conversations.replies``, ``conversations.list`` and incoming
webhooks — with Slack's response shapes and errors (``invalid_auth``, ``channel_not_found``,
``message_not_found``, ``invalid_blocks`` for Block Kit that Slack would reject), and records
every call. Faults on demand: HTTP 500s, 429 with ``Retry-After``, a down period (connections
refused), and held responses (the message is stored but the reply waits: a crash window).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web

TEAM_ID = "T0VITALS"
DEFAULT_TOKEN = "xoxb-vitals-test-token"


@dataclass
class Call:
    method: str  # "chat.postMessage", ..., or "webhook"
    path: str
    headers: dict[str, str]
    args: dict[str, Any]
    at: float  # time.monotonic() when received
    status: int = 0
    response: Any = None


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[Any]
    thread_ts: str | None = None
    reply_broadcast: bool = False
    metadata: dict[str, Any] | None = None
    edited: int = 0
    via: str = "api"

    def as_slack(self, with_metadata: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "message", "ts": self.ts, "text": self.text, "blocks": self.blocks}
        if self.thread_ts:
            out["thread_ts"] = self.thread_ts
        if self.edited:
            out["edited"] = {"ts": self.ts}
        if with_metadata and self.metadata:
            out["metadata"] = self.metadata
        return out


@dataclass
class _Fault:
    kind: str  # "status" or "ratelimit"
    remaining: int
    status: int = 500
    error: str = "internal_error"
    retry_after: float = 1.0
    methods: frozenset[str] | None = None

    def applies(self, method: str) -> bool:
        return self.remaining > 0 and (self.methods is None or method in self.methods)


class BlockKitError(ValueError):
    pass


def _check_text(obj: Any, limit: int, what: str) -> None:
    if (
        not isinstance(obj, dict)
        or obj.get("type") not in ("plain_text", "mrkdwn")
        or not isinstance(obj.get("text"), str)
    ):
        raise BlockKitError(f"{what}: must be a text object")
    if not obj["text"] or len(obj["text"]) > limit:
        raise BlockKitError(f"{what}: text must be 1..{limit} characters")


def _check_button(element: Any, where: str, action_ids: set[str]) -> None:
    _check_text(element.get("text"), 75, f"{where}.text")
    if element["text"]["type"] != "plain_text":
        raise BlockKitError(f"{where}.text must be plain_text")
    action_id = element.get("action_id")
    if action_id is not None:
        if len(action_id) > 255:
            raise BlockKitError(f"{where}.action_id longer than 255")
        if action_id in action_ids:
            raise BlockKitError(f"{where}.action_id {action_id!r} is not unique in the message")
        action_ids.add(action_id)
    if len(str(element.get("value", ""))) > 2000 or len(str(element.get("url", ""))) > 3000:
        raise BlockKitError(f"{where}: value or url too long")


def validate_blocks(blocks: Any) -> None:
    """The Block Kit rules Slack enforces that a message builder could break."""
    if not isinstance(blocks, list) or len(blocks) > 50:
        raise BlockKitError("blocks must be a list of at most 50 blocks")
    action_ids: set[str] = set()
    for index, block in enumerate(blocks):
        where = f"blocks[{index}]"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "header":
            _check_text(block.get("text"), 150, where)
        elif kind == "section":
            if "text" in block:
                _check_text(block["text"], 3000, where)
            fields = block.get("fields") or []
            if len(fields) > 10:
                raise BlockKitError(f"{where}: at most 10 fields")
            accessory = block.get("accessory")
            if accessory is not None:
                if accessory.get("type") != "button":
                    raise BlockKitError(f"{where}.accessory: only buttons are supported here")
                _check_button(accessory, f"{where}.accessory", action_ids)
        elif kind == "context":
            elements = block.get("elements") or []
            if not 1 <= len(elements) <= 10:
                raise BlockKitError(f"{where}: 1..10 elements")
            for j, element in enumerate(elements):
                _check_text(element, 3000, f"{where}.elements[{j}]")
        elif kind == "actions":
            elements = block.get("elements") or []
            if not 1 <= len(elements) <= 25:
                raise BlockKitError(f"{where}: 1..25 elements")
            for j, element in enumerate(elements):
                if element.get("type") != "button":
                    raise BlockKitError(f"{where}.elements[{j}]: only buttons are supported here")
                _check_button(element, f"{where}.elements[{j}]", action_ids)
        elif kind != "divider":
            raise BlockKitError(f"{where}: unknown block type {kind!r}")


class FakeSlack:
    def __init__(
        self,
        channels: Iterable[str] = ("integration-oncall", "oncall-lead", "director", "alerts-fallback"),
        token: str = DEFAULT_TOKEN,
    ) -> None:
        self.token = token
        self.channels: dict[str, str] = {}  # name -> id
        for name in channels:
            self.add_channel(name)
        self.webhooks: dict[str, str] = {}  # path -> channel id
        self.calls: list[Call] = []
        self.messages: dict[str, list[Message]] = {cid: [] for cid in self.channels.values()}
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._hold_methods: set[str] = set()
        self._held = 0
        self._release: asyncio.Event | None = None
        self.port = 0
        self.down = False

    # --- lifecycle -----------------------------------------------------------------------------

    def add_channel(self, name: str) -> str:
        cid = "C" + hashlib.sha256(name.encode()).hexdigest()[:9].upper()
        self.channels[name] = cid
        if hasattr(self, "messages"):
            self.messages.setdefault(cid, [])
        return cid

    def start(self) -> FakeSlack:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self._start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._stop())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-slack", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake Slack did not start")
        return self

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self._release = asyncio.Event()
        await self._listen()

    async def _listen(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await self._site.start()
        server = self._site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.port = int(sockets[0].getsockname()[1])

    async def _stop(self) -> None:
        if self._release is not None:
            self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, coro: Any) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    # --- addresses -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """The Web API base URL (``WebClient(base_url=...)``)."""
        return f"{self.url}/api/"

    def webhook_url(self, channel: str) -> str:
        """An incoming-webhook URL that posts into ``channel``."""
        cid = self.channels.get(channel) or self.add_channel(channel)
        path = f"/services/{TEAM_ID}/B{cid[1:]}/{hashlib.sha256(channel.encode()).hexdigest()[:24]}"
        self.webhooks[path] = cid
        return self.url + path

    # --- faults --------------------------------------------------------------------------------

    def fail_next(
        self,
        count: int,
        status: int = 500,
        error: str = "internal_error",
        methods: Iterable[str] | None = None,
    ) -> None:
        with self._lock:
            self._faults.append(
                _Fault("status", count, status, error, methods=frozenset(methods) if methods else None)
            )

    def rate_limit_next(
        self, count: int, retry_after: float = 1.0, methods: Iterable[str] | None = None
    ) -> None:
        with self._lock:
            self._faults.append(
                _Fault(
                    "ratelimit",
                    count,
                    429,
                    "ratelimited",
                    retry_after,
                    frozenset(methods) if methods else None,
                )
            )

    def go_down(self) -> None:
        """Refuse connections (the listening socket is closed) until ``come_up``."""

        async def close() -> None:
            if self._site is not None:
                await self._site.stop()

        self.down = True
        self._run(close())

    def come_up(self) -> None:
        self.down = False
        self._run(self._listen())

    def hold(self, methods: Iterable[str] = ("chat.postMessage",)) -> None:
        """Apply these calls but do not answer them until ``release`` (a client crash window)."""
        self._hold_methods = set(methods)

    def release(self) -> None:
        self._hold_methods = set()
        if self._loop is not None and self._release is not None:
            self._loop.call_soon_threadsafe(self._release.set)

    @property
    def held(self) -> int:
        return self._held

    # --- inspection ----------------------------------------------------------------------------

    def channel_messages(self, channel: str) -> list[Message]:
        cid = self.channels.get(channel.lstrip("#"), channel)
        with self._lock:
            return list(self.messages.get(cid, []))

    def all_messages(self) -> list[Message]:
        with self._lock:
            return [m for msgs in self.messages.values() for m in msgs]

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.02)
        raise AssertionError(f"fake Slack: timed out waiting for {what}")

    # --- request handling ----------------------------------------------------------------------

    async def _args(self, request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = {k: v for k, v in request.query.items()}
        body = await request.read()
        if not body:
            return args
        ctype = request.headers.get("Content-Type", "")
        if "json" in ctype:
            data = json.loads(body)
            if isinstance(data, dict):
                args.update(data)
        else:
            for key, values in parse_qs(body.decode()).items():
                args[key] = values[0]
            for key in ("blocks", "metadata"):
                if isinstance(args.get(key), str):
                    args[key] = json.loads(args[key])
        return args

    def _fault(self, method: str) -> web.Response | None:
        with self._lock:
            for fault in self._faults:
                if fault.applies(method):
                    fault.remaining -= 1
                    if fault.kind == "ratelimit":
                        return web.json_response(
                            {"ok": False, "error": "ratelimited"},
                            status=429,
                            headers={
                                "Retry-After": str(
                                    int(fault.retry_after)
                                    if fault.retry_after == int(fault.retry_after)
                                    else fault.retry_after
                                )
                            },
                        )
                    if method == "webhook":
                        return web.Response(status=fault.status, text=fault.error)
                    return web.json_response({"ok": False, "error": fault.error}, status=fault.status)
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        is_webhook = path.startswith("/services/")
        method = "webhook" if is_webhook else path.removeprefix("/api/")
        args = await self._args(request)
        call = Call(method, path, dict(request.headers), args, time.monotonic())
        with self._lock:
            self.calls.append(call)
        response = self._fault(method)
        if response is None:
            response = self._webhook(path, args) if is_webhook else self._api(method, request, args)
        call.status = response.status
        call.response = getattr(response, "text", None)
        if method in self._hold_methods and response.status == 200:
            assert self._release is not None
            self._held += 1
            self._release.clear()
            await self._release.wait()
        return response

    def _ok(self, **data: Any) -> web.Response:
        return web.json_response({"ok": True, **data})

    def _err(self, error: str, **data: Any) -> web.Response:
        return web.json_response({"ok": False, "error": error, **data})

    def _channel_id(self, name: Any) -> str | None:
        text = str(name or "").lstrip("#")
        if text in self.channels.values():
            return text
        return self.channels.get(text)

    def _next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    def _find(self, cid: str, ts: str) -> Message | None:
        return next((m for m in self.messages.get(cid, []) if m.ts == ts), None)

    def _webhook(self, path: str, args: Mapping[str, Any]) -> web.Response:
        cid = self.webhooks.get(path)
        if cid is None:
            return web.Response(status=404, text="no_service")
        if not args.get("text") and not args.get("blocks"):
            return web.Response(status=400, text="invalid_payload")
        if args.get("blocks"):
            try:
                validate_blocks(args["blocks"])
            except BlockKitError:
                return web.Response(status=400, text="invalid_blocks")
        with self._lock:
            self.messages[cid].append(
                Message(
                    cid, self._next_ts(), str(args.get("text", "")), args.get("blocks") or [], via="webhook"
                )
            )
        return web.Response(status=200, text="ok")

    def _api(self, method: str, request: web.Request, args: dict[str, Any]) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return self._err("not_authed" if "Authorization" not in request.headers else "invalid_auth")
        handler = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post,
            "chat.update": self._update,
            "conversations.history": self._history,
            "conversations.replies": self._replies,
            "conversations.list": self._list,
        }.get(method)
        if handler is None:
            return self._err("unknown_method")
        return handler(args)

    def _auth_test(self, args: Mapping[str, Any]) -> web.Response:
        return self._ok(
            url="https://vitals-test.slack.com/",
            team="Vitals Test",
            user="vitals",
            team_id=TEAM_ID,
            user_id="U0VITALS",
            bot_id="B0VITALS",
        )

    def _post(self, args: Mapping[str, Any]) -> web.Response:
        cid = self._channel_id(args.get("channel"))
        if cid is None:
            return self._err("channel_not_found")
        if not args.get("text") and not args.get("blocks"):
            return self._err("no_text")
        if args.get("blocks"):
            try:
                validate_blocks(args["blocks"])
            except BlockKitError as exc:
                return self._err("invalid_blocks", errors=[str(exc)])
        thread_ts = args.get("thread_ts")
        with self._lock:
            if thread_ts and self._find(cid, str(thread_ts)) is None:
                return self._err("thread_not_found")
            message = Message(
                cid,
                self._next_ts(),
                str(args.get("text", "")),
                list(args.get("blocks") or []),
                thread_ts=str(thread_ts) if thread_ts else None,
                reply_broadcast=str(args.get("reply_broadcast", "")).lower() in ("true", "1"),
                metadata=args.get("metadata") if isinstance(args.get("metadata"), dict) else None,
            )
            self.messages[cid].append(message)
        return self._ok(channel=cid, ts=message.ts, message=message.as_slack(True))

    def _update(self, args: Mapping[str, Any]) -> web.Response:
        cid = str(args.get("channel", ""))
        if cid not in self.channels.values():
            return self._err("channel_not_found")
        if args.get("blocks"):
            try:
                validate_blocks(args["blocks"])
            except BlockKitError as exc:
                return self._err("invalid_blocks", errors=[str(exc)])
        with self._lock:
            message = self._find(cid, str(args.get("ts", "")))
            if message is None:
                return self._err("message_not_found")
            message.text = str(args.get("text", message.text))
            message.blocks = list(args.get("blocks") or message.blocks)
            message.edited += 1
        return self._ok(channel=cid, ts=message.ts, text=message.text)

    def _page(self, items: list[Message], args: Mapping[str, Any], with_metadata: bool) -> web.Response:
        limit = int(args.get("limit") or 100)
        start = int(args.get("cursor") or 0)
        chunk = items[start : start + limit]
        more = start + limit < len(items)
        return self._ok(
            messages=[m.as_slack(with_metadata) for m in chunk],
            has_more=more,
            response_metadata={"next_cursor": str(start + limit) if more else ""},
        )

    def _window(self, messages: Iterable[Message], args: Mapping[str, Any]) -> list[Message]:
        oldest = float(args.get("oldest") or 0)
        latest = float(args.get("latest") or 1e12)
        return [
            m
            for m in messages
            if oldest < float(m.ts) <= latest or (float(m.ts) == oldest and args.get("inclusive"))
        ]

    def _history(self, args: Mapping[str, Any]) -> web.Response:
        cid = str(args.get("channel", ""))
        if cid not in self.channels.values():
            return self._err("channel_not_found")
        with self._lock:
            top = [m for m in self.messages[cid] if not m.thread_ts or m.reply_broadcast]
        items = sorted(self._window(top, args), key=lambda m: float(m.ts), reverse=True)
        return self._page(items, args, str(args.get("include_all_metadata", "")).lower() in ("true", "1"))

    def _replies(self, args: Mapping[str, Any]) -> web.Response:
        cid = str(args.get("channel", ""))
        ts = str(args.get("ts", ""))
        with self._lock:
            parent = self._find(cid, ts)
            if parent is None:
                return self._err("thread_not_found")
            replies = [m for m in self.messages[cid] if m.thread_ts == ts]
        items = [parent, *sorted(self._window(replies, args), key=lambda m: float(m.ts))]
        return self._page(items, args, str(args.get("include_all_metadata", "")).lower() in ("true", "1"))

    def _list(self, args: Mapping[str, Any]) -> web.Response:
        channels = [
            {"id": cid, "name": name, "is_channel": True, "is_archived": False}
            for name, cid in self.channels.items()
        ]
        return self._ok(channels=channels, response_metadata={"next_cursor": ""})


def interactive_body(action_id: str, value: str, user_id: str = "U0ALICE", username: str = "alice") -> bytes:
    """The form body Slack POSTs when someone clicks a Block Kit button."""
    from urllib.parse import urlencode

    payload = {
        "type": "block_actions",
        "team": {"id": TEAM_ID, "domain": "vitals-test"},
        "user": {"id": user_id, "username": username, "name": username, "team_id": TEAM_ID},
        "api_app_id": "A0VITALS",
        "trigger_id": "1.2.3",
        "container": {"type": "message", "message_ts": "1.000001", "channel_id": "C0", "is_ephemeral": False},
        "channel": {"id": "C0", "name": "integration-oncall"},
        "response_url": "https://hooks.slack.com/actions/T0VITALS/1/abc",
        "actions": [
            {
                "action_id": action_id,
                "block_id": "b1",
                "type": "button",
                "value": value,
                "action_ts": "1780000000.000100",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


__all__ = ["Call", "FakeSlack", "Message", "interactive_body", "validate_blocks"]
