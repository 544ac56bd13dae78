"""HTTP routes on ``vitals serve``'s aiohttp app: the alerts JSON API and Slack interactivity.

JSON API (``/api/v1``): incidents, alerts, acknowledgements, silences, the audit log, outbox status and a
config reload. When an API token is configured (``api.token`` in alerts.yaml, or the environment
variable ``VITALS_ALERTS_API_TOKEN``), every API request needs ``Authorization: Bearer <token>``.
``POST /slack/interactivity`` is authenticated by Slack's request signature instead, and applies
each click once (a copy of a request gets the first answer: ``alerts.applied_actions``).
Database work runs in a worker thread so the collector's event loop never waits on it.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from alerts import actions
from alerts.api import OPEN_STATES, AlertInfo, AuditInfo, SilenceInfo, acknowledge_incident_in, incidents_of
from alerts.applied_actions import Applied, AppliedActions, identified
from alerts.lifecycle import AckError
from alerts.model import AuditEntry, Clock
from alerts.payloads import iso
from alerts.reload import ConfigHolder
from alerts.silences import SilenceError
from alerts.slack_interactivity import SILENCE_DURATION_S, SignatureError, SlackAction, parse_actions, verify
from alerts.sqlstore import SqlStore
from alerts.store import Conflict, NotFound
from collector.auth import bearer_credentials
from vitals.kernel.timeintervals import TimeInterval
from vitals.kernel.units import parse_duration

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


#: The latest time the API takes (the end of year 9999, the last a datetime can show).
_LATEST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()
#: Ids are BIGINT columns: a larger number would fail in the database, not answer "no such id".
_MAX_ID = 2**63 - 1
_MAX_LIMIT = 5000


def _in_range(seconds: float, name: str) -> float:
    if not (math.isfinite(seconds) and 0 <= seconds <= _LATEST):
        raise SilenceError(f"{name} must be a time between 1970-01-01 and 9999-12-31")
    return seconds


def _time(value: Any, name: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return _in_range(float(value), name)
        except OverflowError:
            return _in_range(math.inf, name)
    if not isinstance(value, str):
        raise SilenceError(f"{name} must be an ISO 8601 time (2026-11-24T10:00:00Z) or Unix seconds")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise SilenceError(
            f"{name} must be an ISO 8601 time (2026-11-24T10:00:00Z) or Unix seconds"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return _in_range(moment.timestamp(), name)


def _positive_int(text: str, name: str, largest: int) -> int:
    """A positive integer from a path or query, at most ``largest`` digits' worth; else 400."""
    if (
        not (text.isascii() and text.isdigit())
        or len(text) > len(str(largest))
        or not 0 < int(text) <= largest
    ):
        raise ValueError(f"{name} must be a whole number from 1 to {largest}")
    return int(text)


def _limit(request: web.Request, default: int) -> int:
    text = request.query.get("limit")
    if text is None:
        return default
    if text.isascii() and text.isdigit() and len(text) > len(str(_MAX_LIMIT)):
        return _MAX_LIMIT
    return min(_positive_int(text, "limit", _MAX_ID), _MAX_LIMIT)


