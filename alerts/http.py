"""HTTP routes on ``vitals serve``'s aiohttp app: Slack interactivity.

``POST /slack/interactivity`` is authenticated by Slack's request signature, and applies each
click once (a copy of a request gets the first answer: ``alerts.applied_actions``). Database
work runs in a worker thread so the collector's event loop never waits on it. The JSON API
(``/api/v1``) is the ``api`` package's, on its own port.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import web

from access.model import AuditEntry
from alerts import actions
from alerts.applied_actions import Applied, AppliedActions, identified
from alerts.lifecycle import AckError
from alerts.model import Clock
from alerts.payloads import iso
from alerts.reload import ConfigHolder
from alerts.silences import SilenceError
from alerts.slack_interactivity import SILENCE_DURATION_S, SignatureError, SlackAction, parse_actions, verify
from alerts.sqlstore import SqlStore
from alerts.store import NotFound

log = logging.getLogger(__name__)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


class AlertsHttp:
    def __init__(
        self,
        store: SqlStore,
        config: ConfigHolder,
        clock: Clock = time.time,
    ) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.applied = AppliedActions(store.engine)

    def register(self, app: web.Application) -> None:
        app.router.add_post("/slack/interactivity", self.slack)

    # --- Slack ---

    async def slack(self, request: web.Request) -> web.Response:
        body = await request.read()
        config = self.config.current
        if config.signing_secret is None:
            return _error(
                503,
                "Slack interactivity is not configured: set VITALS_SLACK_SIGNING_SECRET "
                "(or slack.signing_secret in alerts.yaml)",
            )
        try:
            verify(
                config.signing_secret.reveal(),
                request.headers.get("X-Slack-Request-Timestamp"),
                request.headers.get("X-Slack-Signature"),
                body,
                clock=self.clock,
            )
        except SignatureError as exc:
            log.warning("refused a Slack interactivity request from %s: %s", request.remote, exc)
            return _error(401, str(exc))
        try:
            clicked = parse_actions(body)
        except ValueError as exc:
            return _error(400, f"not a Slack interactivity payload: {exc}")
        results = await asyncio.to_thread(self._slack_actions, clicked)
        return web.json_response({"text": "; ".join(results) or "nothing to do"})

    def _slack_actions(self, clicked: list[SlackAction]) -> list[str]:
        out = []
        for action in clicked:
            if action.verb == "link":
                continue  # a link button: Slack opened the URL, nothing to apply
            now = self.clock()
            if not identified(action):
                out.append("refused: the action has neither action_ts nor trigger_id")
                continue
            seen = self.applied.claim(action, now)
            if seen is not None:
                self._audit_replay(action, seen, now)
                out.append(seen.answer)
                continue
            try:
                answer = self._apply(action, now)
            except BaseException:
                self.applied.release(action)  # an unexpected failure (the database?): a copy may retry
                raise
            self.applied.finish(action, answer)
            out.append(answer)
        return out

    def _audit_replay(self, action: SlackAction, seen: Applied, now: float) -> None:
        detail = {
            "action_id": action.action_id,
            "action_ts": action.action_ts,
            "trigger_id": action.trigger_id,
            "first_received_at": iso(seen.received_at),
            "replays": seen.replays,
            "answer": seen.answer,
        }
        log.warning(
            "a Slack action was received again (%s, first at %s): answered as before, not applied",
            action.action_id,
            detail["first_received_at"],
        )
        self.store.add_audit(
            AuditEntry(
                now, action.actor, "slack.replay", f"slack:{action.verb}:{action.ref}", "slack", detail=detail
            )
        )

    def _apply(self, action: SlackAction, now: float) -> str:
        """One click, applied; the answer for Slack (also when it cannot be applied)."""
        config = self.config.current
        try:
            if action.verb == "ack_alert":
                actions.acknowledge(
                    self.store, action.ref, action.actor, "from Slack", source="slack", now=now
                )
                return f"acknowledged alert {action.ref}"
            if action.verb == "ack_group":
                acked = actions.acknowledge_group(
                    self.store,
                    config,
                    action.ref,
                    action.actor,
                    comment="from Slack",
                    source="slack",
                    now=now,
                )
                return f"acknowledged {len(acked)} alert(s)"
            ids = actions.silence_group(
                self.store,
                config,
                action.ref,
                by=action.actor,
                duration_s=SILENCE_DURATION_S,
                source="slack",
                now=now,
            )
            return f"created silence(s) {', '.join(map(str, ids))}" if ids else "nothing to silence"
        except (NotFound, AckError, SilenceError) as exc:
            return str(exc)
