"""The bad events behind an SLA's number, for the SLA detail page.

Per SLI kind: the late objects of a lag SLI (with age and money), the failed or slow spans of a
ratio or latency SLI, the silent periods of a freshness SLI, the minutes out of bounds of a
gauge. Correlation keys appear only as the HMAC hashes the collector stored.

A slice narrows the rows to its labels, whatever attribute the SLA slices by: the lifted ``hc.*``
columns and ``service.name`` in SQL, a gauge's ``queue`` on its rollups, any other span attribute
by the exact check on the span's attributes; what cannot be narrowed is said in the note.
"""

from __future__ import annotations

import fnmatch
import glob
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.engine import Engine

from collector.rows import SPAN_LIFTED_ATTRIBUTES, UNREPEATED_ATTRIBUTES, lifted_attributes
from collector.tables import spans
from dashboards.catalog import Patterns, Selector, SlaSpec
from dashboards.queries.business import NO_FILTERS, Filters
from dashboards.queries.failed import failed_refs, fetch
from dashboards.queries.windows import patterns_cond, rare_windows
from dashboards.sqlexpr import is_error, lit, norm_kind
from dashboards.tables import metric_rollups
from dashboards.thresholds import threshold_text
from slas import late_objects
from vitals.kernel.units import NS

LIMIT = 200
SCAN_CAP = 200_000
FRESHNESS_SCAN_S = 86400


@dataclass(frozen=True)
class BadEvents:
    kind: str
    description: str  # what a row is, in the page's words
    frame: pd.DataFrame
    note: str | None = None  # e.g. "showing the 500 largest"
    #: For spans: identical bad events grouped (span, denial code, payer, message) with their count
    #: and money, most first. The list is capped at the newest LIMIT, so an incident older than the
    #: newest baseline failures would not show in it; its group does (counted over every bad span
    #: read, up to SCAN_CAP).
    groups: pd.DataFrame | None = None


#: Span attributes with a column of their own: a slice on them is narrowed in SQL.
LABEL_COLUMNS: dict[str, Any] = {
    **{attribute: spans.c[column] for column, attribute in SPAN_LIFTED_ATTRIBUTES.items()},
    "service.name": spans.c.service_name,
}
#: Gauge slices: the attribute names of the queue the rollups keep per row.
QUEUE_LABELS = ("queue", "messaging.destination.name")
Labels = tuple[tuple[str, str], ...]


def slice_labels(slice_: str | None) -> Labels:
    """``(("hc.facility", "south-campus"),)`` for the engine's ``hc.facility=south-campus``."""
    if not slice_:
        return ()
    return tuple((k, v) for k, _, v in (part.partition("=") for part in slice_.split(",")) if k)


def _narrowed(sel: Selector, labels: Labels) -> tuple[Selector, list[Any]]:
    """``sel`` with a slice's labels: column conditions for lifted ones, exact attribute checks else."""
    cond = [LABEL_COLUMNS[k] == v for k, v in labels if k in LABEL_COLUMNS]
    rest = tuple((k, (glob.escape(v),)) for k, v in labels if k not in LABEL_COLUMNS)
    return (sel.merged(Selector(attributes=rest)) if rest else sel), cond


_COLUMNS = {
    "span": spans.c.name,
    "service": spans.c.service_name,
    "workflow": spans.c.hc_workflow,
    "system": spans.c.hc_system,
    "message_type": spans.c.hc_message_type,
}


def _selector_conditions(sel: Selector, start_ns: int, end_ns: int, filters: Filters) -> list[Any]:
    s = spans.c
    cond: list[Any] = []
    if sel.stage:
        cond += [
            patterns_cond(s.hc_stage, sel.stage),
            s.event_time_unix_nano >= start_ns,
            s.event_time_unix_nano < end_ns,
        ]
    else:
        cond += [s.start_time_unix_nano >= start_ns, s.start_time_unix_nano < end_ns]
    for name, column in _COLUMNS.items():
        patterns: Patterns = getattr(sel, name)
        if patterns:
            cond.append(patterns_cond(column, patterns))
    if sel.kind:
        cond.append(patterns_cond(norm_kind(s.kind), tuple(k.lower() for k in sel.kind)))
    if sel.status == "error":
        cond.append(is_error(s.status_code))
    elif sel.status == "ok":
        cond.append(~is_error(s.status_code))
    if filters.facility:
        cond.append(s.hc_facility == filters.facility)
    if filters.service_line:
        cond.append(s.hc_service_line == filters.service_line)
    return cond


