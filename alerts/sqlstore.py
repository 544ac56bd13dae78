"""The alert store on SQLAlchemy Core: SQLite by default, PostgreSQL at scale.

Every method is one short transaction. Optimistic versions on ``alerts`` and ``alert_groups``
make concurrent writers (the evaluator, a CLI acknowledgement, the HTTP API) safe without locks
held across Python work; outbox claims are compare-and-set updates, so two dispatchers can never
both send one row.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import and_, bindparam, func, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine, RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from alerts.grouping import GroupState
from alerts.matchers import parse_matcher_list
from alerts.model import Alert, AlertEvent, AuditEntry, Figures
from alerts.notification import Notification
from alerts.outbox import UNFINISHED, OutboxItem, Status
from alerts.silences import Silence
from alerts.store import Conflict
from alerts.tables import alert_audit, alert_events, alert_groups, alert_outbox, alert_silences, alert_state
from alerts.tables import alerts as alerts_table
from slas.evaluation_rows import evaluation_from_row
from slas.model import Evaluation
from slas.tables import sla_evaluations
from vitals.kernel.follow import Cursor, default_horizon_s, read_new
from vitals.kernel.timeintervals import TimeInterval

WATERMARK = "evaluations_watermark"


def ns(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1e9)


def sec(nanos: int | None) -> float | None:
    return None if nanos is None else nanos / 1e9


def _sec(nanos: int) -> float:
    return nanos / 1e9


def _alert(row: RowMapping) -> Alert:
    return Alert(
        fingerprint=row["fingerprint"],
        sla_id=row["sla_id"],
        slice=row["slice"],
        tier=row["tier"],
        labels=dict(row["labels"]),
        figures=Figures.from_json(row["figures"]),
        started_at=_sec(row["started_at_unix_nano"]),
        last_evaluated_at=_sec(row["last_evaluated_at_unix_nano"]),
        active=bool(row["active"]),
        clear_since=sec(row["clear_since_unix_nano"]),
        resolved_at=sec(row["resolved_at_unix_nano"]),
        acknowledged_by=row["acknowledged_by"],
        acknowledged_at=sec(row["acknowledged_at_unix_nano"]),
        ack_comment=row["ack_comment"],
        suppressed_by=tuple(row["suppressed_by"] or ()),
        transitions=tuple(float(t) / 1e9 for t in row["transitions"] or ()),
        flapping=bool(row["flapping"]),
        hysteresis_holds=int(row["hysteresis_holds"]),
        flap_holds=int(row["flap_holds"]),
        episode=int(row["episode"]),
        id=int(row["id"]),
        version=int(row["version"]),
    )


def _alert_values(alert: Alert, now: float) -> dict[str, Any]:
    labels = alert.labels
    return {
        "fingerprint": alert.fingerprint,
        "sla_id": alert.sla_id,
        "slice": alert.slice,
        "tier": alert.tier,
        "state": alert.state,
        "active": alert.active,
        "priority": labels.get("priority", "P4")[:2],
        "severity": labels.get("severity", "ticket")[:8],
        "domain": labels.get("domain", ""),
        "owner": labels.get("owner", ""),
        "title": alert.figures.title,
        "labels": dict(labels),
        "figures": alert.figures.to_json(),
        "started_at_unix_nano": ns(alert.started_at),
        "last_evaluated_at_unix_nano": ns(alert.last_evaluated_at),
        "clear_since_unix_nano": ns(alert.clear_since),
        "resolved_at_unix_nano": ns(alert.resolved_at),
        "acknowledged_by": alert.acknowledged_by,
        "acknowledged_at_unix_nano": ns(alert.acknowledged_at),
        "ack_comment": alert.ack_comment,
        "suppressed_by": list(alert.suppressed_by),
        "transitions": [ns(t) for t in alert.transitions],
        "flapping": alert.flapping,
        "hysteresis_holds": alert.hysteresis_holds,
        "flap_holds": alert.flap_holds,
        "episode": alert.episode,
        "version": alert.version + 1,
        "updated_at_unix_nano": ns(now),
    }


def _silence(row: RowMapping) -> Silence:
    return Silence(
        id=int(row["id"]),
        matchers=tuple(parse_matcher_list(row["matchers"])),
        starts_at=_sec(row["starts_at_unix_nano"]),
        ends_at=_sec(row["ends_at_unix_nano"]),
        created_by=row["created_by"],
        comment=row["comment"],
        created_at=_sec(row["created_at_unix_nano"]),
        expire_on_resolve=bool(row["expire_on_resolve"]),
        time_intervals=tuple(TimeInterval.from_json(s) for s in row["time_intervals"] or ()),
        expired_by=row["expired_by"],
        matched_any=bool(row["matched_any"]),
    )


def _audit(row: RowMapping) -> AuditEntry:
    return AuditEntry(
        at=_sec(row["at_unix_nano"]),
        actor=row["actor"],
        action=row["action"],
        target=row["target"],
        source=row["source"],
        detail=dict(row["detail"] or {}),
        id=int(row["id"]),
    )


def _item(row: RowMapping) -> OutboxItem:
    return OutboxItem(
        key=row["key"],
        receiver=row["receiver"],
        integration=row["integration"],
        kind=row["kind"],
        action=row["action"],
        target=row["target"],
        group_ref=row["group_ref"],
        notification=Notification.from_json(row["notification"]),
        parent_key=row["parent_key"],
        status=row["status"],
        attempts=int(row["attempts"]),
        not_before=_sec(row["not_before_unix_nano"]),
        first_failure_at=sec(row["first_failure_at_unix_nano"]),
        attempt_started_at=sec(row["attempt_started_at_unix_nano"]),
        lease_owner=row["lease_owner"],
        lease_until=sec(row["lease_until_unix_nano"]),
        last_error=row["last_error"],
        result=row["result"],
        fallback_of=row["fallback_of"],
        created_at=_sec(row["created_at_unix_nano"]),
        sent_at=sec(row["sent_at_unix_nano"]),
        id=int(row["id"]),
    )


def _item_values(item: OutboxItem) -> dict[str, Any]:
    return {
        "key": item.key,
        "receiver": item.receiver,
        "integration": item.integration,
        "kind": item.kind,
        "action": item.action,
        "target": item.target,
        "parent_key": item.parent_key,
        "group_ref": item.group_ref,
        "notification": item.notification.to_json(),
        "status": item.status,
        "attempts": item.attempts,
        "not_before_unix_nano": ns(item.not_before),
        "first_failure_at_unix_nano": ns(item.first_failure_at),
        "attempt_started_at_unix_nano": ns(item.attempt_started_at),
        "lease_owner": item.lease_owner,
        "lease_until_unix_nano": ns(item.lease_until),
        "last_error": item.last_error,
        "result": dict(item.result) if item.result is not None else None,
        "fallback_of": item.fallback_of,
        "created_at_unix_nano": ns(item.created_at),
        "sent_at_unix_nano": ns(item.sent_at),
    }


_UPDATE_ALERT = (
    update(alerts_table)
    .where(alerts_table.c.id == bindparam("b_id"), alerts_table.c.version == bindparam("b_version"))
    .values({c.name: bindparam(c.name) for c in alerts_table.columns if c.name != "id"})
)


class SqlStore:
    """``AlertStore`` over a migrated Vitals database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
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
            rows = conn.execute(
                select(alerts_table).where(alerts_table.c.resolved_at_unix_nano.is_(None))
            ).mappings()
            return [_alert(r) for r in rows]

    def alerts_by_fingerprint(self, fingerprints: Collection[str]) -> dict[str, Alert]:
        out: dict[str, Alert] = {}
        items = list(fingerprints)
        with self.engine.connect() as conn:
            for start in range(0, len(items), 500):
                chunk = items[start : start + 500]
                for row in conn.execute(
                    select(alerts_table).where(alerts_table.c.fingerprint.in_(chunk))
                ).mappings():
                    out[row["fingerprint"]] = _alert(row)
        return out

    def resolved_since(self, since: float) -> list[Alert]:
        query = select(alerts_table).where(alerts_table.c.resolved_at_unix_nano >= ns(since))
        with self.engine.connect() as conn:
            return [_alert(r) for r in conn.execute(query).mappings()]

    def get_alert(self, ref: str | int) -> Alert | None:
        text = str(ref).strip()
        condition = alerts_table.c.fingerprint == text
        if text.isdigit():
            condition = or_(condition, alerts_table.c.id == int(text))
        with self.engine.connect() as conn:
            row = conn.execute(select(alerts_table).where(condition).limit(1)).mappings().first()
            return _alert(row) if row else None

    def list_alerts(
        self, states: Collection[str] | None, resolved_since: float | None, limit: int
    ) -> list[Alert]:
        query = select(alerts_table)
        conditions: list[ColumnElement[bool]] = []
        if states is not None:
            conditions.append(alerts_table.c.state.in_(list(states)))
        if resolved_since is not None:
            conditions.append(
                or_(
                    alerts_table.c.resolved_at_unix_nano.is_(None),
                    alerts_table.c.resolved_at_unix_nano >= ns(resolved_since),
                )
            )
        if conditions:
            query = query.where(and_(*conditions))
        query = query.order_by(alerts_table.c.started_at_unix_nano.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [_alert(r) for r in conn.execute(query).mappings()]

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
        fresh = [_alert_values(a, now) for a in alerts if a.id is None]
        known = [
            {**_alert_values(a, now), "b_id": a.id, "b_version": a.version}
            for a in alerts
            if a.id is not None
        ]
        try:
            with self.engine.begin() as conn:
                if fresh:
                    conn.execute(insert(alerts_table), fresh)
                if known:
                    # One statement for all (executemany); the total row count tells whether any
                    # row's version moved underneath us.
                    result = conn.execute(_UPDATE_ALERT, known)
                    if result.rowcount != len(known):
                        raise Conflict(f"{len(known) - result.rowcount} alert(s) changed concurrently")
                if events:
                    conn.execute(
                        insert(alert_events),
                        [
                            {
                                "fingerprint": e.fingerprint,
                                "at_unix_nano": ns(e.at),
                                "kind": e.kind,
                                "actor": e.actor,
                                "detail": dict(e.detail),
                            }
                            for e in events
                        ],
                    )
                for entry in audits:
                    self._audit(conn, entry)
                if cursor is not None:
                    document = {"watermark": cursor.watermark, "seen": cursor.seen_json()}
                    self._set_state(conn, WATERMARK, document, now)
                if silences_matched:
                    conn.execute(
                        update(alert_silences)
                        .where(alert_silences.c.id.in_(list(silences_matched)))
                        .values(matched_any=True)
                    )
                for sid, by, at in silences_expired:
                    conn.execute(
                        update(alert_silences)
                        .where(alert_silences.c.id == sid, alert_silences.c.ends_at_unix_nano > ns(at))
                        .values(ends_at_unix_nano=ns(at), expired_by=by)
                    )
        except IntegrityError as exc:  # a concurrent insert of the same fingerprint
            raise Conflict(str(exc.orig)) from exc

    def events_for(self, fingerprint: str, limit: int) -> list[AlertEvent]:
        query = (
            select(alert_events)
            .where(alert_events.c.fingerprint == fingerprint)
            .order_by(alert_events.c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [
                AlertEvent(
                    r["fingerprint"], _sec(r["at_unix_nano"]), r["kind"], r["actor"], dict(r["detail"] or {})
                )
                for r in conn.execute(query).mappings()
            ]

    # --- silences, audit, state ----------------------------------------------------------------

    def silences(self, now: float, include_expired: bool = False) -> list[Silence]:
        query = select(alert_silences).order_by(alert_silences.c.id)
        if not include_expired:
            query = query.where(alert_silences.c.ends_at_unix_nano > ns(now))
        with self.engine.connect() as conn:
            return [_silence(r) for r in conn.execute(query).mappings()]

    def silence_sources(self) -> dict[int, str]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(alert_silences.c.id, alert_silences.c.source)).all()
            return {int(r[0]): str(r[1]) for r in rows}

    def get_silence(self, silence_id: int) -> Silence | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(select(alert_silences).where(alert_silences.c.id == silence_id))
                .mappings()
                .first()
            )
            return _silence(row) if row else None

    def add_silence(self, silence: Silence, source: str, audit: AuditEntry) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(alert_silences)
                .values(
                    matchers=[str(m) for m in silence.matchers],
                    starts_at_unix_nano=ns(silence.starts_at),
                    ends_at_unix_nano=ns(silence.ends_at),
                    created_by=silence.created_by,
                    comment=silence.comment,
                    created_at_unix_nano=ns(silence.created_at),
                    expire_on_resolve=silence.expire_on_resolve,
                    time_intervals=[s.to_json() for s in silence.time_intervals] or None,
                    matched_any=False,
                    expired_by=None,
                    source=source,
                )
                .returning(alert_silences.c.id)
            )
            sid = int(result.scalar_one())
            self._audit(conn, replace(audit, target=f"silence:{sid}"))
            return sid

    def _audit(self, conn: Connection, entry: AuditEntry) -> None:
        conn.execute(
            insert(alert_audit).values(
                at_unix_nano=ns(entry.at),
                actor=entry.actor,
                action=entry.action,
                target=entry.target,
                source=entry.source,
                detail=dict(entry.detail),
            )
        )

    def add_audit(self, entry: AuditEntry) -> None:
        with self.engine.begin() as conn:
            self._audit(conn, entry)

    def audit_entries(self, limit: int, since: float | None = None) -> list[AuditEntry]:
        query = select(alert_audit).order_by(alert_audit.c.id.desc()).limit(limit)
        if since is not None:
            query = query.where(alert_audit.c.at_unix_nano >= ns(since))
        with self.engine.connect() as conn:
            return [_audit(r) for r in conn.execute(query).mappings()]

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
            .values(value=document, updated_at_unix_nano=ns(now))
        )
        if result.rowcount == 0:
            conn.execute(insert(alert_state).values(name=name, value=document, updated_at_unix_nano=ns(now)))

    def set_state(self, name: str, value: Any, now: float) -> None:
        with self.engine.begin() as conn:
            self._set_state(conn, name, value, now)

    # --- groups and outbox ---------------------------------------------------------------------

    def groups(self) -> dict[str, GroupState]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(alert_groups)).mappings()
            return {
                r["group_ref"]: GroupState.from_json(
                    r["state"],
                    route_key=r["route_key"],
                    group_key=r["group_key"],
                    group_ref=r["group_ref"],
                    receiver=r["receiver"],
                    group_labels=r["group_labels"],
                    id=int(r["id"]),
                    version=int(r["version"]),
                )
                for r in rows
            }

    def commit_plan(self, groups: Sequence[GroupState], rows: Sequence[OutboxItem], now: float) -> None:
        try:
            with self.engine.begin() as conn:
                for group in groups:
                    values = {
                        "group_ref": group.group_ref,
                        "group_key": group.group_key,
                        "route_key": group.route_key,
                        "receiver": group.receiver,
                        "group_labels": dict(group.group_labels),
                        "open": group.open,
                        "state": group.to_json(),
                        "version": group.version + 1,
                        "updated_at_unix_nano": ns(now),
                    }
                    if group.id is None:
                        conn.execute(insert(alert_groups).values(**values))
                        continue
                    result = conn.execute(
                        update(alert_groups)
                        .where(alert_groups.c.id == group.id, alert_groups.c.version == group.version)
                        .values(**values)
                    )
                    if result.rowcount != 1:
                        raise Conflict(group.group_ref)
                if rows:
                    conn.execute(insert(alert_outbox), [_item_values(r) for r in rows])
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
        query = (
            select(alert_outbox).where(alert_outbox.c.id.in_(first)).order_by(alert_outbox.c.id).limit(limit)
        )
        with self.engine.connect() as conn:
            return [_item(r) for r in conn.execute(query).mappings()]

    def outbox_get(self, key: str) -> OutboxItem | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(alert_outbox).where(alert_outbox.c.key == key)).mappings().first()
            return _item(row) if row else None

    def outbox_rows(self, statuses: Collection[str] | None, limit: int) -> list[OutboxItem]:
        query = select(alert_outbox).order_by(alert_outbox.c.id.desc()).limit(limit)
        if statuses is not None:
            query = query.where(alert_outbox.c.status.in_(list(statuses)))
        with self.engine.connect() as conn:
            return list(reversed([_item(r) for r in conn.execute(query).mappings()]))

    def outbox_counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(alert_outbox.c.status, func.count()).group_by(alert_outbox.c.status)
            ).all()
            return {str(r[0]): int(r[1]) for r in rows}

    def _change(
        self, item: OutboxItem, values: Mapping[str, Any], *, expect: Mapping[str, Any] | None = None
    ) -> int:
        assert item.id is not None
        query = update(alert_outbox).where(alert_outbox.c.id == item.id)
        for column, value in (expect or {}).items():
            col = alert_outbox.c[column]
            query = query.where(col.is_(None) if value is None else col == value)
        with self.engine.begin() as conn:
            return int(conn.execute(query.values(**values)).rowcount)

    def outbox_claim(self, item: OutboxItem, owner: str, now: float, lease: float) -> OutboxItem | None:
        changed = self._change(
            item,
            {"status": "sending", "lease_owner": owner, "lease_until_unix_nano": ns(now + lease)},
            expect={"status": item.status, "lease_owner": item.lease_owner, "attempts": item.attempts},
        )
        if changed != 1:
            return None
        return replace(item, status="sending", lease_owner=owner, lease_until=now + lease)

    def outbox_start_attempt(self, item: OutboxItem, now: float) -> OutboxItem:
        self._change(item, {"attempt_started_at_unix_nano": ns(now), "attempts": item.attempts + 1})
        return replace(item, attempt_started_at=now, attempts=item.attempts + 1)

    def outbox_complete(self, item: OutboxItem, result: Mapping[str, Any], now: float) -> None:
        self._change(
            item,
            {
                "status": "sent",
                "result": dict(result),
                "sent_at_unix_nano": ns(now),
                "lease_owner": None,
                "lease_until_unix_nano": None,
                "attempt_started_at_unix_nano": None,
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
                "not_before_unix_nano": ns(not_before),
                "last_error": error[:2000],
                "first_failure_at_unix_nano": ns(first_failure_at),
                "lease_owner": None,
                "lease_until_unix_nano": None,
                "attempt_started_at_unix_nano": ns(item.attempt_started_at) if uncertain else None,
            },
        )

    def outbox_finish(self, item: OutboxItem, status: Status, error: str | None) -> None:
        self._change(
            item,
            {
                "status": status,
                "last_error": error[:2000] if error else None,
                "lease_owner": None,
                "lease_until_unix_nano": None,
            },
        )

    def outbox_fail_over(self, item: OutboxItem, error: str, rows: Sequence[OutboxItem], now: float) -> None:
        assert item.id is not None
        with self.engine.begin() as conn:
            conn.execute(
                update(alert_outbox)
                .where(alert_outbox.c.id == item.id)
                .values(
                    status="failed_over",
                    last_error=error[:2000],
                    lease_owner=None,
                    lease_until_unix_nano=None,
                )
            )
            existing = set()
            if rows:
                keys = [r.key for r in rows]
                existing = {
                    str(k)
                    for (k,) in conn.execute(select(alert_outbox.c.key).where(alert_outbox.c.key.in_(keys)))
                }
            fresh = [_item_values(r) for r in rows if r.key not in existing]
            if fresh:
                conn.execute(insert(alert_outbox), fresh)

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
