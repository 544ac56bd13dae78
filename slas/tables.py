"""The SLA engine's tables. ``sla_evaluations`` is read by alerts and the dashboard."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, String, Table, Text

from vitals.db import BigIntId, JsonDocument, metadata

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
    Index(None, "sla_id", "slice", "evaluated_at_unix_nano"),
    Index(None, "evaluated_at_unix_nano"),
    sqlite_autoincrement=True,
)

__all__ = ["sla_evaluations"]
