"""The SLA engine's tables. Alerts reads ``sla_evaluations``; the dashboard reads none of them
directly, only through the engine's read API (``slas.history``, ``slas.lag_history``)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, String, Table, Text

from vitals.kernel.db import BigIntId, JsonDocument, metadata

#: One row per SLA and slice per evaluation tick. ``slice`` is '' for the SLA as a whole (NULL
#: would defeat unique indexes on some databases); readers map '' to None.
sla_evaluations = Table(
    "sla_evaluations",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("sla_id", String(128), nullable=False),
    Column("slice", Text, nullable=False, default=""),
    Column("evaluated_at_unix_nano", BigInteger, nullable=False),
    Column("status", String(8), nullable=False),
    Column("priority", String(2), nullable=False),
    Column("domain", Text, nullable=False),
    Column("owner", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("window_s", Float, nullable=False),
    Column("window_label", Text, nullable=False),
    Column("objective", Float, nullable=False),
    Column("good", Float, nullable=False),
    Column("total", Float, nullable=False),
    Column("sli", Float),
    Column("budget_remaining", Float),
    Column("time_to_exhaustion_s", Float),
    Column("at_risk_amount", Float),
    Column("burn_rates", JsonDocument, nullable=False),
    Column("labels", JsonDocument, nullable=False),
    Column("interface", Text),  # the SLA's interface: for the slice; alerts group incidents by it
    Column("breach_started_unix_nano", BigInteger),  # first minute of the breach, from the rollups
    Index(None, "sla_id", "slice", "evaluated_at_unix_nano"),
    Index(None, "evaluated_at_unix_nano"),
    sqlite_autoincrement=True,
)


#: Per-minute rollups by event time, per SLA and slice. Raw counts whose meaning depends on the
#: SLI kind (docs/explanation/sla-math.md): ratio/latency/lag: events and bad events (good =
#: events - bad), bad_amount = hc.amount of bad lag objects; gauge: samples and samples out of bound;
#: freshness: matching events. ``slice`` is '' for events without a slice value.
sla_minutes = Table(
    "sla_minutes",
    metadata,
    Column("sla_id", String(128), primary_key=True),
    Column("slice", Text, primary_key=True),
    Column("minute_unix_nano", BigInteger, primary_key=True),
    Column("events", BigInteger, nullable=False),
    Column("bad", BigInteger, nullable=False),
    Column("bad_amount", Float, nullable=False),
)

#: Every slice an SLA has seen, with its labels and first minute (a silent slice still exists).
sla_series = Table(
    "sla_series",
    metadata,
    Column("sla_id", String(128), primary_key=True),
    Column("slice", Text, primary_key=True),
    Column("labels", JsonDocument, nullable=False),
    Column("first_minute_unix_nano", BigInteger, nullable=False),
)

#: Lag SLIs' business objects: open ones wait for their deadline, counted ones remember what they
#: contributed so a late stage can correct it. ``key_hash`` is the hashed hc.key.<key> value. The
#: engine is the only writer; the dashboard reads lag percentiles, late objects and money at risk
#: here through ``slas.lag_history``. Counted objects are kept as long as the per-minute rollups.
sla_lag_objects = Table(
    "sla_lag_objects",
    metadata,
    Column("sla_id", String(128), primary_key=True),
    Column("key_hash", String(128), primary_key=True),
    Column("state", String(8), nullable=False),  # pending, good, bad, orphan (end without start)
    Column("start_unix_nano", BigInteger),
    Column("end_unix_nano", BigInteger),
    Column("deadline_unix_nano", BigInteger),
    Column("slice", Text, nullable=False),
    Column("labels", JsonDocument, nullable=False),
    Column("amount", Float),
    Column("counted_slice", Text),
    Column("counted_minute_unix_nano", BigInteger),
    Column("counted_amount", Float),
    Column("expires_unix_nano", BigInteger),
    Column("facility", Text),  # hc.facility of the object (its start's, else its end's)
    Column("service_line", Text),  # hc.service_line, likewise
    Column("start_trace_id", String(32)),  # the trace of the earliest start
    Column("end_trace_id", String(32)),  # the trace of the earliest end
    Index(None, "state", "deadline_unix_nano"),
    Index(None, "expires_unix_nano"),
    # Covering indexes for the dashboard: objects due in a range by start, completed by end.
    Index(None, "sla_id", "start_unix_nano", "end_unix_nano", "amount"),
    Index(None, "sla_id", "end_unix_nano", "start_unix_nano"),
)

#: The registered SLA definitions: a changed rollup fingerprint back-fills the SLA from history.
sla_definitions = Table(
    "sla_definitions",
    metadata,
    Column("sla_id", String(128), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("state", String(12), nullable=False),  # backfilling, ready
    Column("spans_todo", JsonDocument, nullable=False),  # [[lo, hi], ...] span ids still to back-fill
    Column("points_todo", JsonDocument, nullable=False),
    Column("definition", JsonDocument, nullable=False),
    Column("registered_at_unix_nano", BigInteger, nullable=False),
)

#: Read positions in the telemetry tables (see vitals.kernel.follow). ``generation`` changes with
#: every commit of SLA state so concurrent engines notice each other.
sla_cursors = Table(
    "sla_cursors",
    metadata,
    Column("source", String(32), primary_key=True),  # spans, metric_points
    Column("watermark", BigInteger, nullable=False),
    Column("seen", JsonDocument, nullable=False),
    Column("generation", BigInteger, nullable=False),
    Column("updated_at_unix_nano", BigInteger, nullable=False),
)

#: How far the engine's retention has thinned old evaluations (``slas.downsample``): one row per
#: job (``evaluations.thinned``), ``done_unix_nano`` the hour boundary below which every hour is
#: thinned, so a pass goes on where the last one stopped instead of reading a year again.
sla_retention = Table(
    "sla_retention",
    metadata,
    Column("job", String(32), primary_key=True),
    Column("done_unix_nano", BigInteger, nullable=False),
    Column("updated_at_unix_nano", BigInteger, nullable=False),
)

__all__ = [
    "sla_cursors",
    "sla_definitions",
    "sla_evaluations",
    "sla_lag_objects",
    "sla_minutes",
    "sla_retention",
    "sla_series",
]