def _matches(value: Any, patterns: Patterns) -> bool:
    return value is not None and any(fnmatch.fnmatchcase(str(value), p) for p in patterns)


def _exact(sel: Selector, row: Any) -> bool:
    """The case-sensitive glob check SQL LIKE cannot make on every database."""
    if sel.span and not _matches(row.name, sel.span):
        return False
    if sel.service and not _matches(row.service, sel.service):
        return False
    # The collector keeps the hc.* attributes its columns hold out of the JSON: merged back here.
    attrs = lifted_attributes(row.attributes, (getattr(row, c, None) for c in UNREPEATED_ATTRIBUTES))
    return all(_matches(attrs.get(k), v) for k, v in sel.attributes)


#: The columns whose attributes the stored JSON does not repeat (for ``_exact``).
_LIFTED = [spans.c[column] for column in UNREPEATED_ATTRIBUTES]
_SPAN_FIELDS = [
    spans.c.start_time_unix_nano.label("start"),
    spans.c.trace_id,
    spans.c.span_id,
    spans.c.service_name.label("service"),
    spans.c.name,
    spans.c.status_code.label("status"),
    spans.c.status_message,
    (spans.c.duration_ns / lit(1_000_000.0)).label("duration_ms"),
    spans.c.hc_facility.label("facility"),
    spans.c.hc_amount.label("amount"),
    spans.c.hc_denial_code.label("denial_code"),
    spans.c.attributes,
    *_LIFTED,
]
SPAN_EVENT_COLUMNS = [
    "start",
    "trace_id",
    "span_id",
    "service",
    "name",
    "status",
    "status_message",
    "duration_ms",
    "facility",
    "amount",
    "denial_code",
    "payer",
]
#: The attribute a remit or claim names its payer by (kept in the span's attributes).
PAYER = "hc.payer"


def _event(row: Any) -> tuple[Any, ...]:
    """A span row as the page lists it: the fields, then the payer from its attributes."""
    values = tuple(row)[: len(_SPAN_FIELDS) - len(_LIFTED)]
    attrs = values[-1] if isinstance(values[-1], Mapping) else {}
    return (*values[:-1], attrs.get(PAYER))


#: What makes two bad spans "the same" for the grouped table (positions in SPAN_EVENT_COLUMNS).
GROUP_BY = ("name", "denial_code", "payer", "status_message")
GROUP_COLUMNS = ["events", "amount", "first", "last", *GROUP_BY]
_AT = {name: i for i, name in enumerate(SPAN_EVENT_COLUMNS)}
Tally = dict[tuple[Any, ...], list[Any]]


def _tally(tally: Tally, event: tuple[Any, ...]) -> None:
    """Counts ``event`` in its group: events, amount, first and last start."""
    key = tuple(event[_AT[name]] for name in GROUP_BY)
    amount = event[_AT["amount"]]
    amount = float(amount) if amount is not None and not pd.isna(amount) else 0.0
    start = int(event[_AT["start"]])
    got = tally.get(key)
    if got is None:
        tally[key] = [1, amount, start, start]
    else:
        got[0] += 1
        got[1] += amount
        got[2] = min(got[2], start)
        got[3] = max(got[3], start)


def group_frame(tally: Tally) -> pd.DataFrame:
    """The groups, most events first (then most money): what a person acts on first."""
    rows = [(*figures, *key) for key, figures in tally.items()]
    rows.sort(key=lambda r: (-r[0], -r[1], -r[3]))
    return pd.DataFrame.from_records(rows, columns=GROUP_COLUMNS)


