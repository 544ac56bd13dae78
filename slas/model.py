"""What an SLA evaluation says: the contract between the SLA engine, alerts and dashboards.

Plain frozen data so routing, notification text and figures are computed from values alone.
Add fields freely; renaming or removing one breaks the readers in ``alerts`` and ``dashboards``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Status = Literal["ok", "warning", "breach", "no-data"]
Priority = Literal["P1", "P2", "P3", "P4"]
Severity = Literal["page", "ticket"]


@dataclass(frozen=True)
class BurnRate:
    """One multi-window burn-rate condition (SRE workbook): fires when both windows burn fast."""

    name: str  # e.g. "1h/5m"
    long_window_s: float
    short_window_s: float
    threshold: float  # e.g. 14.4
    long_rate: float | None  # observed burn rate over the long window; None without data
    short_rate: float | None
    severity: Severity
    firing: bool


@dataclass(frozen=True)
class Evaluation:
    """One SLA (or one slice of it) at one instant."""

    sla_id: str
    slice: str | None  # None for the SLA as a whole; "hc.facility=north-campus" for a slice
    at_unix_nano: int
    title: str
    domain: str
    owner: str
    priority: Priority
    kind: str  # ratio, latency, lag, freshness, gauge
    window_s: float
    window_label: str  # "7d" or "calendar month"
    objective: float  # 0..1
    good: float
    total: float
    sli: float | None  # None when there is no data
    budget_remaining: float | None  # fraction of the error budget left (negative when overspent)
    time_to_exhaustion_s: float | None  # at the current burn rate; None when not burning
    burn_rates: tuple[BurnRate, ...]
    status: Status
    at_risk_amount: float | None = None  # money in bad events (lag SLIs with hc.amount)
    labels: dict[str, str] = field(default_factory=dict)  # slice attributes, e.g. {"hc.facility": ...}
    #: the integration interface (the SLA file's ``interface:``, rendered for the slice): alerts of
    #: one interface form one incident; None when the SLA names none (or, for a per-slice
    #: template, for the SLA as a whole)
    interface: str | None = None
    #: first minute of the breach under way (or, for a spent budget without a current burn, of the
    #: latest one), from the rollups alone (slas.breach); None when nothing fires and the
    #: objective is met
    breach_started_unix_nano: int | None = None
