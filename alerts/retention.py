"""Retention of the alerting tables: finished rows deleted after their age, open ones never.

Without it every alert, event, incident, notification, silence and Slack click stays for ever.
What may go, and when (``retention:`` in alerts.yaml, :class:`alerts.config.RetentionSettings`):

- ``alerts``: resolved, resolved and last changed before ``history`` (400 days), and not an
  alert of an open incident. Never an unresolved one (firing, acknowledged, suppressed).
- ``alert_events``: older than ``history``, unless their alert is unresolved (an alert open for
  more than the history keeps all of it) or in an open incident.
- ``alert_groups`` (incidents): closed, last changed before ``history``, and with no outbox row
  left. The last condition matters: a group that comes back starts its episodes again from 1, and
  its notification keys (``group:episode:seq``) must not meet an old row's.
- ``alert_outbox``: finished (sent, failed over, dead, skipped), created before
  ``notifications`` (30 days), not of an open incident (its later messages update or reply to
  its first: the dispatcher reads that row's Slack ``ts``), and the parent of no unsent row.
  Pending and sending rows are never deleted.
- ``alert_silences``: ended before ``silences`` (400 days). Active and future ones never.
- ``alert_slack_actions``: received before ``slack_actions`` (1 day; a replay is refused after
  5 minutes anyway by the signature check).

Kept: ``alert_state`` and ``alert_channel_pacing`` (a few rows, one per name or lane), and the
audit log (access's ``audit_log``: who did what, kept by the operator's policy).

The rules are pure predicates over plain rows (:func:`alert_expired` and its siblings, the
specification the tests hold the SQL to); :func:`run` is the SQL edge, and :class:`RetentionJob`
the scheduler job ``alerts.service`` installs. One process at a time deletes: the lease
``alerts.retention``, renewed in every batch's transaction, so a holder that lost it stops before
writing again. Each batch deletes at most ``batch_rows`` rows in one short transaction and, on
SQLite, pauses as long as it took, so the collector's writer gets in between. No index was added:
every condition starts from an indexed time column (``resolved_at``, ``at``, ``ends_at``,
``received_at``) except the outbox's and the groups', and those tables hold only their
retention's worth (the notifications of 30 days, one row per incident key), which one scan an
hour reads in milliseconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import String, Table, delete, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.elements import ColumnElement

from alerts.outbox import UNFINISHED
from alerts.tables import (
    alert_events,
    alert_groups,
    alert_outbox,
    alert_silences,
    alert_slack_actions,
    alerts,
)
from vitals.kernel.lease import Lease, Timing, hold, new_owner, release, take
from vitals.kernel.units import NS

if TYPE_CHECKING:
    from alerts.config import RetentionSettings
    from vitals.kernel.runtime import ServiceContext

__all__ = [
    "FINISHED",
    "JOB_ID",
    "LEASE",
    "TABLES",
    "AlertRow",
    "Cutoffs",
    "OutboxRow",
    "RetentionJob",
    "RunReport",
    "alert_expired",
    "event_expired",
    "group_expired",
    "outbox_expired",
    "plan",
    "run",
    "silence_expired",
    "slack_action_expired",
]

log = logging.getLogger(__name__)

LEASE = "alerts.retention"
JOB_ID = "alerts.retention"
#: Seconds from the start of ``vitals serve`` to the first run (at most the interval).
FIRST_RUN_S = 60.0
#: Outbox statuses after which nothing is sent for the row any more.
FINISHED: tuple[str, ...] = ("sent", "failed_over", "dead", "skipped")
#: The tables, in the order a run deletes from them: the outbox before the incidents it keeps.
TABLES: tuple[str, ...] = (
    "alert_outbox",
    "alert_groups",
    "alerts",
    "alert_events",
    "alert_silences",
    "alert_slack_actions",
)


@dataclass(frozen=True)
class Cutoffs:
    """Instants (Unix ns) before which finished rows go; ``now_ns`` bounds "ended"."""

    now_ns: int
    history_ns: int
    notifications_ns: int
    silences_ns: int
    slack_actions_ns: int


def plan(settings: RetentionSettings, now_ns: int) -> Cutoffs:
    """The cutoffs at ``now_ns`` (pure)."""

    def before(seconds: float) -> int:
        return now_ns - int(seconds * NS)

    return Cutoffs(
        now_ns=now_ns,
        history_ns=before(settings.history),
        notifications_ns=before(settings.notifications),
        silences_ns=before(settings.silences),
        slack_actions_ns=before(settings.slack_actions),
    )


# --- the rules, over plain rows (the SQL below says the same) --------------------------------


@dataclass(frozen=True)
class AlertRow:
    fingerprint: str
    state: str
    resolved_at_ns: int | None
    updated_at_ns: int


@dataclass(frozen=True)
class OutboxRow:
    key: str
    group_ref: str
    status: str
    created_at_ns: int


def alert_expired(row: AlertRow, cut: Cutoffs, held: Collection[str]) -> bool:
    """A resolved alert, resolved and last changed before the history, in no open incident
    (``held``: the alerts of the open incidents)."""
    return (
        row.state == "resolved"
        and row.resolved_at_ns is not None
        and row.resolved_at_ns < cut.history_ns
        and row.updated_at_ns < cut.history_ns
        and row.fingerprint not in held
    )


def event_expired(at_ns: int, fingerprint: str, cut: Cutoffs, unresolved: Collection[str]) -> bool:
    """An event older than the history, of no unresolved alert and no open incident's alert
    (``unresolved`` holds both)."""
    return at_ns < cut.history_ns and fingerprint not in unresolved


def group_expired(
    open_: bool, updated_at_ns: int, group_ref: str, cut: Cutoffs, notified: Collection[str]
) -> bool:
    """A closed incident, last changed before the history, with no outbox row left
    (``notified``: the group refs of the outbox's rows)."""
    return not open_ and updated_at_ns < cut.history_ns and group_ref not in notified


def outbox_expired(
    row: OutboxRow, cut: Cutoffs, open_groups: Collection[str], waiting_parents: Collection[str]
) -> bool:
    """A finished notification created before its retention, of no open incident, and the parent
    of no unsent row (``waiting_parents``: the ``parent_key`` of the pending and sending rows)."""
    return (
        row.status in FINISHED
        and row.created_at_ns < cut.notifications_ns
        and row.group_ref not in open_groups
        and row.key not in waiting_parents
    )


def silence_expired(ends_at_ns: int, cut: Cutoffs) -> bool:
    """A silence that ended before its retention (an active or future one ends after now)."""
    return ends_at_ns < min(cut.silences_ns, cut.now_ns)


def slack_action_expired(received_at_ns: int, cut: Cutoffs) -> bool:
    return received_at_ns < cut.slack_actions_ns


# --- the SQL edge --------------------------------------------------------------------------------


@dataclass
class RunReport:
    """What one run did; ``claimed`` is False when another process holds the lease."""

    claimed: bool
    deleted: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    longest_batch_s: float = 0.0
    lease_lost: bool = False
    finished: bool = True


def _held_fingerprints(conn: Connection) -> set[str]:
    """The alerts of the open incidents (their ``alerts`` and ``members``, in the state document)."""
    out: set[str] = set()
    for (state,) in conn.execute(select(alert_groups.c.state).where(alert_groups.c.open.is_(True))):
        document = state if isinstance(state, dict) else {}
        out.update(str(fp) for fp in document.get("alerts") or ())
        out.update(str(fp) for fp in document.get("members") or ())
    return out


def _unindexed(column: Any, write: bool) -> Any:
    """``column`` as an expression no index serves, in a delete by primary key: SQLite otherwise
    picks the column's index and reads every row of that status or time to find the batch's 500
    ids (three times slower on 50,000 outbox rows)."""
    if not write:
        return column
    return column + ("" if isinstance(column.type, String) else 0)


def _conditions(
    conn: Connection, table: str, cut: Cutoffs, *, write: bool = False
) -> list[ColumnElement[bool]]:
    """The SQL of each rule (the open incidents' alerts read first, as the rules take them);
    ``write``: for the delete by primary key (see :func:`_unindexed`)."""
    if table == "alerts":
        a = alerts.c
        return [
            _unindexed(a.state, write) == "resolved",
            a.resolved_at_unix_nano.is_not(None),
            _unindexed(a.resolved_at_unix_nano, write) < cut.history_ns,
            a.updated_at_unix_nano < cut.history_ns,
            a.fingerprint.not_in(sorted(_held_fingerprints(conn))),
        ]
    if table == "alert_events":
        e = alert_events.c
        unresolved = select(alerts.c.fingerprint).where(alerts.c.resolved_at_unix_nano.is_(None))
        return [
            _unindexed(e.at_unix_nano, write) < cut.history_ns,
            e.fingerprint.not_in(unresolved),
            e.fingerprint.not_in(sorted(_held_fingerprints(conn))),
        ]
    if table == "alert_groups":
        g = alert_groups.c
        return [
            g.open.is_(False),
            g.updated_at_unix_nano < cut.history_ns,
            g.group_ref.not_in(select(alert_outbox.c.group_ref).distinct()),
        ]
    if table == "alert_outbox":
        o = alert_outbox.c
        # Uncorrelated subqueries, each read once by the (status, ...) index or the small groups
        # table: a correlated one would look ``parent_key`` up (no index) for every candidate.
        child = alert_outbox.alias("child")
        waiting = select(child.c.parent_key).where(
            child.c.status.in_(UNFINISHED), child.c.parent_key.is_not(None)
        )
        return [
            _unindexed(o.status, write).in_(FINISHED),
            _unindexed(o.created_at_unix_nano, write) < cut.notifications_ns,
            o.group_ref.not_in(select(alert_groups.c.group_ref).where(alert_groups.c.open.is_(True))),
            o.key.not_in(waiting),
        ]
    if table == "alert_silences":
        return [_unindexed(alert_silences.c.ends_at_unix_nano, write) < min(cut.silences_ns, cut.now_ns)]
    if table == "alert_slack_actions":
        return [_unindexed(alert_slack_actions.c.received_at_unix_nano, write) < cut.slack_actions_ns]
    raise ValueError(f"no retention for {table!r}")


_TABLES: dict[str, Table] = {
    "alerts": alerts,
    "alert_events": alert_events,
    "alert_groups": alert_groups,
    "alert_outbox": alert_outbox,
    "alert_silences": alert_silences,
    "alert_slack_actions": alert_slack_actions,
}


def _key(table: Table) -> Any:
    (column,) = table.primary_key.columns
    return column


def run(
    engine: Engine,
    cut: Cutoffs,
    *,
    owner: str,
    batch_rows: int = 500,
    max_batches: int = 200,
    lease_s: float = Timing().lease_s,
    clock: Callable[[], int] = time.time_ns,
    pause: Callable[[float], object] = time.sleep,
    stop: Callable[[], bool] = lambda: False,
    tables: Iterable[str] = TABLES,
) -> RunReport:
    """Delete what the rules say at ``cut``, one short transaction per batch, under the lease.

    ``clock`` is for the lease's expiry only (``cut`` carries its own now). ``pause`` gets the
    seconds to wait after each batch on SQLite (as long as the batch took); ``stop`` is checked
    between batches; ``max_batches`` bounds one run (the next goes on). The lease is the shared
    take-over bound's (``vitals.kernel.lease.Timing``), renewed by every batch, so a holder that
    dies mid-run is replaced within the bound; a pause never outlasts a third of it.
    """
    lease_ns = int(lease_s * NS)
    with engine.begin() as conn:
        lease: Lease | None = take(conn, LEASE, owner, clock(), lease_ns)
    report = RunReport(claimed=lease is not None)
    if lease is None:
        return report
    sqlite = engine.dialect.name == "sqlite"
    try:
        for name in tables:
            table = _TABLES[name]
            key = _key(table)
            report.deleted.setdefault(name, 0)
            while True:
                if stop() or report.batches >= max_batches:
                    report.finished = False
                    return report
                with engine.connect() as conn:  # a read first: nothing expired, no write
                    cond = _conditions(conn, name, cut)
                    doomed = [row[0] for row in conn.execute(select(key).where(*cond).limit(batch_rows))]
                if not doomed:
                    break
                started = time.perf_counter()
                with engine.begin() as conn:
                    held = hold(conn, lease, clock(), lease_ns)
                    if held is None:
                        conn.rollback()
                        report.lease_lost, report.finished = True, False
                        lease = None
                        return report
                    lease = held
                    # The conditions again, in the write: a row that changed since the read
                    # (an alert that fired again, a silence extended) stays.
                    cond = _conditions(conn, name, cut, write=True)
                    gone = int(conn.execute(delete(table).where(key.in_(doomed), *cond)).rowcount)
                took = time.perf_counter() - started
                report.batches += 1
                report.longest_batch_s = max(report.longest_batch_s, took)
                report.deleted[name] += gone
                if sqlite:
                    pause(min(took, lease_s / 3))
                if len(doomed) < batch_rows:
                    break
        return report
    finally:
        if lease is not None:
            with engine.begin() as conn:
                release(conn, lease)


class RetentionJob:
    """The scheduler job: one run per ``retention.interval``, the settings read at each run (an
    edited alerts.yaml applies at the next)."""

    def __init__(
        self,
        engine: Engine,
        settings: Callable[[], RetentionSettings],
        *,
        clock: Callable[[], int] = time.time_ns,
        pause: Callable[[float], object] = time.sleep,
        stop: Callable[[], bool] = lambda: False,
        status: Callable[[str], object] = lambda line: None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock
        self.pause = pause
        self.stop = stop
        self.status = status
        self.owner = new_owner()
        self.last: RunReport | None = None

    def run_once(self, now_ns: int | None = None) -> RunReport | None:
        """One run at ``now_ns`` (default: the clock). Never raises: a failure is retried next run."""
        settings = self.settings()
        now = self.clock() if now_ns is None else now_ns
        try:
            report = run(
                self.engine,
                plan(settings, now),
                owner=self.owner,
                batch_rows=settings.batch_rows,
                clock=self.clock,
                pause=self.pause,
                stop=self.stop,
            )
        except Exception as exc:  # a transient database error: try again next run
            log.warning("alerts retention: %s", exc)
            self.status(f"failing: {exc.__class__.__name__}: {exc}")
            return None
        self.last = report
        if not report.claimed:
            self.status("standby: another process deletes finished alerting rows")
            return report
        total = sum(report.deleted.values())
        if total:
            log.info(
                "alerts retention: deleted %s in %d batches (longest %.0f ms)",
                ", ".join(f"{n:,} {t}" for t, n in report.deleted.items() if n),
                report.batches,
                report.longest_batch_s * 1000,
            )
        self.status(
            f"deleted {total:,} finished alerting rows" + ("" if report.finished else "; more next run")
        )
        return report


def install(ctx: ServiceContext, job: RetentionJob) -> RetentionJob:
    """Schedule ``job`` in ``vitals serve`` (from ``alerts.service.install``): every
    ``retention.interval`` as alerts.yaml said at the start, the first run a minute after it."""

    def status(line: str) -> None:
        ctx.status["alerts.retention"] = line

    job.status = status
    interval = job.settings().interval
    first = datetime.now(UTC) + timedelta(seconds=min(FIRST_RUN_S, interval))
    ctx.scheduler.add_job(
        job.run_once,
        "interval",
        seconds=interval,
        next_run_time=first,
        id=JOB_ID,
        name="alerts retention",
        max_instances=1,
        coalesce=True,
        replace_existing=True,
    )
    status("deletes resolved alerts, closed incidents and sent notifications after their retention")
    return job
