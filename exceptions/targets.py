"""Replay targets: where a failed transaction is sent to be processed again.

Only references leave Vitals: trace and span ids, keyed hashes of the business keys, the stage
and the engine's own message id. The engine holds the message; it re-drives it from its own
store. Each request carries a W3C ``traceparent`` in the failed transaction's trace, so the
spans of the new attempt land in the same trace as the one it replays (the work queue reads the
outcome there), and ``X-Vitals-Replay-Of`` names the span it replays.

- ``WebhookSender``: one JSON POST per transaction to a configured URL.
- ``MirthSender``: Mirth Connect's REST API. It logs in (``POST /users/_login``, form fields
  ``username`` and ``password``; the session is a cookie), then reprocesses each message with
  ``POST /channels/{channelId}/messages/{messageId}/_reprocess``, and logs out. Mirth refuses
  API calls without an ``X-Requested-With`` header (its CSRF guard), so every request sends one.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Protocol

import httpx

from exceptions.config import Interface, MirthTarget, WebhookTarget
from exceptions.model import AttemptStatus, Transaction

#: Mirth's CSRF guard wants this header on every API request.
REQUESTED_WITH = {"X-Requested-With": "vitals"}


@dataclass(frozen=True)
class SendResult:
    status: AttemptStatus
    result: str


def traceparent_for(trace_id: str) -> str:
    """A W3C traceparent in the replayed transaction's trace with a new parent span id."""
    return f"00-{trace_id}-{secrets.token_hex(8)}-01"


def _status(answer: httpx.Response) -> SendResult:
    text = " ".join(answer.text.split())[:200]
    if answer.is_success:
        return SendResult("sent", f"HTTP {answer.status_code}")
    kind: AttemptStatus = "refused" if 400 <= answer.status_code < 500 else "error"
    return SendResult(kind, f"HTTP {answer.status_code}: {text}" if text else f"HTTP {answer.status_code}")


class Sender(Protocol):
    kind: str

    def send(self, group_id: str, tx: Transaction, traceparent: str) -> SendResult: ...

    def close(self) -> None: ...


class WebhookSender:
    kind = "webhook"

    def __init__(
        self, interface: Interface, target: WebhookTarget, client: httpx.Client | None = None
    ) -> None:
        self.interface = interface
        self.target = target
        self.client = client or httpx.Client(timeout=target.timeout, trust_env=False)

    def send(self, group_id: str, tx: Transaction, traceparent: str) -> SendResult:
        body = {
            "interface": self.interface.name,
            "group": group_id,
            "stage": tx.stage,
            "system": tx.system,
            "trace_id": tx.trace_id,
            "span_id": tx.span_id,
            "keys": tx.keys,
            "message_id": tx.message_id,
            "traceparent": traceparent,
        }
        headers = {"traceparent": traceparent, "X-Vitals-Replay-Of": f"{tx.trace_id}/{tx.span_id}"}
        if self.target.token is not None:
            headers["Authorization"] = f"Bearer {self.target.token.reveal()}"
        try:
            return _status(self.client.post(self.target.url, json=body, headers=headers))
        except httpx.HTTPError as exc:
            return SendResult("error", f"{type(exc).__name__}: {exc}"[:200])

    def close(self) -> None:
        self.client.close()


class MirthSender:
    kind = "mirth"

    def __init__(self, interface: Interface, target: MirthTarget, client: httpx.Client | None = None) -> None:
        self.interface = interface
        self.target = target
        self.base = target.url.rstrip("/")
        self.client = client or httpx.Client(
            timeout=target.timeout, verify=target.verify_tls, trust_env=False
        )
        self._logged_in = False

    def _login(self) -> SendResult | None:
        if self._logged_in:
            return None
        answer = self.client.post(
            f"{self.base}/users/_login",
            data={"username": self.target.username, "password": self.target.password.reveal()},
            headers={**REQUESTED_WITH, "Accept": "application/json"},
        )
        if not answer.is_success:
            return SendResult(
                "refused" if answer.status_code < 500 else "error", f"login: HTTP {answer.status_code}"
            )
        self._logged_in = True
        return None

    def send(self, group_id: str, tx: Transaction, traceparent: str) -> SendResult:
        if not tx.message_id:
            attribute = self.interface.message_id_attribute
            return SendResult("refused", f"the span has no Mirth message id (attribute {attribute})")
        try:
            refused = self._login()
            if refused is not None:
                return refused
            answer = self.client.post(
                f"{self.base}/channels/{self.target.channel_id}/messages/{tx.message_id}/_reprocess",
                params={"replace": str(self.target.replace).lower(), "filterDestinations": "false"},
                headers={
                    **REQUESTED_WITH,
                    "traceparent": traceparent,
                    "X-Vitals-Replay-Of": f"{tx.trace_id}/{tx.span_id}",
                },
            )
            return _status(answer)
        except httpx.HTTPError as exc:
            return SendResult("error", f"{type(exc).__name__}: {exc}"[:200])

    def close(self) -> None:
        try:
            if self._logged_in:
                self.client.post(f"{self.base}/users/_logout", headers=REQUESTED_WITH)
        except httpx.HTTPError:
            pass
        finally:
            self.client.close()


def sender_for(interface: Interface) -> Sender:
    target = interface.target
    if isinstance(target, MirthTarget):
        return MirthSender(interface, target)
    return WebhookSender(interface, target)


__all__ = [
    "REQUESTED_WITH",
    "MirthSender",
    "SendResult",
    "Sender",
    "WebhookSender",
    "sender_for",
    "traceparent_for",
]
