"""Who holds which job, how far derived work trails the store: ``/readyz`` fields and gauges.

Several ``vitals serve`` processes over one PostgreSQL share the jobs that run in one process at
a time through leases (``vitals.kernel.lease``): the SLA engine, the dashboard rollups, retention.
An operator looking at one process must be able to tell which instance holds what, since when,
whether it keeps up, and whether the SLA engine still evaluates at all. So every ``vitals serve``
adds to ``/readyz`` and ``/metrics``, whatever its ``--components``:

- ``jobs``: each lease, its holder (host and pid), since when and until when, and whether this
  process is the holder;
- ``ingest``: the newest stored span, and how far the dashboard rollups trail it (rows above
  each family's watermark, and how long the oldest of them has waited);
- ``newest_sla_evaluation`` and its age.

It lives in the shell because it reads three packages (the kernel's leases, ``slas``' read API,
the dashboard's rollup state), which the collector below them may not import. The views are pure
functions of plain values; :class:`StatusSource` reads the store, once per request or scrape
(all of it by primary key or index: nothing grows with the store).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from vitals.kernel.lease import Lease, all_leases, owner_process, this_process
from vitals.kernel.units import NS

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric
    from sqlalchemy.engine import Engine

    from vitals.kernel.runtime import ServiceContext

__all__ = ["Snapshot", "StatusSource", "install", "job_view", "readiness", "snapshot_metrics"]

log = logging.getLogger(__name__)

FAMILIES = ("spans", "metrics")

#: Longest a status read may wait for the store (connect, lock or statement): a store that hangs
#: must not hang ``/readyz`` and ``/metrics``, which are how one finds out that it hangs.
STORE_TIMEOUT_S = 2.0


def _iso(ns: int | None) -> str | None:
    if not ns:
        return None
    return datetime.fromtimestamp(ns / NS, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def job_view(lease: Lease, now_ns: int, here: tuple[str, int]) -> dict[str, Any]:
    """One lease as ``/readyz`` shows it (pure). ``here``: this process's host and pid."""
    held = lease.held(now_ns)
    process = owner_process(lease.owner)
    return {
        "job": lease.name,
        "held": held,
        "holder": lease.owner or None,
        "host": process[0] if process else None,
        "pid": process[1] if process else None,
        "this_process": held and process == here,
        "since": _iso(lease.taken_ns) if held else None,
        "until": _iso(lease.expires_ns) if held else None,
        "held_for_s": round((now_ns - lease.taken_ns) / NS, 3) if held and lease.taken_ns else None,
        "expires_in_s": round((lease.expires_ns - now_ns) / NS, 3) if held else None,
        # The last holder stays named after a release or an expiry.
        "last_expired": _iso(lease.expires_ns) if not held and lease.owner else None,
    }


@dataclass(frozen=True)
class Rollup:
    watermark: int
    behind_rows: int
    oldest_pending_received_ns: int | None


@dataclass(frozen=True)
class Snapshot:
    """What the store says at ``now_ns``: plain values, read by :meth:`StatusSource.read`."""

    now_ns: int
    here: tuple[str, int]
    leases: tuple[Lease, ...]
    newest_span_id: int
    newest_span_received_ns: int | None
    rollups: Mapping[str, Rollup]
    newest_evaluation_ns: int | None

    def lag_s(self, ns: int | None) -> float | None:
        return None if ns is None else round(max(0.0, (self.now_ns - ns) / NS), 3)


def readiness(s: Snapshot) -> dict[str, Any]:
    """The ``/readyz`` fields of a snapshot (pure)."""
    return {
        "jobs": [job_view(lease, s.now_ns, s.here) for lease in s.leases],
        "ingest": {
            "newest_span_id": s.newest_span_id,
            "newest_span_received": _iso(s.newest_span_received_ns),
            "rollups": {
                family: {
                    "watermark": r.watermark,
                    "behind_rows": r.behind_rows,
                    "lag_s": s.lag_s(r.oldest_pending_received_ns) if r.behind_rows else 0.0,
                }
                for family, r in s.rollups.items()
            },
        },
        "newest_sla_evaluation": _iso(s.newest_evaluation_ns),
        "newest_sla_evaluation_age_s": s.lag_s(s.newest_evaluation_ns),
    }


