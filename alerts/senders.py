"""Senders: the edge that talks to Slack, webhooks, Alertmanager and the console.

Each sender turns one outbox row into one request and reports the outcome as a result (what to
remember, e.g. Slack's channel and ``ts``) or a ``DeliveryError`` saying whether to retry, after
how long (Slack's ``Retry-After``) and whether the request may have been applied anyway
(``uncertain``: the connection broke after sending). ``reconcile`` answers "did my earlier,
uncertain attempt get through?" where the receiver can tell: Slack bot messages carry the outbox
key in their message metadata, so the history of the channel (or thread) shows it.

That look-up needs read scopes (``channels:history``, and ``channels:read`` for a channel given by
name). A bot token without them cannot tell, so after a crash mid-send the message is sent again:
delivery to it is at-least-once. ``guarantees`` asks Slack which scopes each token has (the
``X-OAuth-Scopes`` header of ``auth.test``) so ``vitals alerts check`` and ``/readyz`` say so
rather than a log line after the fact.

Look-ups are rate limited by Slack per method and workspace (``conversations.list`` is tier 2,
about 20 a minute), not per channel, so a ``Retry-After`` on one holds that method back for every
channel of the workspace (``SlackWorkspace``), and channel IDs found once are shared too.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from alerts.config import AlertsConfig, Integration
from alerts.messages import slack_message, slack_reply
from alerts.notification import Action
from alerts.outbox import OutboxItem
from alerts.payloads import alertmanager_alerts, console_line, webhook_body
from vitals.kernel.secrets import Secret

log = logging.getLogger(__name__)
console_log = logging.getLogger("alerts.console")

USER_AGENT = "vitals-alerts/0.1"
METADATA_EVENT = "vitals_notification"

#: Slack errors that a person must fix (token, channel membership): retried, then failed over.
SLACK_RECEIVER_ERRORS = frozenset(
    (
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "missing_scope",
        "restricted_action",
        "team_access_not_granted",
    )
)
#: Slack errors on Slack's side: retried.
SLACK_TRANSIENT_ERRORS = {
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
    "ratelimited",
}


#: What a receiver whose earlier attempts cannot be looked up guarantees.
AT_LEAST_ONCE = "at-least-once (duplicates possible after a crash)"
#: Scopes that let a bot token look up an earlier attempt: (public channels, private channels).
HISTORY_SCOPES = ("channels:history", "groups:history")
LIST_SCOPES = ("channels:read", "groups:read")
#: Slack methods used to look up an earlier attempt (rate limited per workspace and method).
LOOKUP_METHODS = ("conversations.list", "conversations.history", "conversations.replies")


class DeliveryError(Exception):
    def __init__(
        self,
        message: str,
        *,
        retryable: bool = True,
        retry_after: float | None = None,
        uncertain: bool = False,
        rate_limited: bool = False,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.uncertain = uncertain
        self.rate_limited = rate_limited


class MissingScope(DeliveryError):
    """Slack's ``missing_scope``: the token lacks ``needed`` for this method."""

    def __init__(self, message: str, needed: str) -> None:
        super().__init__(message)
        self.needed = needed


@dataclass(frozen=True)
class Delivery:
    item: OutboxItem
    integration: Integration
    action: Action  # may differ from item.action (a reply whose thread is gone becomes a post)
    parent: Mapping[str, Any] | None = None  # the parent message's result (channel, ts)
    external_url: str = ""


class Sender(Protocol):
    def send(self, delivery: Delivery) -> Mapping[str, Any]: ...

    def reconcile(self, delivery: Delivery, since: float) -> Mapping[str, Any] | None: ...


def _retry_after(headers: Mapping[str, Any] | None, default: float = 1.0) -> float:
    if not headers:
        return default
    for key, value in headers.items():
        if str(key).lower() == "retry-after":
            text = value[0] if isinstance(value, list | tuple) else value
            try:
                return max(float(str(text).strip()), 0.0)
            except ValueError:
                return default
    return default


def _connection_error(exc: BaseException) -> DeliveryError:
    reason = getattr(exc, "reason", exc)
    refused = isinstance(reason, ConnectionRefusedError) or isinstance(exc, ConnectionRefusedError)
    # Refused: nothing was sent. Anything else (reset, timeout) may have been applied.
    return DeliveryError(f"connection error: {reason}", uncertain=not refused)


_CONNECTION_ERRORS = (
    urllib.error.URLError,
    http.client.HTTPException,
    ConnectionError,
    TimeoutError,
    socket.timeout,
    OSError,
)


