"""Scenario files: incidents scheduled on the timeline relative to "now", with their ground truth.

A scenario is YAML (validated with errors naming file, line and field)::

    name: default
    incidents:
      - id: erp-gl-outage
        kind: gl-posting-outage
        at: -1d@10:20          # yesterday 10:20 local time; or -30h, -2d4h, now, +15m
        duration: 40m

Each incident kind documents what it does to the telemetry and which starter SLA it must breach
(:data:`GROUND_TRUTH`); :meth:`Scenario.expected_effects` resolves that against a concrete "now" so
tests and the SLA engine can check that each incident breaches exactly its SLA.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from simulator.calendar import ZONE
from simulator.estate import DENIAL_CODES, FACILITY_BY_NAME, PAYERS
from vitals.kernel.configfile import ConfigError, ConfigIssue, LoadedYaml, load_yaml, parse_yaml, validate
from vitals.kernel.units import Duration, Fraction, parse_duration

_AT = re.compile(r"^(?P<sign>[+-])?(?P<span>[0-9][0-9a-z.]*)?(?:@(?P<hour>\d{1,2}):(?P<minute>\d{2}))?$")


@dataclass(frozen=True)
class At:
    """A moment relative to "now": an offset, or a day offset plus a local wall-clock time."""

    offset_s: float
    clock: time | None = None
    text: str = ""

    def resolve(self, now: datetime) -> datetime:
        if self.clock is None:
            return now + timedelta(seconds=self.offset_s)
        local_now = now.astimezone(ZONE)
        day = (local_now + timedelta(seconds=self.offset_s)).date()
        return datetime.combine(day, self.clock, ZONE).astimezone(UTC)

    def __str__(self) -> str:
        return self.text


def parse_at(value: Any) -> At:
    """``-30h``, ``+15m``, ``now``, ``-1d@10:20`` (day offset at a local time), or seconds."""
    if isinstance(value, At):
        return value
    if isinstance(value, bool):
        raise ValueError(f"expected a time relative to now such as -30h or -1d@10:20, got {value!r}")
    if isinstance(value, int | float):
        return At(float(value), None, f"{value}s")
    text = str(value).strip().replace(" ", "")
    if text == "now":
        return At(0.0, None, text)
    match = _AT.match(text)
    if not match or not (match["span"] or match["hour"]):
        raise ValueError(
            f"expected a time relative to now such as -30h, -2d4h, now, or -1d@10:20 (yesterday 10:20 "
            f"local time), got {value!r}"
        )
    offset = parse_duration(match["span"]) if match["span"] else 0.0
    if match["sign"] == "-":
        offset = -offset
    clock = None
    if match["hour"] is not None:
        if match["span"] and offset % 86400:
            raise ValueError(f"with @HH:MM the offset must be whole days (such as -1d@10:20), got {value!r}")
        hour, minute = int(match["hour"]), int(match["minute"])
        if hour > 23 or minute > 59:
            raise ValueError(f"no such time of day: {match['hour']}:{match['minute']}")
        clock = time(hour, minute)
    return At(offset, clock, text)


RelativeTime = Annotated[At, BeforeValidator(parse_at)]


class IncidentBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=64)
    at: RelativeTime
    duration: Duration
    description: str = ""

    @field_validator("duration")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be longer than 0s")
        return value


class GlPostingOutage(IncidentBase):
    """The ERP's GL posting API answers 503: every posting fails until it is back, then retries."""

    kind: Literal["gl-posting-outage"]
    status_code: int = Field(default=503, ge=400, le=599)


class ChargeInterfaceStall(IncidentBase):
    """Billing stops consuming charges-outbound; the backlog drains in ``drain`` once it resumes."""

    kind: Literal["charge-interface-stall"]
    drain: Duration = 600.0


