"""Folding new spans into the API rollups, following ``spans.id`` (the SQL edge of :mod:`analytics.fold`).

The job follows ``spans`` with a cursor (``vitals.kernel.follow``) as the dashboard's rollups do:
ids are folded in order up to the cursor's watermark, so on PostgreSQL, where a lower id may
commit after a higher one, a range is folded only once its gaps are settled (two minutes), and on
SQLite at once. Each batch is read without a write lock, aggregated in Python (the API key is a
function of the attributes, see :mod:`analytics.identity`), and written in one short transaction
that merges the cells into the stored rows (histograms add bucket by bucket), moves the cursor
and renews the lease, so a crash never counts a span twice or skips one, and a refresher that
lost the lease writes nothing. ``vitals serve`` runs it (``analytics.service``); one process at a
time holds the lease ``analytics.rollup.apis``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from analytics.fold import WIDTHS, Cell, CellKey, ErrorCell, ErrorKey, Fold, SpanFacts
from analytics.histogram import BUCKETS_PER_OCTAVE, decode, encode
from analytics.identity import DEFAULT_CONSUMER_ATTRIBUTES, ApiKey
from analytics.tables import KEY_COLUMNS, api_errors, api_rollup_state, api_rollups
from collector.tables import spans
from vitals.kernel.follow import Cursor, default_horizon_s, read_new
from vitals.kernel.lease import Lease, hold, new_owner, release, take, timing

__all__ = ["DEFAULT_BATCH", "FAMILY", "LEASE", "Report", "expire", "refresh", "signature_of", "write_cells"]

log = logging.getLogger(__name__)

DEFAULT_BATCH = 20_000
FAMILY = "apis"
LEASE = "analytics.rollup.apis"
NS = 1_000_000_000
_API_KINDS = ("server", "client", "span_kind_server", "span_kind_client", "2", "3")
_ERROR_STATUSES = ("error", "status_code_error", "2")


@dataclass(frozen=True)
class Report:
    claimed: bool  # False when another refresher holds the lease
    processed: int  # spans read (API calls or not)
    watermark: int
    target: int  # the highest span id when the call started

    @property
    def behind(self) -> int:
        return max(0, self.target - self.watermark)


def signature_of(consumer_attributes: Sequence[str]) -> str:
    """The rules' fingerprint: a change rebuilds the rollups from the first span."""
    widths = ",".join(str(w) for w in WIDTHS)
    rules = f"apis-v2;buckets={BUCKETS_PER_OCTAVE};widths={widths};variants=3"
    return f"{rules};consumer={','.join(consumer_attributes)}"


def _facts(row: Any) -> SpanFacts:
    attributes = row.attributes if isinstance(row.attributes, dict) else {}
    return SpanFacts(
        row.service_name,
        row.kind,
        int(row.start_time_unix_nano),
        int(row.duration_ns),
        str(row.status_code).lower() in _ERROR_STATUSES,
        row.status_message,
        attributes,
        int(row.sample_weight or 1),
        str(row.trace_id or ""),
    )


def _api_spans(conn: Connection, lo: int, hi: int) -> Iterable[SpanFacts]:
    query = select(
        spans.c.service_name,
        spans.c.kind,
        spans.c.start_time_unix_nano,
        spans.c.duration_ns,
        spans.c.status_code,
        spans.c.status_message,
        spans.c.attributes,
        spans.c.sample_weight,
        spans.c.trace_id,
    ).where(spans.c.id > lo, spans.c.id <= hi, func.lower(spans.c.kind).in_(_API_KINDS))
    return (_facts(row) for row in conn.execute(query))


def _key_values(bucket: int, width: int, api: ApiKey) -> dict[str, Any]:
    return {"bucket_start_ns": bucket, "width_s": width, **api._asdict()}


def _api_of(row: Any) -> ApiKey:
    return ApiKey(*(getattr(row, name) for name in KEY_COLUMNS))


def write_cells(conn: Connection, cells: dict[CellKey, Cell], errors: dict[ErrorKey, ErrorCell]) -> None:
    """Merge cells into the stored rows: the touched buckets are read, merged and written back."""
    touched = {(k.width_s, k.bucket_start_ns) for k in cells}
    touched |= {(k.width_s, k.bucket_start_ns) for k in errors}
    for width in sorted({w for w, _ in touched}):
        starts = sorted(b for w, b in touched if w == width)
        merged = {k: v for k, v in cells.items() if k.width_s == width}
        in_rollups = (api_rollups.c.width_s == width, api_rollups.c.bucket_start_ns.in_(starts))
        old_rows = conn.execute(select(api_rollups).where(*in_rollups)).all()
        for row in old_rows:
            key = CellKey(int(row.bucket_start_ns), width, _api_of(row))
            old = Cell(
                int(row._mapping["count"]),
                int(row.errors_4xx),
                int(row.errors_5xx),
                int(row.errors_other),
                int(row.duration_sum_ns),
                decode(row.histogram),
            )
            merged[key] = old.merge(merged[key]) if key in merged else old
        conn.execute(delete(api_rollups).where(*in_rollups))
        if merged:
            conn.execute(
                insert(api_rollups),
                [
                    {
                        **_key_values(k.bucket_start_ns, width, k.api),
                        "count": c.count,
                        "errors_4xx": c.errors_4xx,
                        "errors_5xx": c.errors_5xx,
                        "errors_other": c.errors_other,
                        "duration_sum_ns": c.duration_sum_ns,
                        "histogram": encode(c.histogram),
                    }
                    for k, c in merged.items()
                ],
            )
        merged_errors = {k: v for k, v in errors.items() if k.width_s == width}
        old_errors = conn.execute(
            select(api_errors).where(api_errors.c.width_s == width, api_errors.c.bucket_start_ns.in_(starts))
        ).all()
        for row in old_errors:
            ekey = ErrorKey(int(row.bucket_start_ns), width, _api_of(row), row.signature)
            old_error = ErrorCell(
                row.error_class, int(row._mapping["count"]), int(row.last_seen_ns), row.example_trace_id
            )
            merged_errors[ekey] = old_error.merge(merged_errors[ekey]) if ekey in merged_errors else old_error
        conn.execute(
            delete(api_errors).where(api_errors.c.width_s == width, api_errors.c.bucket_start_ns.in_(starts))
        )
        if merged_errors:
            conn.execute(
                insert(api_errors),
                [
                    {
                        **_key_values(k.bucket_start_ns, width, k.api),
                        "signature": k.signature,
                        "error_class": e.error_class,
                        "count": e.count,
                        "last_seen_ns": e.last_seen_ns,
                        "example_trace_id": e.example_trace_id,
                    }
                    for k, e in merged_errors.items()
                ],
            )