def _spans(
    engine: Engine,
    sel: Selector,
    start_ns: int,
    end_ns: int,
    filters: Filters,
    *,
    min_duration_ns: int | None = None,
    labels: Labels = (),
) -> tuple[pd.DataFrame, bool, Tally, int]:
    """The newest LIMIT spans matching ``sel`` (and at least ``min_duration_ns`` long) in the slice,
    whether the scan stopped at SCAN_CAP, the groups and how many bad spans they count.

    A stage scan reads on past LIMIT (to SCAN_CAP) to count every bad span in its group; the
    other paths group the rows they list."""
    sel, extra = _narrowed(sel, labels)
    if min_duration_ns is not None:
        extra.append(spans.c.duration_ns >= min_duration_ns)
    rows: list[tuple[Any, ...]] = []
    capped = False
    tally: Tally = {}
    counted = 0
    with engine.connect() as conn:
        if not sel.stage and sel.status == "error":
            # Failed spans: newest first from the error index, then fetched and checked exactly.
            where = _selector_conditions(sel, start_ns, end_ns, filters) + extra
            for refs in failed_refs(
                conn, start_ns, end_ns, services=sel.service, names=sel.span, facility=filters.facility
            ):
                rows += [_event(r) for r in fetch(conn, refs, _SPAN_FIELDS, where) if _exact(sel, r)]
                if len(rows) >= LIMIT:
                    break
            rows = sorted(rows, key=lambda r: r[0], reverse=True)[:LIMIT]
        elif not sel.stage and min_duration_ns is not None:
            # Rare spans without a stage: read only the windows where the rollups saw them.
            for window in rare_windows(
                conn,
                start_ns,
                end_ns,
                services=sel.service,
                names=sel.span,
                min_duration_ns=min_duration_ns,
            ):
                # Windows come newest first; stop once a window cannot hold anything newer.
                if len(rows) >= LIMIT and window.hi <= rows[-1][0]:
                    break
                cond = _selector_conditions(sel, window.lo, window.hi, filters) + extra
                if window.service is not None:
                    cond.append(spans.c.service_name == window.service)
                query = select(*_SPAN_FIELDS).where(*cond).order_by(spans.c.start_time_unix_nano.desc())
                rows += [_event(row) for row in conn.execute(query.limit(LIMIT)) if _exact(sel, row)]
                rows = sorted(rows, key=lambda r: r[0], reverse=True)[:LIMIT]
        else:
            cond = _selector_conditions(sel, start_ns, end_ns, filters) + extra
            order = spans.c.event_time_unix_nano.desc() if sel.stage else spans.c.start_time_unix_nano.desc()
            query = select(*_SPAN_FIELDS).where(*cond).order_by(order).limit(SCAN_CAP)
            scanned = 0
            # Stream: list the newest LIMIT bad events, count every one in its group.
            for row in conn.execution_options(stream_results=True, yield_per=2000).execute(query):
                scanned += 1
                if _exact(sel, row):
                    event = _event(row)
                    _tally(tally, event)
                    counted += 1
                    if len(rows) < LIMIT:
                        rows.append(event)
            capped = scanned >= SCAN_CAP
    if not tally:
        for event in rows[:LIMIT]:
            _tally(tally, event)
        counted = len(rows[:LIMIT])
    return pd.DataFrame.from_records(rows[:LIMIT], columns=SPAN_EVENT_COLUMNS), capped, tally, counted


def _ratio(
    engine: Engine, spec: SlaSpec, start_ns: int, end_ns: int, filters: Filters, *, labels: Labels
) -> BadEvents:
    total = spec.selector("total")
    ratio = spec.definition.sli.ratio
    if ratio is not None and ratio.bad is not None:
        bad = total.merged(spec.selector("bad"))
        described = spec.selector("bad").describe()
    else:
        good = spec.selector("good")
        # "good: {status: ok}" is by far the common case; its complement is "status: error".
        flipped = {"ok": "error", "error": "ok"}.get(good.status or "")
        bad = total.merged(Selector(status=flipped)) if flipped else total
        described = f"not ({good.describe()})"
    frame, capped, tally, counted = _spans(engine, bad, start_ns, end_ns, filters, labels=labels)
    return BadEvents(
        "ratio",
        f"Spans of {total.describe()} that are bad ({described}), newest first",
        frame,
        _note(frame, capped, counted),
        group_frame(tally),
    )


def _latency(
    engine: Engine, spec: SlaSpec, start_ns: int, end_ns: int, filters: Filters, *, labels: Labels
) -> BadEvents:
    sel = spec.selector("select")
    under = spec.threshold_s or 0.0
    frame, capped, tally, counted = _spans(
        engine, sel, start_ns, end_ns, filters, min_duration_ns=int(under * NS), labels=labels
    )
    return BadEvents(
        "latency",
        f"Spans of {sel.describe()} that took {threshold_text(under)} or longer, newest first",
        frame,
        _note(frame, capped, counted),
        group_frame(tally),
    )