def _http_status(status: int, body: str, headers: Mapping[str, Any] | None, what: str) -> DeliveryError:
    text = body.strip()[:200]
    if status == 429:
        return DeliveryError(
            f"{what}: 429 rate limited", retry_after=_retry_after(headers), rate_limited=True
        )
    if status >= 500 or status == 408:
        return DeliveryError(f"{what}: HTTP {status} {text}", uncertain=status != 503)
    if status in (401, 403, 404, 410):
        return DeliveryError(f"{what}: HTTP {status} {text} (check the URL and credentials)")
    return DeliveryError(f"{what}: HTTP {status} {text}", retryable=False)


def _secret(integration: Integration, which: str) -> str:
    """The URL or token, as read when alerts.yaml was loaded."""
    secret = integration.url if which == "URL" else integration.token
    if secret is None:
        where = f"receiver {integration.receiver} {integration.name}"
        raise DeliveryError(f"{where}: no {which} configured", retryable=False)
    return secret.reveal()


@dataclass
class SlackWorkspace:
    """What the senders of one workspace (one token) share: channel IDs and look-up rate limits."""

    clock: Callable[[], float] = time.monotonic
    channel_ids: dict[str, str] = field(default_factory=dict)
    blocked_until: dict[str, float] = field(default_factory=dict)  # method -> Retry-After ends
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: Held while listing channels: lanes that need the list at once wait for one listing.
    listing: threading.Lock = field(default_factory=threading.Lock)

    def wait(self, method: str) -> float:
        with self.lock:
            return max(0.0, self.blocked_until.get(method, 0.0) - self.clock())

    def block(self, method: str, seconds: float) -> None:
        with self.lock:
            until = self.clock() + seconds
            self.blocked_until[method] = max(self.blocked_until.get(method, 0.0), until)


def missing_scopes(scopes: set[str], channel: str | None) -> list[str]:
    """The scopes (public-channel names) a bot token lacks to look up an earlier attempt."""
    missing = []
    if channel and not _is_channel_id(channel) and not scopes & set(LIST_SCOPES):
        missing.append(LIST_SCOPES[0])
    if not scopes & set(HISTORY_SCOPES):
        missing.append(HISTORY_SCOPES[0])
    return missing


def _is_channel_id(name: str) -> bool:
    return re.fullmatch(r"[CGD][A-Z0-9]{6,}", name) is not None


