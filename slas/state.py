"""What the SLA engine persists, as plain values shared by the store implementations."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from slas.lag import LagObject
from vitals.kernel.follow import Cursor

__all__ = ["Commit", "Definition", "Meta", "StoredObject"]

SOURCES = ("spans", "metric_points")
IdRanges = list[tuple[int, int]]


@dataclass
class Definition:
    sla_id: str
    fingerprint: str
    state: Literal["backfilling", "ready"]
    spans_todo: IdRanges
    points_todo: IdRanges
    definition: dict[str, Any]
    registered_at_ns: int


@dataclass
class Meta:
    generation: int
    cursors: dict[str, Cursor]
    definitions: dict[str, Definition]


@dataclass(frozen=True)
class StoredObject:
    obj: LagObject
    deadline_ns: int | None
    expires_ns: int | None


@dataclass
class Commit:
    """One atomic change of SLA state, applied only if nobody committed since ``generation``."""

    generation: int
    now_ns: int
    cursors: dict[str, Cursor]
    deltas: dict[tuple[str, str, int], tuple[int, int, float]] = field(default_factory=dict)
    series: dict[tuple[str, str], tuple[dict[str, str], int]] = field(default_factory=dict)
    objects: list[StoredObject] = field(default_factory=list)
    definitions: list[Definition] = field(default_factory=list)
    #: SLA ids whose rollups, series and objects are deleted before anything else (re-registration)
    reset: list[str] = field(default_factory=list)
    #: SLA ids no longer configured: definition and data deleted
    removed: list[str] = field(default_factory=list)
