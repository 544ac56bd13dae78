"""Slack interactivity: verify the request signature, then act on button clicks.

Slack signs every interactive request with the app's signing secret: ``X-Slack-Signature`` is
``v0=`` + hex HMAC-SHA256 of ``v0:{X-Slack-Request-Timestamp}:{raw body}``. A request without a
valid signature, or whose timestamp is more than ``max_age`` (5 minutes) away from now (a replay),
is refused before its body is even parsed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from urllib.parse import parse_qs

from alerts.messages import ACK_ALERT_ACTION, ACK_GROUP_ACTION, BUTTON_SILENCE_S, SILENCE_GROUP_ACTION


class SignatureError(Exception):
    """Why a request is not accepted as coming from Slack."""


def sign(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def verify(
    secret: str | None,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    *,
    now: float,
    max_age: float = 300.0,
) -> None:
    if not secret:
        raise SignatureError("the Slack signing secret is not configured")
    if not timestamp or not signature:
        raise SignatureError("missing X-Slack-Request-Timestamp or X-Slack-Signature")
    try:
        sent = int(timestamp)
    except ValueError:
        raise SignatureError("X-Slack-Request-Timestamp is not a number") from None
    if abs(now - sent) > max_age:
        raise SignatureError(
            f"the request is {abs(now - sent):.0f}s old (more than {max_age:.0f}s): refused as a replay"
        )
    if not hmac.compare_digest(sign(secret, timestamp, body), signature):
        raise SignatureError("the signature does not match")


@dataclass(frozen=True)
class SlackAction:
    action_id: str
    value: str
    user_id: str
    user_name: str

    @property
    def actor(self) -> str:
        return f"{self.user_name} (slack:{self.user_id})" if self.user_name else f"slack:{self.user_id}"

    @property
    def verb(self) -> str:
        if self.action_id.startswith(ACK_ALERT_ACTION):
            return "ack_alert"
        if self.action_id == ACK_GROUP_ACTION:
            return "ack_group"
        if self.action_id == SILENCE_GROUP_ACTION:
            return "silence_group"
        return "link"

    @property
    def ref(self) -> str:
        return self.value.split(":", 1)[1] if ":" in self.value else self.value


def parse_actions(body: bytes) -> list[SlackAction]:
    """The button clicks in a ``block_actions`` payload (form field ``payload``, JSON)."""
    form = parse_qs(body.decode("utf-8", "replace"))
    raw = form.get("payload", [""])[0]
    if not raw:
        raise ValueError("no payload field in the request")
    payload = json.loads(raw)
    if payload.get("type") != "block_actions":
        return []
    user = payload.get("user") or {}
    name = str(user.get("username") or user.get("name") or "")
    return [
        SlackAction(str(a.get("action_id", "")), str(a.get("value", "")), str(user.get("id", "")), name)
        for a in payload.get("actions") or []
    ]


SILENCE_DURATION_S = BUTTON_SILENCE_S
