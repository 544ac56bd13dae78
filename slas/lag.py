"""Lag objects: one business object (a charge, a claim, an implant) between two stages.

An object is *due* at ``start + within``. It is good when its end stage happened (event time) by
then and bad otherwise; a bad object is counted as soon as the deadline passes even if the end
never comes, because a charge that never posts is lost revenue, not missing data. Either way it
lands in the minute of its deadline, so the SLI is "objects due in the window that were on time".
Stages may arrive in any order; a late-arriving end that happened before the deadline turns a
bad object good again (its minute's counts are corrected).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import NamedTuple

from vitals.kernel.units import MINUTE_NS

__all__ = ["Counted", "LagObject", "Sighting", "classify", "merge_end", "merge_start"]


@dataclass(frozen=True)
class Counted:
    """What an object currently contributes to the rollups."""

    slice: str
    minute: int
    bad: bool
    amount: float  # money at risk counted (bad objects only)


class Sighting(NamedTuple):
    """One stage of an object, seen on a span: when, in which slice, where and for how much."""

    at_ns: int
    slice: str
    labels: dict[str, str]
    amount: float | None = None
    facility: str | None = None  # hc.facility
    service_line: str | None = None  # hc.service_line
    trace_id: str | None = None


@dataclass(frozen=True)
class LagObject:
    sla_id: str
    key: str
    start_ns: int | None = None
    end_ns: int | None = None
    slice: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    amount: float | None = None
    counted: Counted | None = None
    #: Where the object is (for the dashboard's facility and service-line filters), whatever the
    #: SLA slices by; and the traces of its earliest start and end.
    facility: str | None = None
    service_line: str | None = None
    start_trace_id: str | None = None
    end_trace_id: str | None = None

    def deadline_ns(self, within_ns: int) -> int | None:
        return None if self.start_ns is None else self.start_ns + within_ns

    @property
    def state(self) -> str:
        if self.counted is not None:
            return "bad" if self.counted.bad else "good"
        return "pending" if self.start_ns is not None else "orphan"


def merge_start(obj: LagObject, seen: Sighting) -> LagObject:
    """The start stage was seen (the earliest start wins; its slice, place and amount are preferred)."""
    if obj.start_ns is not None and obj.start_ns <= seen.at_ns:
        return obj
    return replace(
        obj,
        start_ns=seen.at_ns,
        slice=seen.slice or obj.slice,
        labels=seen.labels if seen.slice else obj.labels,
        amount=seen.amount if seen.amount is not None else obj.amount,
        facility=seen.facility or obj.facility,
        service_line=seen.service_line or obj.service_line,
        start_trace_id=seen.trace_id,
    )


def merge_end(obj: LagObject, seen: Sighting) -> LagObject:
    """The end stage was seen (the earliest end wins); it fills a slice, place or amount the start lacked."""
    earlier = obj.end_ns is None or seen.at_ns < obj.end_ns
    use_slice = not obj.slice and bool(seen.slice)
    return replace(
        obj,
        end_ns=seen.at_ns if earlier else obj.end_ns,
        slice=seen.slice if use_slice else obj.slice,
        labels=seen.labels if use_slice else obj.labels,
        amount=obj.amount if obj.amount is not None else seen.amount,
        facility=obj.facility or seen.facility,
        service_line=obj.service_line or seen.service_line,
        end_trace_id=seen.trace_id if earlier else obj.end_trace_id,
    )


def classify(obj: LagObject, within_ns: int, now_ns: int) -> Counted | None:
    """What the object should contribute at ``now``: None while it is not yet due (or has no start)."""
    if obj.start_ns is None:
        return None
    deadline = obj.start_ns + within_ns
    minute = deadline // MINUTE_NS
    if obj.end_ns is not None and obj.end_ns <= deadline:
        return Counted(obj.slice, minute, False, 0.0)
    if deadline <= now_ns:
        return Counted(obj.slice, minute, True, obj.amount or 0.0)
    return None
