"""What an alert is: plain frozen values shared by the pure core and the edges.

Times are float seconds since the Unix epoch (UTC) everywhere in the core; the store converts to
the ``*_unix_nano`` integers of the tables. Labels are plain ``str -> str`` mappings whose values
are never empty (a missing label and an empty one mean the same, as in Alertmanager).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

AlertState = Literal["firing", "acknowledged", "suppressed", "resolved"]
ALERT_STATES: tuple[AlertState, ...] = ("firing", "acknowledged", "suppressed", "resolved")

#: Returns "now" in float seconds since the epoch; tests inject a controllable one.
Clock = Callable[[], float]


@dataclass(frozen=True)
class Figures:
    """The numbers an alert reports: from the SLA evaluation, never from raw telemetry."""

    title: str
    kind: str
    objective: float
    sli: float | None
    good: float
    total: float
    window_label: str
    budget_remaining: float | None
    time_to_exhaustion_s: float | None
    at_risk_amount: float | None = None
    burn_rate: float | None = None  # long-window burn rate of this alert's tier
    burn_threshold: float | None = None
    evaluated_at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Figures:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True)
class Alert:
    """One alert: an SLA slice in breach, through its episodes; ``tier`` is its worst tier now.

    ``active`` is the condition as last observed; ``clear_since`` is set while the condition is
    clear but the alert is held open by hysteresis; ``transitions`` keeps the recent condition
    changes for flap detection.
    """

    fingerprint: str
    sla_id: str
    slice: str
    tier: str
    labels: Mapping[str, str]
    figures: Figures
    started_at: float
    last_evaluated_at: float
    active: bool = True
    clear_since: float | None = None
    resolved_at: float | None = None
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    ack_comment: str | None = None
    suppressed_by: tuple[str, ...] = ()
    transitions: tuple[float, ...] = ()
    flapping: bool = False
    hysteresis_holds: int = 0
    flap_holds: int = 0
    episode: int = 1
    #: When a page tier last fired: the severity stays "page" until that is ``resolve_after`` ago.
    page_seen_at: float | None = None
    id: int | None = None
    version: int = 0

    @property
    def state(self) -> AlertState:
        if self.resolved_at is not None:
            return "resolved"
        if self.suppressed_by:
            return "suppressed"
        if self.acknowledged_by is not None:
            return "acknowledged"
        return "firing"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


@dataclass(frozen=True)
class AlertEvent:
    """One line of an alert's history (``alert_events``)."""

    fingerprint: str
    at: float
    kind: str
    actor: str = "vitals"
    detail: Mapping[str, Any] = field(default_factory=dict)


def fingerprint(sla_id: str, slice_: str) -> str:
    """Stable identity of an alert (one SLA slice) across restarts, config edits and episodes.

    Burn-rate tiers are not part of it: they are the alert's severity, not separate alerts.
    """
    import hashlib

    raw = "\x1f".join((sla_id, slice_)).encode()
    return hashlib.sha256(raw).hexdigest()[:16]
