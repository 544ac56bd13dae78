"""``ExceptionStore`` over the store (SQLite or PostgreSQL) with SQLAlchemy Core.

Failed spans are read from ``spans`` (``status_code = 'error'`` with an ``hc_stage``) and their
keys from ``span_keys``: what the collector stored, after redaction. Groups and attempts live in
``exceptions.tables``; their audit entries go into access's ``audit_log`` in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from access.audit import append
from access.model import AuditEntry
from collector.tables import span_keys, spans
from exceptions.model import Attempt, Group, GroupChanged, Outcome
from exceptions.store import FailedSpan, StageSpan
from exceptions.tables import exception_groups, exception_replays

NS = 1_000_000_000
#: What people (and the reopen rule) set; a refresh writes only the figures of a known group, so
#: a state change made while it computed is never overwritten.
STATE_COLUMNS = frozenset({"state", "owner", "state_by", "state_at_unix_nano"})
#: Trace ids per IN list (PostgreSQL and SQLite both take far more; this keeps statements small).
CHUNK = 500


def _ns(seconds: float) -> int:
    return round(seconds * NS)


def _group_row(g: Group) -> dict[str, Any]:
    return {
        "id": g.id,
        "stage": g.stage,
        "system": g.system,
        "message": g.message,
        "workflow": g.workflow,
        "facility": g.facility,
        "interface": g.interface,
        "team": g.team,
        "count": g.count,
        "first_seen_unix_nano": _ns(g.first_seen),
        "last_seen_unix_nano": _ns(g.last_seen),
        "amount": g.amount,
        "state": g.state,
        "owner": g.owner,
        "state_by": g.state_by,
        "state_at_unix_nano": _ns(g.state_at),
        "replayed": g.replayed,
        "succeeded": g.succeeded,
        "failed_again": g.failed_again,
    }


def _group(row: Any) -> Group:
    return Group(
        id=row.id,
        stage=row.stage,
        system=row.system,
        message=row.message,
        count=int(row.count),
        first_seen=row.first_seen_unix_nano / NS,
        last_seen=row.last_seen_unix_nano / NS,
        amount=float(row.amount),
        team=row.team,
        workflow=row.workflow,
        facility=row.facility,
        interface=row.interface,
        state=row.state,
        owner=row.owner,
        state_by=row.state_by,
        state_at=row.state_at_unix_nano / NS,
        replayed=int(row.replayed),
        succeeded=int(row.succeeded),
        failed_again=int(row.failed_again),
    )


def _attempt(row: Any) -> Attempt:
    return Attempt(
        group_id=row.group_id,
        interface=row.interface,
        target=row.target,
        trace_id=row.trace_id,
        span_id=row.span_id,
        key_hash=row.key_hash,
        status=row.status,
        actor=row.actor,
        at=row.at_unix_nano / NS,
        result=row.result,
        traceparent=row.traceparent,
        outcome=row.outcome,
        outcome_at=None if row.outcome_at_unix_nano is None else row.outcome_at_unix_nano / NS,
        id=int(row.id),
    )


class SqlExceptionStore:
    def __init__(self, engine: Engine, *, remote: str = "") -> None:
        self.engine = engine
        #: The client's address, added to audit entries that name none (the API's writes).
        self.remote = remote

    def _audit(self, conn: Connection, entries: Sequence[AuditEntry]) -> None:
        from dataclasses import replace

        append(conn, [e if e.remote or not self.remote else replace(e, remote=self.remote) for e in entries])

    def failed_spans(
        self, since: float, *, stage: str | None = None, system: str | None = None, attributes: bool = False
    ) -> list[FailedSpan]:
        columns = [
            spans.c.trace_id,
            spans.c.span_id,
            spans.c.hc_stage,
            spans.c.hc_system,
            spans.c.status_message,
            spans.c.event_time_unix_nano,
            spans.c.hc_amount,
            spans.c.hc_workflow,
            spans.c.hc_facility,
        ]
        if attributes:
            columns.append(spans.c.attributes)
        query = select(*columns).where(
            spans.c.status_code == "error",
            spans.c.hc_stage.is_not(None),
            spans.c.event_time_unix_nano >= _ns(since),
        )
        if stage is not None:
            query = query.where(spans.c.hc_stage == stage)
        if system is not None:
            query = query.where(spans.c.hc_system == system)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(spans.c.event_time_unix_nano)).all()
        return [
            FailedSpan(
                trace_id=r.trace_id,
                span_id=r.span_id,
                stage=r.hc_stage,
                system=r.hc_system or "",
                status_message=r.status_message or "",
                at=r.event_time_unix_nano / NS,
                amount=r.hc_amount,
                workflow=r.hc_workflow or "",
                facility=r.hc_facility or "",
                attributes=dict(r.attributes or {}) if attributes else {},
            )
            for r in rows
        ]

    def keys_of(self, refs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], dict[str, str]]:
        wanted = set(refs)
        traces = sorted({t for t, _ in wanted})
        found: dict[tuple[str, str], dict[str, str]] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(traces), CHUNK):
                query = select(
                    span_keys.c.trace_id, span_keys.c.span_id, span_keys.c.key_name, span_keys.c.key_hash
                )
                rows = conn.execute(
                    query.where(span_keys.c.trace_id.in_(traces[start : start + CHUNK]))
                ).all()
                for r in rows:
                    if (r.trace_id, r.span_id) in wanted:
                        found.setdefault((r.trace_id, r.span_id), {})[r.key_name] = r.key_hash
        return found

    def stage_spans(self, trace_ids: Sequence[str], stage: str, after: float) -> list[StageSpan]:
        traces = sorted(set(trace_ids))
        out: list[StageSpan] = []
        with self.engine.connect() as conn:
            for start in range(0, len(traces), CHUNK):
                query = select(spans.c.trace_id, spans.c.status_code, spans.c.event_time_unix_nano).where(
                    spans.c.trace_id.in_(traces[start : start + CHUNK]),
                    spans.c.hc_stage == stage,
                    spans.c.event_time_unix_nano > _ns(after),
                )
                out += [
                    StageSpan(r.trace_id, stage, r.status_code != "error", r.event_time_unix_nano / NS)
                    for r in conn.execute(query)
                ]
        return out

    def groups(self) -> list[Group]:
        with self.engine.connect() as conn:
            return [_group(r) for r in conn.execute(select(exception_groups))]

    def group(self, group_id: str) -> Group | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(exception_groups).where(exception_groups.c.id == group_id)).first()
        return None if row is None else _group(row)

    def save_groups(self, groups: Sequence[Group]) -> None:
        """Two refreshes at once may both insert a new group: the one that loses retries, and
        then finds it known."""
        try:
            self._save_groups(groups)
        except IntegrityError:
            self._save_groups(groups)

    def _save_groups(self, groups: Sequence[Group]) -> None:
        if not groups:
            return
        with self.engine.begin() as conn:
            ids = [g.id for g in groups]
            known: set[str] = set()
            for start in range(0, len(ids), CHUNK):
                chunk = ids[start : start + CHUNK]
                known |= {
                    r.id
                    for r in conn.execute(
                        select(exception_groups.c.id).where(exception_groups.c.id.in_(chunk))
                    )
                }
            fresh = [_group_row(g) for g in groups if g.id not in known]
            if fresh:
                conn.execute(insert(exception_groups), fresh)
            for g in groups:
                if g.id not in known:
                    continue
                row = _group_row(g)
                figures = {k: v for k, v in row.items() if k not in STATE_COLUMNS and k != "id"}
                conn.execute(update(exception_groups).where(exception_groups.c.id == g.id).values(**figures))
                if g.state == "new" and g.state_by == "system":
                    # A reopen: only if the stored group is still closed since before the failure.
                    conn.execute(
                        update(exception_groups)
                        .where(
                            exception_groups.c.id == g.id,
                            exception_groups.c.state.in_(("resolved", "ignored")),
                            exception_groups.c.state_at_unix_nano < row["last_seen_unix_nano"],
                        )
                        .values(state="new", state_by="system", state_at_unix_nano=row["state_at_unix_nano"])
                    )

    def update_group(self, group: Group, audit: Sequence[AuditEntry], *, before: Group) -> None:
        with self.engine.begin() as conn:
            if not self._write_state(conn, group, before):
                raise GroupChanged(f"group {group.id} changed meanwhile; look at it again and retry")
            self._audit(conn, audit)

    def _write_state(self, conn: Connection, group: Group, before: Group) -> bool:
        """Compare and set: the state as read (state and its time), else nothing written."""
        result = conn.execute(
            update(exception_groups)
            .where(
                exception_groups.c.id == group.id,
                exception_groups.c.state == before.state,
                exception_groups.c.state_at_unix_nano == _ns(before.state_at),
            )
            .values(
                state=group.state,
                owner=group.owner,
                state_by=group.state_by,
                state_at_unix_nano=_ns(group.state_at),
            )
        )
        return bool(result.rowcount)

    def add_attempts(
        self, attempts: Sequence[Attempt], group: Group, audit: Sequence[AuditEntry], *, before: Group
    ) -> None:
        with self.engine.begin() as conn:
            if attempts:
                conn.execute(
                    insert(exception_replays),
                    [
                        {
                            "group_id": a.group_id,
                            "interface": a.interface,
                            "target": a.target,
                            "trace_id": a.trace_id,
                            "span_id": a.span_id,
                            "key_hash": a.key_hash,
                            "status": a.status,
                            "actor": a.actor,
                            "at_unix_nano": _ns(a.at),
                            "result": a.result[:500],
                            "traceparent": a.traceparent,
                            "outcome": a.outcome,
                            "outcome_at_unix_nano": None if a.outcome_at is None else _ns(a.outcome_at),
                        }
                        for a in attempts
                    ],
                )
            # What was sent is recorded whatever happened meanwhile; the state only if unchanged.
            self._write_state(conn, group, before)
            sent = sum(1 for a in attempts if a.status == "sent")
            conn.execute(
                update(exception_groups)
                .where(exception_groups.c.id == group.id)
                .values(replayed=exception_groups.c.replayed + sent)
            )
            self._audit(conn, audit)

    def attempts(
        self, *, group_id: str | None = None, interface: str | None = None, since: float | None = None
    ) -> list[Attempt]:
        query = select(exception_replays)
        if group_id is not None:
            query = query.where(exception_replays.c.group_id == group_id)
        if interface is not None:
            query = query.where(exception_replays.c.interface == interface)
        if since is not None:
            query = query.where(exception_replays.c.at_unix_nano >= _ns(since))
        with self.engine.connect() as conn:
            return [_attempt(r) for r in conn.execute(query.order_by(exception_replays.c.id))]

    def set_outcomes(self, outcomes: Sequence[tuple[int, Outcome, float]]) -> None:
        if not outcomes:
            return
        with self.engine.begin() as conn:
            for attempt_id, outcome, at in outcomes:
                conn.execute(
                    update(exception_replays)
                    .where(
                        and_(exception_replays.c.id == attempt_id, exception_replays.c.outcome == "pending")
                    )
                    .values(outcome=outcome, outcome_at_unix_nano=_ns(at))
                )


__all__ = ["SqlExceptionStore"]
