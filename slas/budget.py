"""Error budgets, burn rates and status: the arithmetic of the SRE workbook, on plain numbers.

Multi-window, multi-burn-rate alerting (SRE workbook, chapter 5) for a 30-day window:
1h/5m at 14.4 and 6h/30m at 6 page, 1d/2h at 3 and 3d/6h at 1 open a ticket. For another
window W both windows of each tier are scaled by W/30d (rounded up to whole minutes) and the
thresholds kept, so each tier still means "this share of the whole budget burnt in the long
window" (14.4 x 1h/30d = 2%). A 7-day SLA pages on 14m/2m at 14.4.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from slas.spec import SLA
from vitals.kernel.units import format_duration

__all__ = [
    "WORKBOOK_TIERS",
    "Tier",
    "WindowCounts",
    "budget_remaining",
    "burn_rate",
    "status_of",
    "tiers_for",
    "time_to_exhaustion",
    "with_no_data_policy",
]

MINUTE = 60
THIRTY_DAYS = 30 * 86400

#: (long s, short s, threshold, severity) for a 30-day window
WORKBOOK_TIERS: tuple[tuple[float, float, float, Literal["page", "ticket"]], ...] = (
    (3600, 300, 14.4, "page"),
    (6 * 3600, 1800, 6.0, "page"),
    (86400, 7200, 3.0, "ticket"),
    (3 * 86400, 6 * 3600, 1.0, "ticket"),
)


@dataclass(frozen=True)
class Tier:
    long_minutes: int
    short_minutes: int
    threshold: float
    severity: Literal["page", "ticket"]

    @property
    def name(self) -> str:
        return f"{format_duration(self.long_minutes * MINUTE)}/{format_duration(self.short_minutes * MINUTE)}"


def tiers_for(sla: SLA) -> tuple[Tier, ...]:
    if sla.burn_rates is not None:
        return tuple(
            Tier(int(t.long // MINUTE), int(t.short // MINUTE), t.threshold, t.severity)
            for t in sla.burn_rates
        )
    scale = sla.window.nominal_seconds / THIRTY_DAYS
    return tuple(
        Tier(
            max(1, math.ceil(round(long * scale / MINUTE, 6))),
            max(1, math.ceil(round(short * scale / MINUTE, 6))),
            threshold,
            severity,
        )
        for long, short, threshold, severity in WORKBOOK_TIERS
    )


@dataclass(frozen=True)
class WindowCounts:
    good: float
    total: float

    @property
    def bad(self) -> float:
        return self.total - self.good

    @property
    def sli(self) -> float | None:
        return self.good / self.total if self.total > 0 else None


def with_no_data_policy(good: float, total: float, min_events: float, policy: str) -> WindowCounts | None:
    """Counts as the SLI sees them: below ``min_events`` the window is no-data (``neither``) or is
    topped up to ``min_events`` with good (``good``) or bad (``bad``) events. With nothing measured
    at all ``good`` has nothing to vouch for (no-data), while ``bad`` means silence itself is bad."""
    if total >= min_events and total > 0:
        return WindowCounts(good, total)
    if policy == "neither" or (policy == "good" and total <= 0):
        return None
    missing = max(min_events, 1) - total
    if policy == "good":
        return WindowCounts(good + missing, total + missing)
    return WindowCounts(good, total + missing)


def burn_window_min_events(min_events: int, window_minutes: float, burn_minutes: int) -> float:
    """The event floor for a burn-rate window: the SLA's, in proportion to the window's length."""
    return max(1.0, math.ceil(min_events * burn_minutes / max(window_minutes, 1)))


def error_budget(objective: float) -> float:
    """1 - objective, rounded so that 90% leaves exactly 0.1 (not 0.09999999999999998): a window
    that spends its budget exactly burns at 1.0, which is not above a threshold of 1."""
    return round(1 - objective, 12)


def burn_rate(counts: WindowCounts | None, objective: float) -> float | None:
    if counts is None or counts.total <= 0:
        return None
    return round((counts.bad / counts.total) / error_budget(objective), 9)


def budget_remaining(counts: WindowCounts | None, objective: float) -> float | None:
    """Share of the error budget left: 1 untouched, 0 spent, negative overspent."""
    if counts is None or counts.total <= 0:
        return None
    return round(1 - (counts.bad / counts.total) / error_budget(objective), 9)


def time_to_exhaustion(remaining: float | None, current_burn: float | None, window_s: float) -> float | None:
    """Seconds until the budget is gone at the current burn rate (burn 1 spends it in one window)."""
    if remaining is None or current_burn is None or current_burn <= 0:
        return None
    if remaining <= 0:
        return 0.0
    return remaining * window_s / current_burn


def status_of(
    sli: float | None, objective: float, page_firing: bool, ticket_firing: bool
) -> Literal["ok", "warning", "breach", "no-data"]:
    if page_firing or (sli is not None and sli < objective):
        return "breach"
    if ticket_firing:
        return "warning"
    if sli is None:
        return "no-data"
    return "ok"
