"""The alert store on SQLAlchemy Core: SQLite by default, PostgreSQL at scale.

Every method is one short transaction. Optimistic versions on ``alerts`` and ``alert_groups``
make concurrent writers (the evaluator, a CLI acknowledgement, the HTTP API) safe without locks
held across Python work; outbox claims are compare-and-set updates, so two dispatchers can never
both send one row.

Rows become the core's frozen dataclasses, and back, through one :class:`~vitals.kernel.rowmap.RowMap`
per table (below): SQLAlchemy converts each field on the way (seconds to ``*_unix_nano``, values
to their JSON documents) and a field added to a dataclass without a column fails at import. Not
the ORM: its imperative mapping cannot instrument frozen dataclasses and would change the core's
classes for every user, and these writes are compare-and-set statements that a unit of work would
hide (see the rowmap module).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import BigInteger, and_, bindparam, case, func, insert, literal, or_, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

import access.audit
from access.model import AuditEntry
from alerts.grouping import GroupState
from alerts.matchers import Matcher, parse_matcher_list
from alerts.model import Alert, AlertEvent, Figures
from alerts.notification import Notification
from alerts.outbox import UNFINISHED, OutboxItem, Status
from alerts.silences import Silence
from alerts.store import Conflict
from alerts.tables import (
    alert_channel_pacing,
    alert_events,
    alert_groups,
    alert_outbox,
    alert_silences,
    alert_state,
)
from alerts.tables import alerts as alerts_table
from slas.evaluation_rows import evaluation_from_row
from slas.model import Evaluation
from slas.tables import sla_evaluations
from vitals.kernel.follow import Cursor, default_horizon_s, read_new
from vitals.kernel.rowmap import Document, JsonOf, RowMap, unix_nano
from vitals.kernel.timeintervals import TimeInterval
from vitals.kernel.units import NS

WATERMARK = "evaluations_watermark"


def _seconds(nanos: Any) -> tuple[float, ...]:
    return tuple(int(t) / NS for t in nanos or ())


def _nanos(seconds: Sequence[float]) -> list[int]:
    return [unix_nano(t) for t in seconds]


def _matchers(stored: Any) -> tuple[Matcher, ...]:
    return tuple(parse_matcher_list(stored))


def _matcher_texts(matchers: Sequence[Matcher]) -> list[str]:
    return [str(m) for m in matchers]


def _intervals(stored: Any) -> tuple[TimeInterval, ...]:
    return tuple(TimeInterval.from_json(s) for s in stored or ())


def _interval_documents(intervals: Sequence[TimeInterval]) -> list[dict[str, Any]] | None:
    return [s.to_json() for s in intervals] or None  # none: NULL, as older rows have it


def _tuple(stored: Any) -> tuple[Any, ...]:
    return tuple(stored or ())


ALERTS = RowMap(
    Alert,
    alerts_table,
    fields={
        "figures": JsonOf(Figures.from_json, Figures.to_json),
        "suppressed_by": JsonOf(_tuple, list),
        "transitions": JsonOf(_seconds, _nanos),  # nanoseconds in the document too
    },
)
EVENTS = RowMap(AlertEvent, alert_events)
SILENCES = RowMap(
    Silence,
    alert_silences,
    fields={
        "matchers": JsonOf(_matchers, _matcher_texts),
        "time_intervals": JsonOf(_intervals, _interval_documents),
    },
)
#: The group's timers and what it notified live in the ``state`` document, by GroupState's own codec.
GROUPS = RowMap(
    GroupState, alert_groups, document=Document("state", GroupState.from_json, GroupState.to_json)
)
OUTBOX = RowMap(
    OutboxItem, alert_outbox, fields={"notification": JsonOf(Notification.from_json, Notification.to_json)}
)


def _with_remote(entry: AuditEntry, remote: str) -> AuditEntry:
    """The entry with the store's client address, unless it names one itself."""
    return entry if entry.remote or not remote else replace(entry, remote=remote)