def _lag(
    engine: Engine,
    spec: SlaSpec,
    start_ns: int,
    end_ns: int,
    *,
    now_ns: int,
    filters: Filters,
    labels: Labels,
) -> BadEvents:
    pair = spec.lag_pair()
    assert pair is not None  # every lag SLA has one
    # Lag objects keep their facility and service line: a slice on those narrows them.
    by_label = dict(labels)
    filters = Filters(
        by_label.get("hc.facility", filters.facility), by_label.get("hc.service_line", filters.service_line)
    )
    unnarrowed = [k for k in by_label if k not in ("hc.facility", "hc.service_line")]
    objects = late_objects(engine, filters.lag_scope(pair), start_ns, end_ns, now_ns=now_ns, limit=LIMIT)
    frame = pd.DataFrame.from_records(
        [
            {
                "key_hash": o.key_hash,
                "facility": o.facility,
                "service_line": o.service_line,
                "started": o.start_ns,
                "deadline": o.deadline_ns,
                "completed": o.end_ns,
                "overdue_s": ((o.end_ns if o.end_ns is not None else now_ns) - o.deadline_ns) / NS,
                "amount": o.amount,
                "start_trace_id": o.start_trace_id,
                "end_trace_id": o.end_trace_id,
            }
            for o in objects
        ],
        columns=[
            "key_hash",
            "facility",
            "service_line",
            "started",
            "deadline",
            "completed",
            "overdue_s",
            "amount",
            "start_trace_id",
            "end_trace_id",
        ],
    )
    return BadEvents(
        "lag",
        f"Objects (hc.key.{pair.key}) whose {pair.to_stage} did not come within "
        f"{threshold_text(pair.within_s)} of {pair.from_stage}, with the deadline in the range; "
        "largest amount first",
        frame,
        "; ".join(
            ([f"showing the {LIMIT} largest"] if len(frame) >= LIMIT else [])
            + (
                [f"the objects of the whole SLA: lag objects cannot be narrowed by {', '.join(unnarrowed)}"]
                if unnarrowed
                else []
            )
        )
        or None,
    )


def _freshness(
    engine: Engine, spec: SlaSpec, start_ns: int, end_ns: int, filters: Filters, *, labels: Labels
) -> BadEvents:
    sel = spec.selector("select")
    max_age = spec.threshold_s or 900.0
    scan_from = max(start_ns, end_ns - FRESHNESS_SCAN_S * NS)
    narrowed, label_cond = _narrowed(sel, labels)
    cond = _selector_conditions(sel, scan_from, end_ns, filters) + label_cond
    time_col = spans.c.event_time_unix_nano if sel.stage else spans.c.start_time_unix_nano
    checks = narrowed.attributes != sel.attributes  # a slice attribute without a column of its own
    fields = [time_col, spans.c.name, spans.c.service_name.label("service"), spans.c.attributes, *_LIFTED]
    with engine.connect() as conn:
        if checks:
            query = select(*fields).where(*cond).order_by(time_col).limit(SCAN_CAP)
            times = [int(row[0]) for row in conn.execute(query) if _exact(narrowed, row)]
        else:
            query = select(time_col).where(*cond).order_by(time_col).limit(SCAN_CAP)
            times = [int(t) for t in conn.execute(query).scalars()]
    gaps = silent_periods(times, scan_from, end_ns, int(max_age * NS))
    frame = pd.DataFrame.from_records(gaps, columns=["silent_from", "silent_until", "silent_s", "ongoing"])
    note = None
    if scan_from > start_ns:
        note = "silent periods of the last 24 hours of the range (narrow the range to look further back)"
    return BadEvents(
        "freshness",
        f"Periods longer than {threshold_text(max_age)} without {sel.describe()}",
        frame,
        note,
    )


def silent_periods(times_ns: list[int], start_ns: int, end_ns: int, max_age_ns: int) -> list[dict[str, Any]]:
    """Gaps longer than ``max_age`` between consecutive events (and before the first / after the last)."""
    out = []
    previous = start_ns
    for t in [*sorted(times_ns), None]:
        current = end_ns if t is None else t
        if current - previous > max_age_ns:
            out.append(
                {
                    "silent_from": previous,
                    "silent_until": current,
                    "silent_s": (current - previous) / NS,
                    "ongoing": t is None,
                }
            )
        if t is not None:
            previous = t
    return list(reversed(out))