class AdtSilence(IncidentBase):
    """One facility's ADT feed goes quiet; held messages are sent in a burst when it resumes."""

    kind: Literal["adt-silence"]
    facility: str
    burst: Duration = 180.0

    @field_validator("facility")
    @classmethod
    def _known_facility(cls, value: str) -> str:
        if value not in FACILITY_BY_NAME:
            raise ValueError(f"unknown facility {value!r}; one of {', '.join(FACILITY_BY_NAME)}")
        return value


class DenialSpike(IncidentBase):
    """A payer denies ``rate`` of its remits with one CARC code (on top of the usual denials)."""

    kind: Literal["denial-spike"]
    code: str
    payer: str | None = None  # None: every payer
    rate: Fraction = 0.5

    @field_validator("code")
    @classmethod
    def _carc(cls, value: str) -> str:
        if not re.match(r"^(CO|PR|OA|PI|CR)-[A-Z0-9]{1,4}$", value):
            raise ValueError(f"expected a CARC code with its group such as CO-197, got {value!r}")
        return value

    @field_validator("payer")
    @classmethod
    def _known_payer(cls, value: str | None) -> str | None:
        names = [p[0] for p in PAYERS]
        if value is not None and value not in names:
            raise ValueError(f"unknown payer {value!r}; one of {', '.join(names)}")
        return value


class InventorySyncDelay(IncidentBase):
    """The ERP's import of implant (serialized) inventory transactions stalls, then catches up."""

    kind: Literal["inventory-sync-delay"]
    category: Literal["implant", "supply", "all"] = "implant"
    drain: Duration = 900.0


Incident = Annotated[
    GlPostingOutage | ChargeInterfaceStall | AdtSilence | DenialSpike | InventorySyncDelay,
    Field(discriminator="kind"),
]


class ScenarioSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "scenario"
    description: str = ""
    incidents: list[Incident] = Field(default_factory=list)


#: Incident kind -> (SLA ids it must breach, slice attribute or None, what it does).
GROUND_TRUTH: dict[str, tuple[tuple[str, ...], str | None, str]] = {
    "gl-posting-outage": (
        ("gl-posting-errors",),
        None,
        "every erp.gl.post span fails (status ERROR, http.response.status_code 503) while the ERP is "
        "down; the integration engine retries each failed posting once it is back (same hc.key.journal)",
    ),
    "charge-interface-stall": (
        ("queue-backlog-age", "queue-stuck"),
        "queue",
        "billing stops consuming charges-outbound: queue.consumers 0, queue.depth and "
        "queue.oldest_age_seconds grow, no charge.posted spans until it resumes; then the backlog "
        "drains and charge lag spikes by up to the stall's length",
    ),
    "adt-silence": (
        ("adt-interface-silence",),
        "hc.facility",
        "no ADT message (HL7 ADT^* process spans) from the facility during the silence; the held "
        "messages arrive in a burst afterwards",
    ),
    "denial-spike": (
        ("initial-denial-rate",),
        None,
        "the payer denies the given share of its remits (remit.received spans) with the CARC code",
    ),
    "inventory-sync-delay": (
        ("implant-inventory-sync-lag",),
        None,
        "inventory.adjusted for implants consumed during the incident comes only when it ends "
        "(the inventory-sync queue itself stays healthy: the ERP's import job is what stalls)",
    ),
}


@dataclass(frozen=True)
class ExpectedEffect:
    """The ground truth of one incident resolved against a concrete "now"."""

    incident: str
    kind: str
    start: datetime
    end: datetime
    slas: tuple[str, ...]
    slice: Mapping[str, str]
    description: str

    @property
    def start_ns(self) -> int:
        return _ns(self.start)

    @property
    def end_ns(self) -> int:
        return _ns(self.end)