def snapshot_metrics(s: Snapshot) -> Iterator[Metric]:
    """The same facts as Prometheus gauges (pure; documented in docs/reference/metrics.md)."""
    from prometheus_client.core import GaugeMetricFamily

    held = GaugeMetricFamily(
        "vitals_job_lease_held", "1 while some process holds the job's lease.", labels=["job"]
    )
    mine = GaugeMetricFamily(
        "vitals_job_lease_this_process", "1 while this process holds the job's lease.", labels=["job"]
    )
    holder = GaugeMetricFamily(
        "vitals_job_lease_holder",
        "1 for the process (host, pid) holding the job's lease now.",
        labels=["job", "host", "pid"],
    )
    since = GaugeMetricFamily(
        "vitals_job_lease_taken_timestamp_seconds", "When the current holder took the lease.", labels=["job"]
    )
    until = GaugeMetricFamily(
        "vitals_job_lease_expires_timestamp_seconds", "When the holding ends unless renewed.", labels=["job"]
    )
    for lease in s.leases:
        view = job_view(lease, s.now_ns, s.here)
        held.add_metric([lease.name], 1.0 if view["held"] else 0.0)
        mine.add_metric([lease.name], 1.0 if view["this_process"] else 0.0)
        if view["held"]:
            holder.add_metric([lease.name, str(view["host"] or lease.owner), str(view["pid"] or "")], 1.0)
            if lease.taken_ns:
                since.add_metric([lease.name], lease.taken_ns / NS)
            until.add_metric([lease.name], lease.expires_ns / NS)
    yield from (held, mine, holder, since, until)
    yield GaugeMetricFamily(
        "vitals_ingest_newest_span_id", "Id of the newest stored span.", value=s.newest_span_id
    )
    rollup_lag = GaugeMetricFamily(
        "vitals_ingest_rollup_lag_seconds",
        "How long the oldest telemetry row not yet in the dashboard rollups has waited (0: none).",
        labels=["family"],
    )
    watermark = GaugeMetricFamily(
        "vitals_ingest_rollup_watermark",
        "Every source id up to it is in the dashboard rollups.",
        labels=["family"],
    )
    for family, r in s.rollups.items():
        lag = s.lag_s(r.oldest_pending_received_ns) if r.behind_rows else 0.0
        rollup_lag.add_metric([family], lag or 0.0)
        watermark.add_metric([family], float(r.watermark))
    yield from (rollup_lag, watermark)
    if s.newest_evaluation_ns is not None:
        yield GaugeMetricFamily(
            "vitals_sla_newest_evaluation_timestamp_seconds",
            "When the SLA engine last evaluated.",
            value=s.newest_evaluation_ns / NS,
        )
        yield GaugeMetricFamily(
            "vitals_sla_newest_evaluation_age_seconds",
            "Seconds since the SLA engine last evaluated.",
            value=s.lag_s(s.newest_evaluation_ns) or 0.0,
        )


class StatusSource:
    """Reads a :class:`Snapshot` from the store; also a Prometheus collector of its gauges."""

    def __init__(self, engine: Engine, clock: Callable[[], int] = time.time_ns) -> None:
        self.engine = engine
        self.clock = clock
        self.here = this_process()  # as holder names spell it (VITALS_LEASE_HOST)

    def read(self) -> Snapshot:
        from dashboards.queries.rollup_lag import oldest_pending_received_ns
        from dashboards.queries.status import store_status

        now_ns = self.clock()
        with self.engine.connect() as conn:
            leases = tuple(all_leases(conn))
        status = store_status(self.engine, now_ns)
        rollups: dict[str, Rollup] = {}
        for family in FAMILIES:
            target = status.rollup_targets.get(family, 0)
            mark = status.rollup_watermarks.get(family, 0)
            behind = max(0, target - mark)
            oldest = None
            if behind:
                # Only this family pending: the others are asked from their newest id up.
                marks = {**status.rollup_targets, family: mark}
                oldest = oldest_pending_received_ns(self.engine, marks)
            rollups[family] = Rollup(mark, behind, oldest)
        return Snapshot(
            now_ns=now_ns,
            here=self.here,
            leases=leases,
            newest_span_id=status.newest_span_id,
            newest_span_received_ns=status.newest_span_received_ns,
            rollups=rollups,
            newest_evaluation_ns=status.newest_evaluation_ns,
        )

    def readiness(self) -> Mapping[str, Any]:
        return readiness(self.read())

    def collect(self) -> Iterator[Metric]:
        try:
            snapshot = self.read()
        except Exception:
            log.warning("could not read the jobs and lag gauges from the store", exc_info=True)
            return
        yield from snapshot_metrics(snapshot)


def status_engine(ctx: ServiceContext) -> Engine:
    """The engine of the status reads: on PostgreSQL a small pool of its own whose statements and
    lock waits give up after :data:`STORE_TIMEOUT_S` (a table locked by a migration or a hung
    server then shows in ``readiness_errors`` instead of holding the request); SQLite's readers
    never wait for the writer (WAL), so they share the service's engine."""
    from vitals.kernel.db import create_engine, is_sqlite

    if is_sqlite(ctx.engine):
        return ctx.engine
    ms = int(STORE_TIMEOUT_S * 1000)
    return create_engine(
        ctx.settings.db_url,
        pool_size=1,
        max_overflow=2,
        pool_timeout=STORE_TIMEOUT_S,
        connect_args={
            "connect_timeout": max(1, int(STORE_TIMEOUT_S)),
            "options": f"-c statement_timeout={ms} -c lock_timeout={ms}",
        },
    )


def install(ctx: ServiceContext) -> None:
    """Add the jobs, lag and evaluation-age fields to ``/readyz`` and their gauges to ``/metrics``."""
    source = StatusSource(status_engine(ctx))
    ctx.readiness.append(source.readiness)
    ctx.registry.register(source)