def _claim(
    engine: Engine, owner: str, now: int, lease_ns: int, signature: str
) -> tuple[Lease, Cursor] | None:
    with engine.begin() as conn:
        lease = take(conn, LEASE, owner, now, lease_ns)
        if lease is None:
            return None
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        conn.execute(
            dialect.insert(api_rollup_state)
            .values(family=FAMILY, watermark=0, signature=signature, updated_at_unix_nano=0, seen=[])
            .on_conflict_do_nothing(index_elements=["family"])
        )
        row = conn.execute(select(api_rollup_state).where(api_rollup_state.c.family == FAMILY)).one()
        if row.signature == signature:
            return lease, Cursor.from_json(row.watermark, row.seen)
        log.info("API rollups: definitions changed, rebuilding from the first span")
        conn.execute(delete(api_rollups))
        conn.execute(delete(api_errors))
        conn.execute(
            update(api_rollup_state)
            .where(api_rollup_state.c.family == FAMILY)
            .values(watermark=0, seen=[], signature=signature)
        )
        return lease, Cursor()


def refresh(
    engine: Engine,
    *,
    batch_size: int = DEFAULT_BATCH,
    max_batches: int | None = None,
    owner: str | None = None,
    lease_s: float | None = None,
    horizon_s: float | None = None,
    clock: Callable[[], int] = time.time_ns,
    consumer_attributes: Sequence[str] = DEFAULT_CONSUMER_ATTRIBUTES,
) -> Report:
    """Fold the spans written since the last call (or ``max_batches`` batches); safe to call from
    several processes at once (one works, the others return ``claimed=False``)."""
    owner = owner or new_owner()
    lease_ns = int((lease_s if lease_s is not None else timing().bound_s) * NS)
    horizon_ns = int((horizon_s if horizon_s is not None else default_horizon_s(engine)) * NS)
    signature = signature_of(consumer_attributes)
    with engine.connect() as conn:
        newest = int(conn.execute(select(func.coalesce(func.max(spans.c.id), 0))).scalar_one())
    claimed = _claim(engine, owner, clock(), lease_ns, signature)
    if claimed is None:
        with engine.connect() as conn:
            current = conn.execute(
                select(api_rollup_state.c.watermark).where(api_rollup_state.c.family == FAMILY)
            ).scalar()
        return Report(False, 0, int(current or 0), newest)
    lease: Lease | None = claimed[0]
    cursor = claimed[1]
    processed = batches = 0
    try:
        while max_batches is None or batches < max_batches:
            now = clock()
            with engine.connect() as conn:
                ids = read_new(conn, select(spans.c.id), spans.c.id, cursor, batch_size).ids
            cap = cursor.watermark + batch_size
            moved = cursor.marked(ids, now).settled(now, horizon_ns, at_most=cap)
            if moved == cursor:
                break
            lo, hi = cursor.watermark, moved.watermark
            fold = Fold(consumer_attributes)
            if hi > lo:
                with engine.connect() as conn:
                    fold.add_all(_api_spans(conn, lo, hi))
            cells = fold.finished()
            assert lease is not None  # the loop stops when the lease is lost
            with engine.begin() as conn:
                lease = hold(conn, lease, clock(), lease_ns)
                if lease is None:
                    log.info("API rollups: lease lost, stopping")
                    conn.rollback()
                    break
                conn.execute(
                    update(api_rollup_state)
                    .where(api_rollup_state.c.family == FAMILY)
                    .values(watermark=hi, seen=moved.seen_json(), updated_at_unix_nano=now)
                )
                write_cells(conn, cells, fold.errors)
            processed += sum(1 for i in ids if lo < i <= hi)
            cursor = moved
            batches += 1
            if len(ids) < batch_size and hi < cap:
                break
    finally:
        if lease is not None:
            with engine.begin() as conn:
                release(conn, lease)
    return Report(True, processed, cursor.watermark, newest)


def expire(engine: Engine, *, now_ns: int, minutes_s: float, hours_s: float, days_s: float) -> int:
    """Delete minute, hour and day rows older than ``minutes_s``, ``hours_s``, ``days_s``; the count."""
    deleted = 0
    with engine.begin() as conn:
        for table in (api_rollups, api_errors):
            for width, keep_s in ((60, minutes_s), (3600, hours_s), (86400, days_s)):
                cut = now_ns - int(keep_s * NS)
                old = (table.c.width_s == width, table.c.bucket_start_ns < cut)
                result = conn.execute(delete(table).where(*old))
                deleted += int(result.rowcount or 0)
    return deleted
