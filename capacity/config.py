"""``capacity.yaml`` in the config directory: configured capacity, margins and business deadlines.

The file is optional: without it every interface and queue is judged against the highest drain rate
observed (measured capacity) with the default margin, and no backlog has a deadline. A site writes
what its engine is sized for (``per_hour`` or ``per_second``), how much headroom it wants kept
(``margin``) and the cut-off a queue's backlog must clear by (``deadline``).
"""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from vitals.kernel.configfile import load_yaml, validate

FILE_NAME = "capacity.yaml"
_DEADLINE = re.compile(r"^\s*(\d{1,2}):(\d{2})(?:\s+(\S+))?\s*$")


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as America/Chicago)") from exc
    return name


class Target(BaseModel):
    """What one interface (``hc.stage``) or queue is sized for and what depends on it."""

    model_config = ConfigDict(extra="forbid")

    #: Messages per hour it can drain (the engine's sizing); give this or ``per_second``.
    per_hour: float | None = Field(default=None, gt=0)
    #: Messages per second it can drain; give this or ``per_hour``.
    per_second: float | None = Field(default=None, gt=0)
    #: Headroom to keep at the forecast peak, as a fraction of capacity (0.2 = 20%); the file's
    #: ``margin`` when not given.
    margin: float | None = Field(default=None, ge=0, lt=1)
    #: The local time a backlog must clear by, ``"HH:MM"`` in the file's ``time_zone`` or
    #: ``"HH:MM Area/City"`` (e.g. ``"18:00 America/Chicago"``, the day's charge cut-off).
    deadline: str | None = None
    #: What the deadline is, shown beside it (e.g. ``charges cut-off``).
    label: str | None = None

    @model_validator(mode="after")
    def _one_rate(self) -> Target:
        if self.per_hour is not None and self.per_second is not None:
            raise ValueError("give per_hour or per_second, not both")
        return self

    @field_validator("deadline")
    @classmethod
    def _deadline(cls, value: str | None) -> str | None:
        if value is not None:
            parse_deadline(value, "UTC")
        return value

    @property
    def capacity_per_hour(self) -> float | None:
        if self.per_hour is not None:
            return self.per_hour
        return self.per_second * 3600 if self.per_second is not None else None


def parse_deadline(text: str, default_zone: str) -> tuple[time, str]:
    """``"18:00"`` or ``"18:00 America/Chicago"`` -> (18:00, zone)."""
    match = _DEADLINE.match(text)
    if not match:
        raise ValueError(f"expected HH:MM or 'HH:MM Area/City', got {text!r}")
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 23 or minute > 59:
        raise ValueError(f"no such time of day: {text!r}")
    return time(hour, minute), _zone(match.group(3) or default_zone)


class CapacityConfig(BaseModel):
    """The whole of ``capacity.yaml``: defaults, the business calendar, targets by name."""

    model_config = ConfigDict(extra="forbid")

    #: The zone of the business day: daily volumes, month-ends and deadlines are counted in it.
    time_zone: str = "America/Chicago"
    #: Headroom to keep at the forecast peak when a target gives none (0.2 = 20%).
    margin: float = Field(default=0.2, ge=0, lt=1)
    #: Days of the month the claims cycle submits on: the first business day on or after each is a
    #: claims day, a regressor of the forecast (the demo's clearinghouse batches on the 10th and 25th).
    claims_days: list[int] = Field(default_factory=lambda: [10, 25])
    #: Queues by name (the ``queue`` attribute of the queue gauges).
    queues: dict[str, Target] = Field(default_factory=dict)
    #: Interfaces by ``hc.stage`` (the span that completes the business step).
    interfaces: dict[str, Target] = Field(default_factory=dict)

    @field_validator("time_zone")
    @classmethod
    def _tz(cls, value: str) -> str:
        return _zone(value)

    @field_validator("claims_days")
    @classmethod
    def _days(cls, value: list[int]) -> list[int]:
        for day in value:
            if not 1 <= day <= 31:
                raise ValueError(f"a day of the month is 1..31, got {day}")
        return sorted(set(value))

    def target(self, kind: str, name: str) -> Target | None:
        return (self.queues if kind == "queue" else self.interfaces).get(name)

    def margin_of(self, kind: str, name: str) -> float:
        target = self.target(kind, name)
        return target.margin if target is not None and target.margin is not None else self.margin


def load(config_dir: Path) -> CapacityConfig:
    """The config directory's ``capacity.yaml``; defaults when the file is absent."""
    path = Path(config_dir) / FILE_NAME
    if not path.exists():
        return CapacityConfig()
    loaded = load_yaml(path)
    if loaded.data is None:
        return CapacityConfig()
    config: CapacityConfig = validate(CapacityConfig, loaded)
    return config


__all__ = ["FILE_NAME", "CapacityConfig", "Target", "load", "parse_deadline"]
