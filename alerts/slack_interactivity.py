"""Slack interactivity: verify the request signature, then act on button clicks.

Slack signs every interactive request with the app's signing secret (``X-Slack-Signature`` over
``X-Slack-Request-Timestamp`` and the raw body). ``slack_sdk``'s ``SignatureVerifier`` decides:
a request without a valid signature, or sent more than 5 minutes from now (a replay), is refused
before its body is even parsed. The clock is the caller's, so tests fix it. A copy sent within the
5 minutes passes this check; ``alerts.applied_actions`` makes sure it changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs

from slack_sdk.signature import Clock, SignatureVerifier

from alerts.messages import ACK_ALERT_ACTION, ACK_GROUP_ACTION, BUTTON_SILENCE_S, SILENCE_GROUP_ACTION

#: How far a request's timestamp may be from now, either way (slack_sdk's fixed window).
MAX_SKEW_S = 300


class SignatureError(Exception):
    """Why a request is not accepted as coming from Slack."""


class _CallerClock(Clock):
    """``slack_sdk``'s clock interface over a plain ``() -> seconds`` function."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now

    def now(self) -> float:
        return self._now()


def verify(
    secret: str, timestamp: str | None, signature: str | None, body: bytes, *, clock: Callable[[], float]
) -> None:
    """Raise ``SignatureError`` unless Slack signed this body with ``secret``, recently."""
    if not timestamp or not signature:
        raise SignatureError("missing X-Slack-Request-Timestamp or X-Slack-Signature")
    try:
        sent = int(timestamp)
    except ValueError:
        raise SignatureError("X-Slack-Request-Timestamp is not a number") from None
    try:
        verifier = SignatureVerifier(secret, clock=_CallerClock(clock))
    except ValueError as exc:  # a blank secret
        raise SignatureError(f"the Slack signing secret is unusable: {exc}") from None
    if not verifier.is_valid(body=body, timestamp=timestamp, signature=signature):
        # Which of the two reasons, for the operator (a wrong clock or a wrong secret?): slack_sdk
        # refuses a timestamp more than 5 minutes either side of now, whatever the signature.
        age = clock() - sent
        if age > MAX_SKEW_S:
            raise SignatureError(
                "the request is more than 5 minutes old (refused as a replay); "
                f"its timestamp is {age:.0f}s old"
            )
        if age < -MAX_SKEW_S:
            raise SignatureError(
                "the request is more than 5 minutes ahead of this server's clock (refused as a replay); "
                f"its timestamp is {-age:.0f}s in the future"
            )
        raise SignatureError("the signature does not match (a wrong signing secret, or a changed body)")


@dataclass(frozen=True)
class SlackAction:
    action_id: str
    value: str
    user_id: str
    user_name: str
    #: Slack's identity of the click (unique per click, the same in every copy of its request).
    action_ts: str = ""
    trigger_id: str = ""

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
    trigger = str(payload.get("trigger_id") or "")
    return [
        SlackAction(
            str(a.get("action_id", "")),
            str(a.get("value", "")),
            str(user.get("id", "")),
            name,
            action_ts=str(a.get("action_ts") or ""),
            trigger_id=trigger,
        )
        for a in payload.get("actions") or []
    ]


SILENCE_DURATION_S = BUTTON_SILENCE_S
