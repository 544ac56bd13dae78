"""Incidents compiled to absolute times: the questions the workflows ask while generating.

A workflow asks "when is this message consumed, given the incidents?" and gets a plain answer, so
the incident logic lives in one place and each workflow stays a straight story of the healthy path.
Backlogs drain first-in first-out: a message published at ``t`` during an outage ``[start, end)``
is handled at ``end + (t - start) * drain / (end + drain - start)``, which maps the outage and the
drain period onto the drain period in order, with no message overtaking another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from simulator.scenario import (
    AdtSilence,
    ChargeInterfaceStall,
    DenialSpike,
    GlPostingOutage,
    IncidentBase,
    InventorySyncDelay,
    Scenario,
)
from vitals.kernel.units import NS


@dataclass(frozen=True)
class Window:
    start_ns: int
    end_ns: int
    drain_ns: int = 0

    def covers(self, t_ns: int) -> bool:
        return self.start_ns <= t_ns < self.end_ns

    def release(self, t_ns: int) -> int:
        """When a message arriving at ``t_ns`` gets through (FIFO drain after the window)."""
        if not self.start_ns <= t_ns < self.end_ns + self.drain_ns:
            return t_ns
        span = self.end_ns + self.drain_ns - self.start_ns
        return self.end_ns + (t_ns - self.start_ns) * self.drain_ns // span


@dataclass(frozen=True)
class DenialWindow:
    window: Window
    payer: str | None
    code: str
    rate: float


@dataclass(frozen=True)
class GlOutage:
    window: Window
    status_code: int


@dataclass(frozen=True)
class Effects:
    """Absolute-time incident windows; empty means a healthy estate."""

    gl_outages: tuple[GlOutage, ...] = ()
    charge_stalls: tuple[Window, ...] = ()
    adt_silences: dict[str, tuple[Window, ...]] = field(default_factory=dict)
    denial_spikes: tuple[DenialWindow, ...] = ()
    inventory_delays: dict[str, tuple[Window, ...]] = field(default_factory=dict)

    # -- questions the workflows ask ------------------------------------------------------------
    def gl_outage(self, t_ns: int) -> GlOutage | None:
        for outage in self.gl_outages:
            if outage.window.covers(t_ns):
                return outage
        return None

    def charge_consumed(self, t_ns: int) -> int:
        for stall in self.charge_stalls:
            t_ns = max(t_ns, stall.release(t_ns))
        return t_ns

    def charge_consumers_down(self, t_ns: int) -> bool:
        return any(stall.covers(t_ns) for stall in self.charge_stalls)

    def adt_sent(self, facility: str, t_ns: int) -> int:
        for silence in self.adt_silences.get(facility, ()):
            t_ns = max(t_ns, silence.release(t_ns))
        return t_ns

    def denial(self, payer: str, t_ns: int) -> tuple[str, float] | None:
        """(CARC code, probability) of an incident denial for this payer's remit at ``t_ns``."""
        for spike in self.denial_spikes:
            if spike.window.covers(t_ns) and spike.payer in (None, payer):
                return spike.code, spike.rate
        return None

    def inventory_applied(self, category: str, t_ns: int) -> int:
        for delay in (*self.inventory_delays.get(category, ()), *self.inventory_delays.get("all", ())):
            t_ns = max(t_ns, delay.release(t_ns))
        return t_ns


def _window(incident: IncidentBase, now: datetime, drain_s: float = 0.0) -> Window:
    start_ns = int(incident.at.resolve(now).timestamp() * NS)
    return Window(start_ns, start_ns + int(incident.duration * NS), int(drain_s * NS))


def compile_effects(scenario: Scenario | None, now: datetime) -> Effects:
    """Resolve a scenario's incidents against ``now`` (a timezone-aware datetime)."""
    if scenario is None:
        return Effects()
    gl: list[GlOutage] = []
    stalls: list[Window] = []
    silences: dict[str, list[Window]] = {}
    denials: list[DenialWindow] = []
    delays: dict[str, list[Window]] = {}
    for incident in scenario.incidents:
        if isinstance(incident, GlPostingOutage):
            gl.append(GlOutage(_window(incident, now), incident.status_code))
        elif isinstance(incident, ChargeInterfaceStall):
            stalls.append(_window(incident, now, incident.drain))
        elif isinstance(incident, AdtSilence):
            silences.setdefault(incident.facility, []).append(_window(incident, now, incident.burst))
        elif isinstance(incident, DenialSpike):
            denials.append(DenialWindow(_window(incident, now), incident.payer, incident.code, incident.rate))
        elif isinstance(incident, InventorySyncDelay):
            delays.setdefault(incident.category, []).append(_window(incident, now, incident.drain))
    return Effects(
        gl_outages=tuple(gl),
        charge_stalls=tuple(stalls),
        adt_silences={k: tuple(v) for k, v in silences.items()},
        denial_spikes=tuple(denials),
        inventory_delays={k: tuple(v) for k, v in delays.items()},
    )


__all__ = ["DenialWindow", "Effects", "GlOutage", "Window", "compile_effects"]
