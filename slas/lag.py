"""Lag objects: one business object (a charge, a claim, an implant) between two stages.

An object is *due* at ``start + within``. It is good when its end stage happened (event time) by
then and bad otherwise; a bad object is counted as soon as the deadline passes even if the end
never comes, because a charge that never posts is lost revenue, not missing data. Either way it
lands in the minute of its deadline, so the SLI is "objects due in the window that were on time".
Stages may arrive in any order; a late-arriving end that happened before the deadline turns a
bad object good again (its minute's counts are corrected).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vitals.kernel.units import MINUTE_NS

__all__ = ["Counted", "LagObject", "classify", "merge_end", "merge_start"]


@dataclass(frozen=True)
class Counted:
    """What an object currently contributes to the rollups."""

    slice: str
    minute: int
    bad: bool
    amount: float  # money at risk counted (bad objects only)


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

    def deadline_ns(self, within_ns: int) -> int | None:
        return None if self.start_ns is None else self.start_ns + within_ns

    @property
    def state(self) -> str:
        if self.counted is not None:
            return "bad" if self.counted.bad else "good"
        return "pending" if self.start_ns is not None else "orphan"


def merge_start(
    obj: LagObject, at_ns: int, slice_key: str, labels: dict[str, str], amount: float | None
) -> LagObject:
    """The start stage was seen (the earliest start wins; its slice and amount are preferred)."""
    if obj.start_ns is not None and obj.start_ns <= at_ns:
        return obj
    return LagObject(
        obj.sla_id,
        obj.key,
        at_ns,
        obj.end_ns,
        slice_key or obj.slice,
        labels if slice_key else obj.labels,
        amount if amount is not None else obj.amount,
        obj.counted,
    )


def merge_end(
    obj: LagObject, at_ns: int, slice_key: str, labels: dict[str, str], amount: float | None
) -> LagObject:
    """The end stage was seen (the earliest end wins); it fills a slice or amount the start lacked."""
    end = at_ns if obj.end_ns is None else min(obj.end_ns, at_ns)
    use_slice = not obj.slice and bool(slice_key)
    return LagObject(
        obj.sla_id,
        obj.key,
        obj.start_ns,
        end,
        slice_key if use_slice else obj.slice,
        labels if use_slice else obj.labels,
        obj.amount if obj.amount is not None else amount,
        obj.counted,
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