def _alert_columns(alert: Alert, now: float) -> dict[str, Any]:
    """The columns that summarise an alert for SQL readers, and its next version."""
    labels = alert.labels
    return {
        "state": alert.state,
        "priority": labels.get("priority", "P4")[:2],
        "severity": labels.get("severity", "ticket")[:8],
        "domain": labels.get("domain", ""),
        "owner": labels.get("owner", ""),
        "title": alert.figures.title,
        "version": alert.version + 1,
        "updated_at_unix_nano": unix_nano(now),
    }


def _versioned_update(rowmap: RowMap[Any]) -> Any:
    """An UPDATE of every column that applies only if the row still has the version read."""
    table = rowmap.table
    return (
        update(table)
        .where(table.c.id == bindparam("b_id"), table.c.version == bindparam("b_version"))
        .values(rowmap.binds)
    )


_UPDATE_ALERT = _versioned_update(ALERTS)
_UPDATE_GROUP = _versioned_update(GROUPS)


class SqlStore:
    """``AlertStore`` over a migrated Vitals database.

    ``remote`` is the client address written with every audit entry this store writes (the
    ``remote`` column): the API builds one store per request with its caller's address, so
    ``vitals audit`` and ``/api/v1/audit`` show where each write came from; alerting's own
    writes (evaluations, Slack, the dashboard) have none.
    """

    def __init__(self, engine: Engine, *, remote: str = "") -> None:
        self.engine = engine
        self.remote = remote
        self.follow_horizon_s = default_horizon_s(engine)

    # --- evaluations and alerts --------------------------------------------------------------

    def evaluations_cursor(self) -> Cursor:
        value = self.get_state(WATERMARK)
        return Cursor.from_json(value["watermark"], value["seen"]) if value else Cursor()

    def new_evaluations(self, cursor: Cursor, limit: int) -> list[tuple[int, Evaluation]]:
        with self.engine.connect() as conn:
            new = read_new(conn, select(sla_evaluations), sla_evaluations.c.id, cursor, limit)
        return [(int(row.id), evaluation_from_row(row._mapping)) for row in new.rows]

    def open_alerts(self) -> list[Alert]:
        with self.engine.connect() as conn:
            rows = conn.execute(ALERTS.select().where(ALERTS.c.resolved_at.is_(None)))
            return [ALERTS.load(r) for r in rows]

    def alerts_by_fingerprint(self, fingerprints: Collection[str]) -> dict[str, Alert]:
        out: dict[str, Alert] = {}
        items = list(fingerprints)
        with self.engine.connect() as conn:
            for start in range(0, len(items), 500):
                chunk = items[start : start + 500]
                for row in conn.execute(ALERTS.select().where(alerts_table.c.fingerprint.in_(chunk))):
                    alert = ALERTS.load(row)
                    out[alert.fingerprint] = alert
        return out

    def resolved_since(self, since: float) -> list[Alert]:
        query = ALERTS.select().where(ALERTS.c.resolved_at >= since)
        with self.engine.connect() as conn:
            return [ALERTS.load(r) for r in conn.execute(query)]

    def get_alert(self, ref: str | int) -> Alert | None:
        text = str(ref).strip()
        condition = alerts_table.c.fingerprint == text
        if text.isascii() and text.isdigit() and len(text) <= 18:  # an id that fits a BIGINT
            condition = or_(condition, alerts_table.c.id == int(text))
        with self.engine.connect() as conn:
            row = conn.execute(ALERTS.select().where(condition).limit(1)).first()
            return ALERTS.load(row) if row else None

    def list_alerts(
        self, states: Collection[str] | None, resolved_since: float | None, limit: int
    ) -> list[Alert]:
        query = ALERTS.select()
        conditions: list[ColumnElement[bool]] = []
        if states is not None:
            conditions.append(alerts_table.c.state.in_(list(states)))
        if resolved_since is not None:
            conditions.append(or_(ALERTS.c.resolved_at.is_(None), ALERTS.c.resolved_at >= resolved_since))
        if conditions:
            query = query.where(and_(*conditions))
        query = query.order_by(alerts_table.c.started_at_unix_nano.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [ALERTS.load(r) for r in conn.execute(query)]

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
        fresh = [ALERTS.params(a, **_alert_columns(a, now)) for a in alerts if a.id is None]
        known = [
            {**ALERTS.params(a, **_alert_columns(a, now)), "b_id": a.id, "b_version": a.version}
            for a in alerts
            if a.id is not None
        ]
        try:
            with self.engine.begin() as conn:
                if fresh:
                    conn.execute(ALERTS.insert(), fresh)
                if known:
                    # One statement for all (executemany); the total row count tells whether any
                    # row's version moved underneath us.
                    result = conn.execute(_UPDATE_ALERT, known)
                    if result.rowcount != len(known):
                        raise Conflict(f"{len(known) - result.rowcount} alert(s) changed concurrently")
                if events:
                    conn.execute(EVENTS.insert(), [EVENTS.params(e) for e in events])
                access.audit.append(conn, [_with_remote(e, self.remote) for e in audits])
                if cursor is not None:
                    document = {"watermark": cursor.watermark, "seen": cursor.seen_json()}
                    self._set_state(conn, WATERMARK, document, now)
                if silences_matched:
                    conn.execute(
                        update(alert_silences)
                        .where(alert_silences.c.id.in_(list(silences_matched)))
                        .values(SILENCES.set(matched_any=True))
                    )
                for sid, by, at in silences_expired:
                    conn.execute(
                        update(alert_silences)
                        .where(alert_silences.c.id == sid, SILENCES.c.ends_at > at)
                        .values(SILENCES.set(ends_at=at, expired_by=by))
                    )
        except IntegrityError as exc:  # a concurrent insert of the same fingerprint
            raise Conflict(str(exc.orig)) from exc

    def events_for(self, fingerprint: str, limit: int) -> list[AlertEvent]:
        query = (
            EVENTS.select()
            .where(alert_events.c.fingerprint == fingerprint)
            .order_by(alert_events.c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [EVENTS.load(r) for r in conn.execute(query)]

    # --- silences, audit, state ----------------------------------------------------------------

    def silences(self, now: float, include_expired: bool = False) -> list[Silence]:
        query = SILENCES.select().order_by(alert_silences.c.id)
        if not include_expired:
            query = query.where(SILENCES.c.ends_at > now)
        with self.engine.connect() as conn:
            return [SILENCES.load(r) for r in conn.execute(query)]

    def silence_sources(self) -> dict[int, str]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(alert_silences.c.id, alert_silences.c.source)).all()
            return {int(r[0]): str(r[1]) for r in rows}

    def get_silence(self, silence_id: int) -> Silence | None:
        with self.engine.connect() as conn:
            row = conn.execute(SILENCES.select().where(alert_silences.c.id == silence_id)).first()
            return SILENCES.load(row) if row else None

    def add_silence(self, silence: Silence, source: str, audit: AuditEntry) -> int:
        # A new silence has matched nothing and was expired by no one, whatever the object says.
        values = SILENCES.params(silence, source=source, matched_any=False, expired_by=None)
        with self.engine.begin() as conn:
            sid = int(conn.execute(SILENCES.insert().returning(alert_silences.c.id), values).scalar_one())
            access.audit.append(conn, [_with_remote(replace(audit, target=f"silence:{sid}"), self.remote)])
            return sid

    def add_audit(self, entry: AuditEntry) -> None:
        with self.engine.begin() as conn:
            access.audit.append(conn, [_with_remote(entry, self.remote)])

    def audit_entries(self, limit: int, since: float | None = None) -> list[AuditEntry]:
        """The audit log (access's ``audit_log``: every component's entries), newest first."""
        with self.engine.connect() as conn:
            found = access.audit.read(conn, since=since, limit=limit)
        return found

    def get_state(self, name: str) -> Any:
        with self.engine.connect() as conn:
            row = conn.execute(select(alert_state.c.value).where(alert_state.c.name == name)).first()
            return row[0]["value"] if row else None

    def _set_state(self, conn: Connection, name: str, value: Any, now: float) -> None:
        # Wrapped in an object: JsonDocument takes a bare str as JSON text already.
        document = {"value": value}
        result = conn.execute(
            update(alert_state)
            .where(alert_state.c.name == name)
            .values(value=document, updated_at_unix_nano=unix_nano(now))
        )
        if result.rowcount == 0:
            conn.execute(
                insert(alert_state).values(name=name, value=document, updated_at_unix_nano=unix_nano(now))
            )

    def set_state(self, name: str, value: Any, now: float) -> None:
        with self.engine.begin() as conn:
            self._set_state(conn, name, value, now)

    # --- groups and outbox ---------------------------------------------------------------------

    def groups(self) -> dict[str, GroupState]:
        with self.engine.connect() as conn:
            loaded = [GROUPS.load(r) for r in conn.execute(GROUPS.select())]
        return {g.group_ref: g for g in loaded}

    def commit_plan(self, groups: Sequence[GroupState], rows: Sequence[OutboxItem], now: float) -> None:
        try:
            with self.engine.begin() as conn:
                for group in groups:
                    values = GROUPS.params(
                        group, version=group.version + 1, updated_at_unix_nano=unix_nano(now)
                    )
                    if group.id is None:
                        conn.execute(GROUPS.insert(), values)
                        continue
                    result = conn.execute(
                        _UPDATE_GROUP, {**values, "b_id": group.id, "b_version": group.version}
                    )
                    if result.rowcount != 1:
                        raise Conflict(group.group_ref)
                if rows:
                    conn.execute(OUTBOX.insert(), [OUTBOX.params(r) for r in rows])
        except IntegrityError as exc:
            raise Conflict(str(exc.orig)) from exc

    def outbox_heads(self, limit: int) -> list[OutboxItem]:
        """The oldest unfinished row of every lane."""
        first = (
            select(func.min(alert_outbox.c.id))
            .where(alert_outbox.c.status.in_(UNFINISHED))
            .group_by(alert_outbox.c.target)
            .scalar_subquery()
        )
        query = OUTBOX.select().where(alert_outbox.c.id.in_(first)).order_by(alert_outbox.c.id).limit(limit)
        with self.engine.connect() as conn:
            return [OUTBOX.load(r) for r in conn.execute(query)]

    def outbox_get(self, key: str) -> OutboxItem | None:
        with self.engine.connect() as conn:
            row = conn.execute(OUTBOX.select().where(alert_outbox.c.key == key)).first()
            return OUTBOX.load(row) if row else None

    def outbox_rows(self, statuses: Collection[str] | None, limit: int) -> list[OutboxItem]:
        query = OUTBOX.select().order_by(alert_outbox.c.id.desc()).limit(limit)
        if statuses is not None:
            query = query.where(alert_outbox.c.status.in_(list(statuses)))
        with self.engine.connect() as conn:
            return list(reversed([OUTBOX.load(r) for r in conn.execute(query)]))

    def outbox_counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(alert_outbox.c.status, func.count()).group_by(alert_outbox.c.status)
            ).all()
            return {str(r[0]): int(r[1]) for r in rows}

    def _change(
        self, item: OutboxItem, changes: Mapping[str, Any], *, expect: Mapping[str, Any] | None = None
    ) -> int:
        """Set some fields of the row of ``item``, only while its fields still equal ``expect``."""
        assert item.id is not None
        query = update(alert_outbox).where(alert_outbox.c.id == item.id, *OUTBOX.match(**(expect or {})))
        with self.engine.begin() as conn:
            return int(conn.execute(query.values(OUTBOX.set(**changes))).rowcount)

    def outbox_claim(self, item: OutboxItem, owner: str, now: float, lease: float) -> OutboxItem | None:
        changes: dict[str, Any] = {"status": "sending", "lease_owner": owner, "lease_until": now + lease}
        observed = {"status": item.status, "lease_owner": item.lease_owner, "attempts": item.attempts}
        if self._change(item, changes, expect=observed) != 1:
            return None
        return replace(item, **changes)

    def outbox_start_attempt(self, item: OutboxItem, now: float) -> OutboxItem:
        changes: dict[str, Any] = {"attempt_started_at": now, "attempts": item.attempts + 1}
        self._change(item, changes)
        return replace(item, **changes)

    def outbox_complete(self, item: OutboxItem, result: Mapping[str, Any], now: float) -> None:
        self._change(
            item,
            {
                "status": "sent",
                "result": dict(result),
                "sent_at": now,
                "lease_owner": None,
                "lease_until": None,
                "attempt_started_at": None,
                "last_error": None,
            },
        )

    def outbox_retry(
        self, item: OutboxItem, not_before: float, error: str, first_failure_at: float | None, uncertain: bool
    ) -> None:
        self._change(
            item,
            {
                "status": "pending",
                "not_before": not_before,
                "last_error": error[:2000],
                "first_failure_at": first_failure_at,
                "lease_owner": None,
                "lease_until": None,
                "attempt_started_at": item.attempt_started_at if uncertain else None,
            },
        )

    def outbox_finish(self, item: OutboxItem, status: Status, error: str | None) -> None:
        self._change(
            item,
            {
                "status": status,
                "last_error": error[:2000] if error else None,
                "lease_owner": None,
                "lease_until": None,
            },
        )

    def outbox_fail_over(self, item: OutboxItem, error: str, rows: Sequence[OutboxItem], now: float) -> None:
        assert item.id is not None
        with self.engine.begin() as conn:
            conn.execute(
                update(alert_outbox)
                .where(alert_outbox.c.id == item.id)
                .values(
                    OUTBOX.set(
                        status="failed_over", last_error=error[:2000], lease_owner=None, lease_until=None
                    )
                )
            )
            existing = set()
            if rows:
                keys = [r.key for r in rows]
                existing = {
                    str(k)
                    for (k,) in conn.execute(select(alert_outbox.c.key).where(alert_outbox.c.key.in_(keys)))
                }
            fresh = [OUTBOX.params(r) for r in rows if r.key not in existing]
            if fresh:
                conn.execute(OUTBOX.insert(), fresh)

    def outbox_newer_update(self, item: OutboxItem) -> bool:
        assert item.id is not None
        query = select(func.count()).where(
            alert_outbox.c.id > item.id,
            alert_outbox.c.parent_key == item.parent_key,
            alert_outbox.c.action == "update",
            alert_outbox.c.status == "pending",
        )
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one()) > 0

    # --- pacing shared by every dispatcher -------------------------------------------------------

    def _pace_update(self, lane: str, slot_ns: int, after_ns: int) -> int | None:
        """Move the lane's next slot to ``max(next, slot_ns) + after_ns``; the new value, if a row.

        One UPDATE ... RETURNING: PostgreSQL locks the row and SQLite the database for the
        statement, so two dispatchers never read the same slot.
        """
        pacing = alert_channel_pacing.c
        floor = literal(slot_ns, BigInteger)
        start = case((pacing.next_send_at_unix_nano < floor, floor), else_=pacing.next_send_at_unix_nano)
        query = (
            update(alert_channel_pacing)
            .where(pacing.channel == lane)
            .values(next_send_at_unix_nano=start + literal(after_ns, BigInteger))
            .returning(pacing.next_send_at_unix_nano)
        )
        with self.engine.begin() as conn:
            row = conn.execute(query).first()
        return None if row is None else int(row[0])

    def _pace(self, lane: str, slot_ns: int, after_ns: int) -> int:
        for _ in range(3):
            moved = self._pace_update(lane, slot_ns, after_ns)
            if moved is not None:
                return moved
            try:
                with self.engine.begin() as conn:
                    conn.execute(
                        insert(alert_channel_pacing).values(
                            channel=lane, next_send_at_unix_nano=slot_ns + after_ns
                        )
                    )
                return slot_ns + after_ns
            except IntegrityError:
                continue  # another dispatcher created the lane's row first: move that one
        raise Conflict(f"pacing row of lane {lane!r} keeps changing")

    def pace_take(self, lane: str, now: float, pace: float) -> float:
        """The send slot for the next request in ``lane``: now, or when the lane is next free."""
        pace_ns = max(0, round(pace * NS))
        return (self._pace(lane, unix_nano(now), pace_ns) - pace_ns) / NS

    def pace_block(self, lane: str, until: float) -> None:
        """No slot in ``lane`` before ``until`` (Slack's Retry-After), for every dispatcher."""
        self._pace(lane, unix_nano(until), 0)
