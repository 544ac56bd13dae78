"""The alert store edge: a Protocol, and an in-memory implementation for unit tests.

The real implementation (``alerts.sqlstore.SqlStore``) keeps everything in the database so a
restart resumes where it was. Writes of alerts and groups are optimistic: each row carries a
version, and a write whose version moved underneath (an acknowledgement from the CLI while the
evaluator was working, say) raises ``Conflict`` so the caller re-reads and tries again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from threading import RLock
from typing import Any, Protocol, TypeVar, cast

from access.model import AuditEntry
from alerts.grouping import GroupState
from alerts.model import Alert, AlertEvent
from alerts.outbox import UNFINISHED, OutboxItem, Status
from alerts.silences import Silence
from slas.model import Evaluation
from vitals.kernel.follow import Cursor


class Conflict(Exception):
    """A row changed since it was read; re-read and retry."""


class NotFound(LookupError):
    """No alert or silence with that id/fingerprint."""


class AlertStore(Protocol):
    # --- evaluations and alerts ---
    #: How long an unread evaluation id below read ones is awaited (``vitals.kernel.follow``).
    follow_horizon_s: float

    def evaluations_cursor(self) -> Cursor: ...
    def new_evaluations(self, cursor: Cursor, limit: int) -> list[tuple[int, Evaluation]]: ...
    def open_alerts(self) -> list[Alert]: ...
    def alerts_by_fingerprint(self, fingerprints: Collection[str]) -> dict[str, Alert]: ...
    def resolved_since(self, since: float) -> list[Alert]: ...
    def get_alert(self, ref: str | int) -> Alert | None: ...
    def commit(
        self,
        *,
        alerts: Sequence[Alert] = (),
        events: Sequence[AlertEvent] = (),
        audits: Sequence[AuditEntry] = (),
        cursor: Cursor | None = None,
        silences_matched: Collection[int] = (),
        silences_expired: Sequence[tuple[int, str, float]] = (),
        now: float = 0.0,
    ) -> None: ...
    def events_for(self, fingerprint: str, limit: int) -> list[AlertEvent]: ...
    # --- silences and audit ---
    def silences(self, now: float, include_expired: bool = False) -> list[Silence]: ...
    def get_silence(self, silence_id: int) -> Silence | None: ...
    def add_silence(self, silence: Silence, source: str, audit: AuditEntry) -> int: ...
    def add_audit(self, entry: AuditEntry) -> None: ...
    def audit_entries(self, limit: int, since: float | None = None) -> list[AuditEntry]: ...
    def get_state(self, name: str) -> Any: ...
    def set_state(self, name: str, value: Any, now: float) -> None: ...
    # --- groups and outbox ---
    def groups(self) -> dict[str, GroupState]: ...
    def commit_plan(self, groups: Sequence[GroupState], rows: Sequence[OutboxItem], now: float) -> None: ...
    def outbox_heads(self, limit: int) -> list[OutboxItem]: ...
    def outbox_get(self, key: str) -> OutboxItem | None: ...
    def outbox_rows(self, statuses: Collection[str] | None, limit: int) -> list[OutboxItem]: ...
    def outbox_claim(self, item: OutboxItem, owner: str, now: float, lease: float) -> OutboxItem | None: ...
    def outbox_start_attempt(self, item: OutboxItem, now: float) -> OutboxItem: ...
    def outbox_complete(self, item: OutboxItem, result: Mapping[str, Any], now: float) -> None: ...
    def outbox_retry(
        self, item: OutboxItem, not_before: float, error: str, first_failure_at: float | None, uncertain: bool
    ) -> None: ...
    def outbox_finish(self, item: OutboxItem, status: Status, error: str | None) -> None: ...
    def outbox_fail_over(
        self, item: OutboxItem, error: str, rows: Sequence[OutboxItem], now: float
    ) -> None: ...
    def outbox_newer_update(self, item: OutboxItem) -> bool: ...
    # --- pacing shared by every dispatcher ---
    def pace_take(self, lane: str, now: float, pace: float) -> float: ...
    def pace_block(self, lane: str, until: float) -> None: ...


_F = TypeVar("_F", bound=Callable[..., Any])


def _locked(method: _F) -> _F:
    """Run the method under the store's lock (a transaction, in the SQL store)."""

    @functools.wraps(method)
    def wrapper(self: MemoryStore, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return cast("_F", wrapper)


class MemoryStore:
    """Everything in dicts; same semantics as the SQL store (versions, unique keys, lanes).

    Outbox and pacing methods hold one lock, as a database transaction would: the dispatcher
    delivers lanes from several threads.
    """

    #: Ids are visible in the order they are handed out here.
    follow_horizon_s = 0.0

    def __init__(self) -> None:
        self.evaluations: list[tuple[int, Evaluation]] = []
        self.alerts: dict[str, Alert] = {}
        self.events: list[AlertEvent] = []
        self.audits: list[AuditEntry] = []
        self._silences: dict[int, tuple[Silence, str]] = {}
        self.state: dict[str, Any] = {}
        self._groups: dict[str, GroupState] = {}
        self.outbox: dict[int, OutboxItem] = {}
        #: The next send slot of each lane, as ``alert_channel_pacing`` holds it.
        self.pacing: dict[str, float] = {}
        self._next = 0
        self._lock = RLock()

    def _id(self) -> int:
        self._next += 1
        return self._next

    def add_evaluation(self, evaluation: Evaluation) -> int:
        eid = self._id()
        self.evaluations.append((eid, evaluation))
        return eid

    def evaluations_cursor(self) -> Cursor:
        cursor = self.state.get("evaluations_watermark", Cursor())
        assert isinstance(cursor, Cursor)
        return cursor

    def new_evaluations(self, cursor: Cursor, limit: int) -> list[tuple[int, Evaluation]]:
        return [(i, e) for i, e in self.evaluations if cursor.is_new(i)][:limit]

    def open_alerts(self) -> list[Alert]:
        return [a for a in self.alerts.values() if a.is_open]

    def alerts_by_fingerprint(self, fingerprints: Collection[str]) -> dict[str, Alert]:
        return {fp: self.alerts[fp] for fp in fingerprints if fp in self.alerts}

    def resolved_since(self, since: float) -> list[Alert]:
        return [a for a in self.alerts.values() if a.resolved_at is not None and a.resolved_at >= since]

    def get_alert(self, ref: str | int) -> Alert | None:
        for alert in self.alerts.values():
            if alert.fingerprint == str(ref) or (alert.id is not None and str(alert.id) == str(ref)):
                return alert
        return None

    def commit(
        self,
        *,
        alerts: Sequence[Alert] = (),
        events: Sequence[AlertEvent] = (),
        audits: Sequence[AuditEntry] = (),
        cursor: Cursor | None = None,
        silences_matched: Collection[int] = (),
        silences_expired: Sequence[tuple[int, str, float]] = (),
        now: float = 0.0,
    ) -> None:
        for alert in alerts:
            current = self.alerts.get(alert.fingerprint)
            if (current.version if current else 0) != alert.version:
                raise Conflict(alert.fingerprint)
        for alert in alerts:
            self.alerts[alert.fingerprint] = replace(
                alert, version=alert.version + 1, id=alert.id or self._id()
            )
        self.events.extend(events)
        self.audits.extend(audits)
        if cursor is not None:
            self.state["evaluations_watermark"] = cursor
        for sid in silences_matched:
            silence, source = self._silences[sid]
            self._silences[sid] = (replace(silence, matched_any=True), source)
        for sid, by, at in silences_expired:
            silence, source = self._silences[sid]
            self._silences[sid] = (replace(silence, ends_at=min(silence.ends_at, at), expired_by=by), source)

    def events_for(self, fingerprint: str, limit: int) -> list[AlertEvent]:
        return [e for e in reversed(self.events) if e.fingerprint == fingerprint][:limit]

    def silences(self, now: float, include_expired: bool = False) -> list[Silence]:
        return [s for s, _ in self._silences.values() if include_expired or s.status(now) != "expired"]

    def get_silence(self, silence_id: int) -> Silence | None:
        found = self._silences.get(silence_id)
        return found[0] if found else None

    def add_silence(self, silence: Silence, source: str, audit: AuditEntry) -> int:
        sid = self._id()
        self._silences[sid] = (replace(silence, id=sid), source)
        self.audits.append(replace(audit, target=f"silence:{sid}"))
        return sid

    def add_audit(self, entry: AuditEntry) -> None:
        self.audits.append(replace(entry, id=self._id()))

    def audit_entries(self, limit: int, since: float | None = None) -> list[AuditEntry]:
        rows = [a for a in reversed(self.audits) if since is None or a.at >= since]
        return rows[:limit]

    def get_state(self, name: str) -> Any:
        return self.state.get(name)

    def set_state(self, name: str, value: Any, now: float) -> None:
        self.state[name] = value

    def groups(self) -> dict[str, GroupState]:
        return dict(self._groups)

    @_locked
    def commit_plan(self, groups: Sequence[GroupState], rows: Sequence[OutboxItem], now: float) -> None:
        for group in groups:
            current = self._groups.get(group.group_ref)
            if (current.version if current else 0) != group.version:
                raise Conflict(group.group_ref)
        keys = {r.key for r in self.outbox.values()}
        if any(r.key in keys for r in rows):
            raise Conflict("outbox key already enqueued")
        for group in groups:
            self._groups[group.group_ref] = replace(
                group, version=group.version + 1, id=group.id or self._id()
            )
        for row in rows:
            rid = self._id()
            self.outbox[rid] = replace(row, id=rid)

    @_locked
    def outbox_heads(self, limit: int) -> list[OutboxItem]:
        heads: dict[str, OutboxItem] = {}
        for rid in sorted(self.outbox):
            row = self.outbox[rid]
            if row.status in UNFINISHED and row.target not in heads:
                heads[row.target] = row
        return list(heads.values())[:limit]

    @_locked
    def outbox_get(self, key: str) -> OutboxItem | None:
        return next((r for r in self.outbox.values() if r.key == key), None)

    @_locked
    def outbox_rows(self, statuses: Collection[str] | None, limit: int) -> list[OutboxItem]:
        rows = [r for _, r in sorted(self.outbox.items()) if statuses is None or r.status in statuses]
        return rows[-limit:]

    def _swap(self, item: OutboxItem, **changes: Any) -> OutboxItem:
        assert item.id is not None
        current = self.outbox[item.id]
        updated = replace(current, **changes)
        self.outbox[item.id] = updated
        return updated

    @_locked
    def outbox_claim(self, item: OutboxItem, owner: str, now: float, lease: float) -> OutboxItem | None:
        assert item.id is not None
        current = self.outbox[item.id]
        if (current.status, current.lease_owner, current.attempts) != (
            item.status,
            item.lease_owner,
            item.attempts,
        ):
            return None
        return self._swap(item, status="sending", lease_owner=owner, lease_until=now + lease)

    @_locked
    def outbox_start_attempt(self, item: OutboxItem, now: float) -> OutboxItem:
        return self._swap(item, attempt_started_at=now, attempts=item.attempts + 1)

    @_locked
    def outbox_complete(self, item: OutboxItem, result: Mapping[str, Any], now: float) -> None:
        self._swap(
            item,
            status="sent",
            result=dict(result),
            sent_at=now,
            lease_owner=None,
            lease_until=None,
            attempt_started_at=None,
            last_error=None,
        )

    @_locked
    def outbox_retry(
        self, item: OutboxItem, not_before: float, error: str, first_failure_at: float | None, uncertain: bool
    ) -> None:
        self._swap(
            item,
            status="pending",
            not_before=not_before,
            last_error=error,
            first_failure_at=first_failure_at,
            lease_owner=None,
            lease_until=None,
            attempt_started_at=item.attempt_started_at if uncertain else None,
        )

    @_locked
    def outbox_finish(self, item: OutboxItem, status: Status, error: str | None) -> None:
        self._swap(item, status=status, last_error=error, lease_owner=None, lease_until=None)

    @_locked
    def outbox_fail_over(self, item: OutboxItem, error: str, rows: Sequence[OutboxItem], now: float) -> None:
        self._swap(item, status="failed_over", last_error=error, lease_owner=None, lease_until=None)
        for row in rows:
            if self.outbox_get(row.key) is None:
                rid = self._id()
                self.outbox[rid] = replace(row, id=rid)

    @_locked
    def outbox_newer_update(self, item: OutboxItem) -> bool:
        return any(
            r.id is not None
            and item.id is not None
            and r.id > item.id
            and r.parent_key == item.parent_key
            and r.action == "update"
            and r.status == "pending"
            for r in self.outbox.values()
        )

    @_locked
    def pace_take(self, lane: str, now: float, pace: float) -> float:
        slot = max(now, self.pacing.get(lane, 0.0))
        self.pacing[lane] = slot + pace
        return slot

    @_locked
    def pace_block(self, lane: str, until: float) -> None:
        self.pacing[lane] = max(self.pacing.get(lane, 0.0), until)