def _gauge(engine: Engine, spec: SlaSpec, start_ns: int, end_ns: int, labels: Labels) -> BadEvents:
    gauge = spec.definition.sli.gauge
    assert gauge is not None  # a validated gauge SLI has max:, min: or both
    metric = gauge.metric
    queues = gauge.where.get("queue", ())
    # The rollups keep a sample's queue: a queue slice narrows them; other labels cannot.
    sliced = [v for k, v in labels if k in QUEUE_LABELS]
    if sliced:
        queues = (glob.escape(sliced[0]),)
    unnarrowed = [k for k, _ in labels if k not in QUEUE_LABELS]
    high, low = gauge.max, gauge.min
    m = metric_rollups.c
    cond = [
        m.resolution == 60,
        m.bucket >= start_ns // (60 * NS) * 60 * NS,
        m.bucket < end_ns,
        m.name == metric,
    ]
    if queues:
        cond.append(patterns_cond(m.queue, queues))
    if high is not None:
        cond.append(m.value_max > float(high))
    elif low is not None:
        cond.append(m.value_min < float(low))
    with engine.connect() as conn:
        rows = conn.execute(
            select(m.bucket, m.queue, m.value_max, m.value_min).where(*cond).order_by(m.queue, m.bucket)
        ).all()
    periods: list[dict[str, Any]] = []
    for row in rows:
        last = periods[-1] if periods else None
        if last and last["queue"] == row.queue and last["until"] == int(row.bucket):
            last["until"] = int(row.bucket) + 60 * NS
            last["minutes"] += 1
            last["worst"] = (
                max(last["worst"], row.value_max) if high is not None else min(last["worst"], row.value_min)
            )
        else:
            periods.append(
                {
                    "queue": row.queue,
                    "from": int(row.bucket),
                    "until": int(row.bucket) + 60 * NS,
                    "minutes": 1,
                    "worst": row.value_max if high is not None else row.value_min,
                }
            )
    bound = f"> {high}" if high is not None else f"< {low}"
    # Ongoing: the period reaches the newest closed minute (or the one before: a rollup is
    # written once its minute closes), so "until 16:41" does not hide a stall still going on.
    reaches = end_ns // (60 * NS) * 60 * NS - 60 * NS
    for period in periods:
        period["ongoing"] = period["until"] >= reaches
    frame = pd.DataFrame.from_records(
        sorted(periods, key=lambda p: p["from"], reverse=True),
        columns=["queue", "from", "until", "minutes", "worst", "ongoing"],
    )
    note = (
        f"the periods of every queue: samples cannot be narrowed by {', '.join(unnarrowed)}"
        if unnarrowed
        else None
    )
    return BadEvents("gauge", f"Periods when {metric} was {bound} (per-minute samples)", frame, note)


def _note(frame: pd.DataFrame, capped: bool, counted: int) -> str | None:
    """What the list shows and what the groups count, when that is not simply every bad event."""
    said = []
    if len(frame) >= LIMIT:
        if counted > len(frame):
            said.append(
                f"listing the newest {len(frame):,} of {counted:,} bad spans; "
                f"the groups above count all {counted:,}"
            )
        else:
            said.append(f"listing the newest {len(frame):,}; the groups above count these only")
    if capped:
        said.append(
            f"looked at the newest {SCAN_CAP:,} matching spans only; narrow the range to look further"
        )
    return "; ".join(said) or None


def bad_events(
    engine: Engine,
    spec: SlaSpec,
    start_ns: int,
    end_ns: int,
    *,
    now_ns: int,
    filters: Filters = NO_FILTERS,
    slice_: str | None = None,
) -> BadEvents:
    """The bad events of ``spec`` in the range, of its slice ``slice_`` (the engine's key) if given."""
    labels = slice_labels(slice_)
    if spec.kind == "lag":
        return _lag(engine, spec, start_ns, end_ns, now_ns=now_ns, filters=filters, labels=labels)
    if spec.kind == "ratio":
        return _ratio(engine, spec, start_ns, end_ns, filters, labels=labels)
    if spec.kind == "latency":
        return _latency(engine, spec, start_ns, end_ns, filters, labels=labels)
    if spec.kind == "freshness":
        return _freshness(engine, spec, start_ns, end_ns, filters, labels=labels)
    if spec.kind == "gauge":
        return _gauge(engine, spec, start_ns, end_ns, labels)
    return BadEvents(
        spec.kind, "Bad events", pd.DataFrame(), f"The dashboard cannot list bad events of a {spec.kind} SLI."
    )