def _ns(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


@dataclass(frozen=True)
class Scenario:
    spec: ScenarioSpec
    file: str

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def incidents(self) -> list[Any]:
        return list(self.spec.incidents)

    def expected_effects(self, now: datetime) -> list[ExpectedEffect]:
        """Each incident's window and the SLAs (and slice) it must breach, for this ``now``."""
        effects = []
        for incident in self.spec.incidents:
            slas, slice_key, what = GROUND_TRUTH[incident.kind]
            start = incident.at.resolve(_aware(now))
            slice_: dict[str, str] = {}
            if slice_key == "queue":
                slice_ = {"queue": "charges-outbound"}
            elif isinstance(incident, AdtSilence):
                slice_ = {"hc.facility": incident.facility}
            effects.append(
                ExpectedEffect(
                    incident=incident.id,
                    kind=incident.kind,
                    start=start,
                    end=start + timedelta(seconds=incident.duration),
                    slas=slas,
                    slice=slice_,
                    description=incident.description or what,
                )
            )
        return effects


def _aware(now: datetime) -> datetime:
    return now if now.tzinfo else now.replace(tzinfo=UTC)


def _check_unique(spec: ScenarioSpec, loaded: LoadedYaml) -> None:
    seen: dict[str, int] = {}
    issues = []
    for index, incident in enumerate(spec.incidents):
        if incident.id in seen:
            issues.append(
                ConfigIssue(
                    loaded.file,
                    loaded.line_of(("incidents", index, "id")),
                    f"incidents[{index}].id",
                    f"duplicate incident id {incident.id!r} (also incidents[{seen[incident.id]}])",
                )
            )
        seen.setdefault(incident.id, index)
    if issues:
        raise ConfigError(issues)


def _check_kinds(loaded: LoadedYaml) -> None:
    """Name the ``kind`` field itself when it is missing or unknown (pydantic points at the item)."""
    incidents = loaded.data.get("incidents") if isinstance(loaded.data, dict) else None
    if not isinstance(incidents, list):
        return
    issues = []
    for index, item in enumerate(incidents):
        if not isinstance(item, dict):
            continue
        kind = item.get("kind")
        if kind not in GROUND_TRUTH:
            message = (
                "missing: say what happens" if kind is None else f"unknown incident kind {kind!r}"
            ) + f"; one of {', '.join(GROUND_TRUTH)}"
            path = ("incidents", index, "kind")
            issues.append(ConfigIssue(loaded.file, loaded.line_of(path), f"incidents[{index}].kind", message))
    if issues:
        raise ConfigError(issues)


def _from_loaded(loaded: LoadedYaml) -> Scenario:
    if loaded.data is None:
        raise ConfigError.single(loaded.file, None, "", "the scenario file is empty")
    _check_kinds(loaded)
    spec = validate(ScenarioSpec, loaded)
    _check_unique(spec, loaded)
    return Scenario(spec, loaded.file)


def load_scenario(path: str | Path | None = None) -> Scenario:
    """Load and validate a scenario file; ``None`` loads the default scenario shipped with Vitals."""
    if path is None:
        text = resources.files("simulator.scenarios").joinpath("default.yaml").read_text("utf-8")
        return _from_loaded(parse_yaml(text, DEFAULT_SCENARIO))
    return _from_loaded(load_yaml(path))


def parse_scenario(text: str, file: str = "<scenario>") -> Scenario:
    return _from_loaded(parse_yaml(text, file))


DEFAULT_SCENARIO = str(Path(__file__).resolve().parent / "scenarios" / "default.yaml")

#: Every denial code the simulator knows, for documentation and validation messages.
KNOWN_CARC = tuple(DENIAL_CODES)

__all__ = [
    "DEFAULT_SCENARIO",
    "GROUND_TRUTH",
    "AdtSilence",
    "At",
    "ChargeInterfaceStall",
    "DenialSpike",
    "ExpectedEffect",
    "GlPostingOutage",
    "InventorySyncDelay",
    "Scenario",
    "ScenarioSpec",
    "load_scenario",
    "parse_at",
    "parse_scenario",
]