def _string(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    return value


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
        api = self._authenticated
        app.router.add_get("/api/v1/incidents", api(self.list_incidents))
        app.router.add_post("/api/v1/incidents/{ref}/ack", api(self.acknowledge_incident))
        app.router.add_get("/api/v1/alerts", api(self.list_alerts))
        app.router.add_get("/api/v1/alerts/{ref}", api(self.get_alert))
        app.router.add_post("/api/v1/alerts/{ref}/ack", api(self.acknowledge))
        app.router.add_get("/api/v1/silences", api(self.list_silences))
        app.router.add_post("/api/v1/silences", api(self.create_silence))
        app.router.add_delete("/api/v1/silences/{id}", api(self.expire_silence))
        app.router.add_get("/api/v1/alerting/audit", api(self.audit))
        app.router.add_get("/api/v1/alerting/outbox", api(self.outbox))
        app.router.add_post("/api/v1/alerting/reload", api(self.reload))
        app.router.add_post("/slack/interactivity", self.slack)

    def _authenticated(self, handler: Handler) -> Handler:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            token = self.config.current.api_token
            if token is not None:
                given = bearer_credentials(request.headers.get("Authorization"))
                if given is None or not hmac.compare_digest(given, token.reveal().encode()):
                    return _error(401, "missing or wrong bearer token (Authorization: Bearer ...)")
            try:
                return await handler(request)
            except NotFound as exc:
                return _error(404, str(exc))
            except (AckError, SilenceError, ValueError) as exc:
                return _error(400, str(exc))
            except Conflict as exc:
                return _error(409, str(exc))

        return wrapped

    async def _json(self, request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            raise ValueError("the request body must be a JSON object") from None
        if not isinstance(body, dict):
            raise ValueError("the request body must be a JSON object")
        return body

    # --- incidents ---

    async def list_incidents(self, request: web.Request) -> web.Response:
        """Open incidents, the most urgent first, each with its alerts (``?resolved=true``: also
        those resolved in the last 24 hours)."""
        include = request.query.get("resolved", "false").lower() in ("1", "true", "yes")
        limit = _limit(request, 200)
        rows = await asyncio.to_thread(
            incidents_of, self.store, now=self.clock(), include_resolved=include, limit=limit
        )
        return web.json_response({"incidents": [i.to_json() for i in rows]})

    async def acknowledge_incident(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        by = _string(body, "by").strip()
        if not by:
            raise ValueError('say who acknowledges: {"by": "name"}')
        incident = await asyncio.to_thread(
            acknowledge_incident_in,
            self.store,
            self.config.current,
            request.match_info["ref"],
            by,
            _string(body, "comment"),
            "api",
            now=self.clock(),
        )
        return web.json_response({"incident": incident.to_json()})

    # --- alerts ---

    async def list_alerts(self, request: web.Request) -> web.Response:
        state = request.query.get("state", "open")
        limit = _limit(request, 500)
        if state == "open":
            states: set[str] | None = set(OPEN_STATES)
        elif state == "all":
            states = None
        else:
            states = {s.strip() for s in state.split(",") if s.strip()}
        rows = await asyncio.to_thread(self.store.list_alerts, states, None, limit)
        return web.json_response({"alerts": [AlertInfo.of(a).to_json() for a in rows]})

    async def get_alert(self, request: web.Request) -> web.Response:
        ref = request.match_info["ref"]
        alert = await asyncio.to_thread(self.store.get_alert, ref)
        if alert is None:
            raise NotFound(f"no alert with id or fingerprint {ref!r}")
        events = await asyncio.to_thread(self.store.events_for, alert.fingerprint, 100)
        history = [
            {
                "at": datetime.fromtimestamp(e.at, tz=UTC).isoformat(),
                "kind": e.kind,
                "actor": e.actor,
                "detail": dict(e.detail),
            }
            for e in events
        ]
        return web.json_response({"alert": AlertInfo.of(alert).to_json(), "history": history})

    async def acknowledge(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        by = _string(body, "by").strip()
        if not by:
            raise ValueError('say who acknowledges: {"by": "name"}')
        ref = request.match_info["ref"]
        alert = await asyncio.to_thread(
            actions.acknowledge,
            self.store,
            ref,
            by,
            _string(body, "comment"),
            source="api",
            now=self.clock(),
        )
        stored = await asyncio.to_thread(self.store.get_alert, alert.fingerprint)
        assert stored is not None
        return web.json_response({"alert": AlertInfo.of(stored).to_json()})

    # --- silences ---

    async def list_silences(self, request: web.Request) -> web.Response:
        include = request.query.get("expired", "false").lower() in ("1", "true", "yes")
        now = self.clock()
        silences = await asyncio.to_thread(self.store.silences, now, include)
        return web.json_response({"silences": [SilenceInfo.of(s, now).to_json() for s in silences]})

    async def create_silence(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        now = self.clock()
        matchers = body.get("matchers")
        if (
            not matchers
            or not isinstance(matchers, list | str)
            or not all(isinstance(m, str) for m in ([matchers] if isinstance(matchers, str) else matchers))
        ):
            raise SilenceError('matchers is required, a list of strings: ["sla=\\"gl-posting-errors\\""]')
        starts = _time(body["starts_at"], "starts_at") if body.get("starts_at") is not None else None
        if body.get("ends_at") is not None:
            ends = _time(body["ends_at"], "ends_at")
        elif body.get("duration"):
            ends = _in_range((starts or now) + parse_duration(body["duration"]), "the start plus duration")
        else:
            raise SilenceError("give ends_at or duration")
        intervals = body.get("time_intervals") or []
        if not isinstance(intervals, list):
            raise SilenceError("time_intervals must be a list")
        expire_on_resolve = body.get("expire_on_resolve", False)
        if not isinstance(expire_on_resolve, bool):
            raise SilenceError("expire_on_resolve must be true or false")
        specs = []
        for raw in intervals:
            try:
                specs.append(TimeInterval.from_json(raw))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise SilenceError(f"invalid time interval {raw!r}: {exc}") from exc
        sid = await asyncio.to_thread(
            actions.create_silence,
            self.store,
            matchers,
            starts_at=starts,
            ends_at=ends,
            author=_string(body, "created_by"),
            comment=_string(body, "comment"),
            now=now,
            source="api",
            expire_on_resolve=expire_on_resolve,
            time_intervals=specs,
        )
        return web.json_response({"id": sid}, status=201)

    async def expire_silence(self, request: web.Request) -> web.Response:
        sid = _positive_int(request.match_info["id"], "a silence id", _MAX_ID)
        by = request.query.get("by", "").strip()
        if not by:
            raise ValueError("say who expires the silence: ?by=name")
        now = self.clock()
        silence = await asyncio.to_thread(actions.expire_silence, self.store, sid, by, source="api", now=now)
        return web.json_response({"silence": SilenceInfo.of(silence, now).to_json()})

    # --- audit, outbox, reload ---

    async def audit(self, request: web.Request) -> web.Response:
        limit = _limit(request, 100)
        entries = await asyncio.to_thread(self.store.audit_entries, limit, None)
        out = []
        for e in entries:
            assert e.id is not None
            out.append(
                AuditInfo(
                    e.id,
                    datetime.fromtimestamp(e.at, tz=UTC),
                    e.actor,
                    e.action,
                    e.target,
                    e.source,
                    e.detail,
                ).to_json()
            )
        return web.json_response({"audit": out})

    async def outbox(self, request: web.Request) -> web.Response:
        counts = await asyncio.to_thread(self.store.outbox_counts)
        return web.json_response({"outbox": counts})

    async def reload(self, request: web.Request) -> web.Response:
        by = request.query.get("by", "api").strip() or "api"
        applied, message = await asyncio.to_thread(self.config.reload, by, "api")
        return web.json_response({"applied": applied, "message": message}, status=200 if applied else 400)

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
                now, action.actor, "slack.replay", f"slack:{action.verb}:{action.ref}", "slack", detail
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