class SlackBotSender:
    """chat.postMessage / chat.update / thread replies with a bot token (slack_sdk WebClient)."""

    def __init__(self, integration: Integration, workspace: SlackWorkspace | None = None) -> None:
        from slack_sdk import WebClient

        self.integration = integration
        url = _secret(integration, "URL")
        base = url[: -len("chat.postMessage")] if url.rstrip("/").endswith("chat.postMessage") else url
        base = base if base.endswith("/") else base + "/"
        token = _secret(integration, "token")
        timeout = int(float(integration.options.get("timeout") or 10))
        # No retry handlers: the outbox retries, durably, and knows whether a retry could double-post.
        self.client = WebClient(token=token, base_url=base, timeout=timeout, retry_handlers=[])
        self.workspace = workspace or SlackWorkspace()
        self._channel_ids = self.workspace.channel_ids
        #: Scopes a look-up was refused for (Slack's ``needed``): delivery here is at-least-once.
        self.refused_scopes: set[str] = set()

    def _call(self, fn: Callable[..., Any], *, method: str | None = None, **kwargs: Any) -> Any:
        from slack_sdk.errors import SlackApiError, SlackRequestError

        if method is not None:
            wait = self.workspace.wait(method)
            if wait > 0:  # Slack's Retry-After for this method has not passed: do not ask again
                raise DeliveryError(
                    f"Slack {method} rate limited for {wait:.0f}s more", retry_after=wait, rate_limited=True
                )
        try:
            return fn(**kwargs)
        except SlackApiError as exc:
            response = exc.response
            status = int(getattr(response, "status_code", 0) or 0)
            data = response.data if isinstance(response.data, dict) else {}
            error = str(data.get("error") or "")
            if status == 429 or error == "ratelimited":
                retry_after = _retry_after(response.headers)
                if method is not None:
                    self.workspace.block(method, retry_after)
                raise DeliveryError(
                    "Slack rate limited (429)", retry_after=retry_after, rate_limited=True
                ) from exc
            if error == "missing_scope":
                needed = str(data.get("needed") or "")
                raise MissingScope(f"Slack error missing_scope {needed} (add the scope)", needed) from exc
            if status >= 500 or error in SLACK_TRANSIENT_ERRORS:
                raise DeliveryError(f"Slack error {status} {error}", uncertain=True) from exc
            if error in SLACK_RECEIVER_ERRORS or status in (401, 403, 404):
                raise DeliveryError(
                    f"Slack error {error or status} (fix the token, scopes or channel)"
                ) from exc
            raise DeliveryError(f"Slack refused the message: {error or status}", retryable=False) from exc
        except SlackRequestError as exc:
            raise DeliveryError(f"Slack request error: {exc}", retryable=False) from exc
        except _CONNECTION_ERRORS as exc:
            raise _connection_error(exc) from exc

    def _common(self) -> dict[str, Any]:
        o = self.integration.options
        out: dict[str, Any] = {"unfurl_links": False, "unfurl_media": False}
        for key in ("username", "icon_emoji", "icon_url"):
            if o.get(key):
                out[key] = o[key]
        if o.get("link_names"):
            out["link_names"] = True
        return out

    def send(self, delivery: Delivery) -> Mapping[str, Any]:
        n = delivery.item.notification
        metadata = {"event_type": METADATA_EVENT, "event_payload": {"key": delivery.item.key}}
        interactive = bool(self.integration.options.get("interactive", True))
        if delivery.action == "update":
            assert delivery.parent is not None
            message = slack_message(n, interactive=interactive)
            resp = self._call(
                self.client.chat_update,
                channel=delivery.parent["channel"],
                ts=delivery.parent["ts"],
                text=message["text"],
                blocks=message["blocks"],
            )
            return {"channel": resp["channel"], "ts": resp["ts"], "updated": delivery.parent["ts"]}
        if delivery.action == "reply" and delivery.parent is not None:
            message = slack_reply(n)
            resp = self._call(
                self.client.chat_postMessage,
                channel=delivery.parent["channel"],
                thread_ts=delivery.parent["ts"],
                reply_broadcast=n.broadcast,
                text=message["text"],
                blocks=message["blocks"],
                metadata=metadata,
                **self._common(),
            )
        else:
            message = slack_message(n, interactive=interactive)
            resp = self._call(
                self.client.chat_postMessage,
                channel=self.integration.channel,
                text=message["text"],
                blocks=message["blocks"],
                metadata=metadata,
                **self._common(),
            )
        channel = str(resp["channel"])
        if self.integration.channel:
            self._channel_ids[self.integration.channel] = channel
        return {"channel": channel, "ts": str(resp["ts"])}

    def _channel_id(self, name: str | None) -> str | None:
        if not name:
            return None
        if _is_channel_id(name):
            return name
        if name in self._channel_ids:
            return self._channel_ids[name]
        with self.workspace.listing:
            if name in self._channel_ids:  # another lane listed the channels meanwhile
                return self._channel_ids[name]
            return self._list_channels(name)

    def _list_channels(self, name: str) -> str | None:
        cursor = None
        for _ in range(50):
            resp = self._call(
                self.client.conversations_list,
                method="conversations.list",
                types="public_channel,private_channel",
                exclude_archived=True,
                limit=1000,
                cursor=cursor,
            )
            for channel in resp.get("channels") or []:
                self._channel_ids[str(channel.get("name"))] = str(channel.get("id"))
            if name in self._channel_ids:
                return self._channel_ids[name]
            cursor = (resp.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        return None

    def reconcile(self, delivery: Delivery, since: float) -> Mapping[str, Any] | None:
        if delivery.action == "update":
            return None  # an update is idempotent: sending it again is harmless
        try:
            return self._look_up(delivery, since)
        except MissingScope as exc:
            # Not retried: the token will not gain the scope by waiting. The guarantee is
            # reported by `vitals alerts check` and /readyz; this says why a duplicate may appear.
            self.refused_scopes.add(exc.needed or "?")
            log.warning(
                "receiver %s/%s cannot check whether an earlier attempt arrived (missing scope %s): "
                "sending again; delivery here is %s",
                self.integration.receiver,
                self.integration.name,
                exc.needed or "?",
                AT_LEAST_ONCE,
            )
            return None

    def _look_up(self, delivery: Delivery, since: float) -> Mapping[str, Any] | None:
        key = delivery.item.key
        if delivery.action == "reply" and delivery.parent is not None:
            channel = str(delivery.parent["channel"])
            fetch: Callable[..., Any] = self.client.conversations_replies
            method = "conversations.replies"
            extra: dict[str, Any] = {"ts": delivery.parent["ts"]}
        else:
            found = self._channel_id(self.integration.channel)
            if found is None:
                log.warning(
                    "cannot look up channel %s to check an earlier attempt; sending again",
                    self.integration.channel,
                )
                return None
            channel = found
            fetch = self.client.conversations_history
            method = "conversations.history"
            extra = {}
        cursor = None
        for _ in range(20):
            resp = self._call(
                fetch,
                method=method,
                channel=channel,
                oldest=f"{since:.6f}",
                include_all_metadata=True,
                limit=200,
                cursor=cursor,
                **extra,
            )
            for message in resp.get("messages") or []:
                payload = (message.get("metadata") or {}).get("event_payload") or {}
                if payload.get("key") == key:
                    return {"channel": channel, "ts": str(message["ts"]), "reconciled": True}
            cursor = (resp.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        return None

    def scopes(self) -> set[str]:
        """The token's scopes, as Slack reports them on ``auth.test`` (``X-OAuth-Scopes``)."""
        resp = self._call(self.client.auth_test)
        headers = getattr(resp, "headers", None) or {}
        text = next((str(v) for k, v in headers.items() if str(k).lower() == "x-oauth-scopes"), None)
        if text is None:
            raise DeliveryError("Slack did not say which scopes the token has (no X-OAuth-Scopes)")
        return {part.strip() for part in text.split(",") if part.strip()}

    def guarantee(self) -> str | None:
        """None when an earlier attempt can be looked up (no duplicates after a crash), else why not."""
        missing = sorted(set(missing_scopes(self.scopes(), self.integration.channel)) | self.refused_scopes)
        if not missing:
            return None
        label = "scope" if len(missing) == 1 else "scopes"
        return f"{AT_LEAST_ONCE}: missing {label} {', '.join(missing)}"


def guarantees(config: AlertsConfig, senders: Callable[[Integration], Sender]) -> dict[str, str]:
    """``receiver/integration`` -> its degraded delivery guarantee, for each Slack bot that has one.

    Asks Slack (one ``auth.test`` per integration). A token Slack cannot be asked about is
    reported as unknown rather than passed over.
    """
    out: dict[str, str] = {}
    for receiver in config.receivers.values():
        for integration in receiver.integrations:
            if integration.kind != "slack_bot" or integration.token is None or integration.url is None:
                continue
            where = f"{receiver.name}/{integration.name}"
            try:
                sender = senders(integration)
                if not isinstance(sender, SlackBotSender):
                    continue
                degraded = sender.guarantee()
            except DeliveryError as exc:
                out[where] = f"delivery guarantee unknown ({exc})"
                continue
            if degraded is not None:
                out[where] = degraded
    return out


class SlackWebhookSender:
    """Incoming webhooks (slack_sdk WebhookClient): one-shot messages, no threads or updates."""

    def __init__(self, integration: Integration) -> None:
        from slack_sdk.webhook import WebhookClient

        self.integration = integration
        timeout = int(float(integration.options.get("timeout") or 10))
        self.client = WebhookClient(_secret(integration, "URL"), timeout=timeout, retry_handlers=[])

    def send(self, delivery: Delivery) -> Mapping[str, Any]:
        message = slack_message(
            delivery.item.notification, interactive=bool(self.integration.options.get("interactive", False))
        )
        try:
            resp = self.client.send(text=message["text"], blocks=message["blocks"])
        except _CONNECTION_ERRORS as exc:
            raise _connection_error(exc) from exc
        if resp.status_code == 200:
            return {"status": 200}
        raise _http_status(resp.status_code, resp.body or "", resp.headers, "Slack webhook")

    def reconcile(self, delivery: Delivery, since: float) -> Mapping[str, Any] | None:
        return None  # incoming webhooks cannot be queried: at-least-once in the crash window


def _post_json(
    url: str,
    payload: Any,
    *,
    integration: Integration,
    key: str,
    what: str,
) -> Mapping[str, Any]:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Idempotency-Key": key,
        "X-Vitals-Notification-Key": key,
    }
    if integration.token is not None:
        headers["Authorization"] = f"Bearer {integration.token.reveal()}"
    elif integration.basic_user:
        password = integration.basic_password.reveal() if integration.basic_password else ""
        raw = f"{integration.basic_user}:{password}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), headers=headers, method="POST")
    timeout = float(integration.options.get("timeout") or 10)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return {"status": int(response.status)}
    except urllib.error.HTTPError as exc:
        body = exc.read().decode("utf-8", "replace") if exc.fp else ""
        raise _http_status(exc.code, body, dict(exc.headers.items()), what) from exc
    except _CONNECTION_ERRORS as exc:
        raise _connection_error(exc) from exc


class WebhookSender:
    """Alertmanager-format JSON (see ``alerts.payloads.webhook_body``) to any HTTP endpoint."""

    def __init__(self, integration: Integration) -> None:
        self.integration = integration
        self.url = _secret(integration, "URL")

    def send(self, delivery: Delivery) -> Mapping[str, Any]:
        body = webhook_body(
            delivery.item.notification,
            delivery.external_url,
            int(self.integration.options.get("max_alerts") or 0),
            key=delivery.item.key,
        )
        return _post_json(
            self.url,
            body,
            integration=self.integration,
            key=delivery.item.key,
            what="webhook",
        )

    def reconcile(self, delivery: Delivery, since: float) -> Mapping[str, Any] | None:
        return None  # the receiver de-duplicates on the Idempotency-Key header


class AlertmanagerSender:
    """``POST /api/v2/alerts`` of an existing Alertmanager (idempotent by nature)."""

    def __init__(self, integration: Integration) -> None:
        self.integration = integration
        self.url = _secret(integration, "URL").rstrip("/") + "/api/v2/alerts"

    def send(self, delivery: Delivery) -> Mapping[str, Any]:
        ttl = float(self.integration.options.get("alert_ttl") or 4 * 3600)
        body = alertmanager_alerts(delivery.item.notification, ttl)
        return _post_json(
            self.url,
            body,
            integration=self.integration,
            key=delivery.item.key,
            what="alertmanager",
        )

    def reconcile(self, delivery: Delivery, since: float) -> Mapping[str, Any] | None:
        return None


class ConsoleSender:
    """The demo's receiver: a log line (and optionally a file of lines or JSON lines)."""

    _lock = threading.Lock()

    def __init__(self, integration: Integration) -> None:
        self.integration = integration

    def send(self, delivery: Delivery) -> Mapping[str, Any]:
        n = delivery.item.notification
        if self.integration.options.get("format") == "json":
            text = json.dumps(webhook_body(n, delivery.external_url, key=delivery.item.key), sort_keys=True)
        else:
            text = console_line(n)
        console_log.info("%s", text)
        path = self.integration.options.get("path")
        if path:
            with self._lock, Path(path).open("a", encoding="utf-8") as handle:
                handle.write(text + "\n")
        return {"logged": True}

    def reconcile(self, delivery: Delivery, since: float) -> Mapping[str, Any] | None:
        return None


SENDERS: dict[str, Callable[[Integration], Sender]] = {
    "slack_bot": SlackBotSender,
    "slack_webhook": SlackWebhookSender,
    "webhook": WebhookSender,
    "alertmanager": AlertmanagerSender,
    "console": ConsoleSender,
}


class SenderFactory:
    """Builds and caches one sender per integration (and rebuilds when its config changes)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._cache: dict[tuple[str, Secret | None, Secret | None, Secret | None], Sender] = {}
        self._workspaces: dict[tuple[Secret | None, Secret | None], SlackWorkspace] = {}
        self.clock = clock

    def __call__(self, integration: Integration) -> Sender:
        # The whole config of the integration: a change builds a new sender. Secrets compare by
        # what was read too (their repr hides it), so a rotated token also builds a new one.
        key = (repr(integration), integration.url, integration.token, integration.basic_password)
        sender = self._cache.get(key)
        if sender is None:
            if integration.kind == "slack_bot":
                # One token, one workspace: its senders share rate limits and channel IDs.
                where = (integration.url, integration.token)
                workspace = self._workspaces.setdefault(where, SlackWorkspace(self.clock))
                sender = SlackBotSender(integration, workspace)
            else:
                sender = SENDERS[integration.kind](integration)
            self._cache[key] = sender
        return sender


@dataclass
class MemorySender:
    """Records deliveries; fails on demand. Plays the receiver for unit tests of the dispatcher."""

    delivered: list[Delivery] = field(default_factory=list)
    failures: list[DeliveryError] = field(default_factory=list)
    #: Deliveries the "remote side" applied although the sender raised (uncertain failures).
    applied: list[Delivery] = field(default_factory=list)

    def send(self, delivery: Delivery) -> Mapping[str, Any]:
        if self.failures:
            error = self.failures.pop(0)
            if error.uncertain:
                self.applied.append(delivery)
            raise error
        self.delivered.append(delivery)
        self.applied.append(delivery)
        return {"channel": "CMEMORY", "ts": f"{len(self.applied)}.000000"}

    def reconcile(self, delivery: Delivery, since: float) -> Mapping[str, Any] | None:
        for index, done in enumerate(self.applied):
            if done.item.key == delivery.item.key:
                return {"channel": "CMEMORY", "ts": f"{index + 1}.000000", "reconciled": True}
        return None
