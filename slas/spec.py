"""The SLA file format: the public interface users keep under version control.

Every model forbids unknown fields so a misspelt key is an error with its line, not a silently
ignored promise. Durations, percentages and time zones are validated here; named time intervals
are resolved by :mod:`slas.loading` once every file of a directory has been read.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from vitals.kernel.localtime import validate_zone
from vitals.kernel.timeintervals import IntervalSet, NamedInterval, TimeInterval
from vitals.kernel.units import Duration, Fraction

__all__ = [
    "SLA",
    "BurnRateTier",
    "CalendarName",
    "Correction",
    "EvaluationSettings",
    "FreshnessSli",
    "GaugeSli",
    "HistoryExpectation",
    "LagSli",
    "LatencySli",
    "RatioSli",
    "Selector",
    "SlaFile",
    "Sli",
    "Window",
]

_STRICT = ConfigDict(extra="forbid", frozen=True, validate_by_name=True, validate_by_alias=True)
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$")
#: ``{attribute}`` in an ``interface:`` template (attribute names hold dots: ``{hc.facility}``)
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
SpanKind = Literal["internal", "server", "client", "producer", "consumer"]
CalendarName = Literal["day", "week", "month", "quarter", "year"]
#: Nominal lengths of calendar periods, for burn-rate window scaling and time to exhaustion.
CALENDAR_SECONDS: dict[str, float] = {
    "day": 86400.0,
    "week": 7 * 86400.0,
    "month": 30 * 86400.0,
    "quarter": 91 * 86400.0,
    "year": 365 * 86400.0,
}
#: Longest real calendar periods, for how much history a calendar window needs.
CALENDAR_MAX_SECONDS: dict[str, float] = {
    "day": 25 * 3600.0,
    "week": 7 * 86400.0 + 3600,
    "month": 31 * 86400.0 + 3600,
    "quarter": 92 * 86400.0 + 3600,
    "year": 366 * 86400.0 + 3600,
}


def _tuple_of_str(value: Any) -> Any:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        if not value:
            raise ValueError("give at least one value")
        return tuple(value)
    return value


def _attribute_values(value: Any) -> Any:
    items = value if isinstance(value, list | tuple) else [value]
    out = []
    for item in items:
        if isinstance(item, dict | list):
            raise ValueError("an attribute value must be text, a number or true/false (or a list of them)")
        out.append(str(item).lower() if isinstance(item, bool) else str(item))
    if not out:
        raise ValueError("give at least one value")
    return tuple(out)


Patterns = Annotated[tuple[str, ...], BeforeValidator(_tuple_of_str)]
AttributeValues = Annotated[tuple[str, ...], BeforeValidator(_attribute_values)]


class Selector(BaseModel):
    """Which spans an SLI looks at. Every field given must match; strings accept globs (* ? [..])."""

    model_config = _STRICT

    #: Span name, e.g. ``erp.gl.post`` or ``"HL7 ADT^* process"``.
    span: Patterns | None = None
    #: ``service.name``, e.g. ``integration-engine``.
    service: Patterns | None = None
    #: Span kind.
    kind: Annotated[tuple[SpanKind, ...], BeforeValidator(_tuple_of_str)] | None = None
    #: ``hc.stage``, e.g. ``charge.posted``.
    stage: Patterns | None = None
    #: ``hc.workflow``, e.g. ``patient-to-cash``.
    workflow: Patterns | None = None
    #: ``hc.system``, e.g. ``erp``.
    system: Patterns | None = None
    #: ``hc.message.type``, e.g. ``"ADT^*"`` or ``X12-835``.
    message_type: Patterns | None = None
    #: ``error`` (span status ERROR) or ``ok`` (anything else).
    status: Literal["ok", "error"] | None = None
    #: ``{name: value}``; values compare as text (``true``, ``3``), globs allowed, ``"*"`` means present.
    attributes: dict[str, AttributeValues] = Field(default_factory=dict)


def _interval_ref(value: Any) -> Any:
    if isinstance(value, str):
        return {"name": value}
    if isinstance(value, dict):
        return {"intervals": [value]}
    if isinstance(value, list):
        return {"intervals": value}
    return value


IntervalRef = Annotated[IntervalSet, BeforeValidator(_interval_ref)]


class RatioSli(BaseModel):
    """good / total: ``bad`` (or ``good``) is applied to the spans ``total`` selected."""

    model_config = _STRICT

    #: The spans counted.
    total: Selector
    #: Which of them are bad (give ``bad`` or ``good``).
    bad: Selector | None = None
    #: Which of them are good.
    good: Selector | None = None

    @model_validator(mode="after")
    def _one_of(self) -> RatioSli:
        if (self.bad is None) == (self.good is None):
            raise ValueError("give exactly one of bad: or good: (applied within total:)")
        return self


class LatencySli(BaseModel):
    model_config = _STRICT

    #: The spans counted.
    select: Selector
    #: A span is good when its duration is strictly below this.
    under: Duration

    @field_validator("under")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be longer than 0s")
        return value


class LagSli(BaseModel):
    model_config = _STRICT

    #: The spans that start a business object (its start is the earliest).
    from_: Selector = Field(alias="from")
    #: The spans that end it (its end is the earliest).
    to: Selector
    #: The entity of the ``hc.key.<key>`` correlation attribute, e.g. ``charge``.
    key: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    #: An object is due at start + within, and good when its end came by then.
    within: Duration

    @field_validator("key")
    @classmethod
    def _bare_key(cls, value: str) -> str:
        if value.startswith("hc.key."):
            raise ValueError("give the entity only (charge, not hc.key.charge)")
        return value

    @field_validator("within")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value < 60:
            raise ValueError("must be at least 1m (lag is counted per minute)")
        return value


class HistoryExpectation(BaseModel):
    """How ``expect: history`` learns the rhythm of a feed."""

    model_config = _STRICT

    #: Weeks of history whose median count, same local hour and weekday, says what to expect.
    weeks: int = Field(4, ge=1, le=12)
    #: A minute counts only when that median, scaled to ``max_age``, reaches this.
    min_expected: float = Field(3.0, gt=0)


class FreshnessSli(BaseModel):
    model_config = _STRICT

    #: The spans that show the feed is alive.
    select: Selector
    #: A minute is good when a selected span happened in the last ``max_age`` (whole minutes).
    max_age: Duration
    #: Minutes count only inside these intervals.
    during: IntervalRef | None = None
    #: ``history``: minutes count only when recent history says traffic is expected then.
    expect: Literal["always", "history"] = "always"
    #: How ``expect: history`` decides.
    history: HistoryExpectation = Field(default_factory=HistoryExpectation)

    @field_validator("max_age")
    @classmethod
    def _minutes(cls, value: float) -> float:
        if value < 60:
            raise ValueError("must be at least 1m (freshness is measured per minute)")
        return value


class GaugeSli(BaseModel):
    model_config = _STRICT

    #: A metric name in ``metric_points``, e.g. ``queue.oldest_age_seconds``.
    metric: str = Field(min_length=1)
    #: ``{attribute: value}`` the samples must have.
    where: dict[str, AttributeValues] = Field(default_factory=dict)
    #: A minute is good when every sample in it is at most this ...
    max: float | None = None
    #: ... and at least this.
    min: float | None = None
    #: Minutes count only inside these intervals.
    during: IntervalRef | None = None

    @model_validator(mode="after")
    def _bound(self) -> GaugeSli:
        if self.max is None and self.min is None:
            raise ValueError("give max: or min: (or both): the bound a sample must meet")
        if self.max is not None and self.min is not None and self.min > self.max:
            raise ValueError("min: is above max:")
        return self


SliKind = Literal["ratio", "latency", "lag", "freshness", "gauge"]


class Sli(BaseModel):
    """Exactly one SLI kind."""

    model_config = _STRICT

    #: Good spans / selected spans.
    ratio: RatioSli | None = None
    #: Fast spans / selected spans.
    latency: LatencySli | None = None
    #: Business objects on time / objects due.
    lag: LagSli | None = None
    #: Fresh minutes / counted minutes.
    freshness: FreshnessSli | None = None
    #: Minutes within bounds / sampled minutes.
    gauge: GaugeSli | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Sli:
        given = [name for name in ("ratio", "latency", "lag", "freshness", "gauge") if getattr(self, name)]
        if len(given) != 1:
            raise ValueError("give exactly one SLI kind: ratio, latency, lag, freshness or gauge")
        return self

    @property
    def kind(self) -> SliKind:
        for name in ("ratio", "latency", "lag", "freshness", "gauge"):
            if getattr(self, name) is not None:
                return name
        raise AssertionError("validated Sli without a kind")

    @property
    def spec(self) -> RatioSli | LatencySli | LagSli | FreshnessSli | GaugeSli:
        value = getattr(self, self.kind)
        assert value is not None
        return value  # type: ignore[no-any-return]


def _window(value: Any) -> Any:
    if isinstance(value, dict):
        return value
    return {"rolling": value}


class Window(BaseModel):
    """Rolling (``7d``) or calendar (``{calendar: month, time_zone: America/Chicago}``)."""

    model_config = _STRICT

    #: A rolling window of whole minutes, at least ``1h`` (``7d``, ``28d``).
    rolling: Duration | None = None
    #: A calendar period (weeks start on Monday).
    calendar: CalendarName | None = None
    #: IANA zone of a calendar window; default the SLA's ``time_zone``.
    time_zone: str | None = None

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return validate_zone(value) if value is not None else None

    @model_validator(mode="after")
    def _one(self) -> Window:
        if (self.rolling is None) == (self.calendar is None):
            raise ValueError("give a rolling duration such as 7d, or {calendar: month}")
        if self.rolling is not None:
            if self.rolling < 3600 or self.rolling % 60:
                raise ValueError("a rolling window must be whole minutes and at least 1h")
            if self.time_zone is not None:
                raise ValueError("time_zone applies to calendar windows only")
        return self

    @property
    def nominal_seconds(self) -> float:
        if self.rolling is not None:
            return self.rolling
        assert self.calendar is not None
        return CALENDAR_SECONDS[self.calendar]

    @property
    def max_seconds(self) -> float:
        if self.rolling is not None:
            return self.rolling
        assert self.calendar is not None
        return CALENDAR_MAX_SECONDS[self.calendar]

    @property
    def label(self) -> str:
        from vitals.kernel.units import format_duration

        if self.rolling is not None:
            return format_duration(self.rolling)
        return f"calendar {self.calendar}"


def _datetime(value: Any) -> Any:
    if isinstance(value, datetime | str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    return value


class Correction(BaseModel):
    """Planned maintenance excluded from the SLI: one-off (start/end) or recurring (during)."""

    model_config = _STRICT

    #: Why, for people reading the SLA.
    reason: str = Field(min_length=1)
    #: One-off start (without an offset: in the SLA's ``time_zone``).
    start: Annotated[datetime, BeforeValidator(_datetime)] | None = None
    #: One-off end.
    end: Annotated[datetime, BeforeValidator(_datetime)] | None = None
    #: Recurring: the intervals excluded.
    during: IntervalRef | None = None

    @model_validator(mode="after")
    def _shape(self) -> Correction:
        one_off = self.start is not None or self.end is not None
        if one_off == (self.during is not None):
            raise ValueError("give start: and end: (one-off) or during: (recurring), not both")
        if one_off:
            if self.start is None or self.end is None:
                raise ValueError("a one-off correction needs both start: and end:")
            if self.end <= self.start:
                raise ValueError("end: must be after start:")
        return self


class BurnRateTier(BaseModel):
    model_config = _STRICT

    #: The long window; the tier fires when both windows burn faster than ``threshold``.
    long: Duration
    #: The short window (at most ``long``).
    short: Duration
    #: Burn rate: 1 spends the budget in exactly one SLA window.
    threshold: float = Field(gt=0)
    #: The severity of the alert the tier raises.
    severity: Literal["page", "ticket"]

    @model_validator(mode="after")
    def _windows(self) -> BurnRateTier:
        for name in ("long", "short"):
            value = getattr(self, name)
            if value < 60 or value % 60:
                raise ValueError(f"{name}: must be whole minutes and at least 1m")
        if self.short > self.long:
            raise ValueError("short: must not be longer than long:")
        return self


class SLA(BaseModel):
    """One business promise."""

    model_config = _STRICT

    #: Lowercase letters, digits, ``.``, ``_``, ``-`` (max 128), unique across all files; alerts
    #: and history key on it, so changing it makes a new SLA.
    id: str
    #: One line for people: the promise in words.
    title: str = Field(min_length=1)
    #: Why it matters; shown on the dashboard.
    description: str | None = None
    #: ``revenue-cycle``, ``finance``, ``supply-chain``, ``clinical-operations``, ``integration``
    #: (any text): for routing and the scorecard.
    domain: str = Field(min_length=1)
    #: The team that answers for it (a routing label).
    owner: str = Field(min_length=1)
    #: ``P1`` (page now) .. ``P4`` (report only).
    priority: Literal["P1", "P2", "P3", "P4"]
    #: Target share of good events: ``95%``, ``99.5%`` or ``0.995``; below 100% (100% leaves no budget).
    objective: Fraction
    #: Rolling (``7d``: a duration of whole minutes, at least ``1h``) or calendar (``{calendar: month}``).
    window: Annotated[Window, BeforeValidator(_window)]
    #: IANA zone of the business: calendar windows, the hours of ``expect: history``, and one-off
    #: corrections written without an offset use it.
    time_zone: str = "UTC"
    #: Attributes to slice by (``[hc.facility]``, ``[queue]``): one evaluation per combination of
    #: values seen, plus the SLA as a whole; events without a value count in the whole only.
    slice_by: Annotated[tuple[str, ...], BeforeValidator(_tuple_of_str)] = ()
    #: The integration interface the SLA watches (``charges-outbound``), so that the alerts of one
    #: broken interface form one incident (alerts group by it). ``{attribute}`` placeholders name
    #: ``slice_by`` attributes and take each slice's value (``"{queue}"``); the SLA as a whole has
    #: no interface then. Left out: none.
    interface: str | None = Field(None, min_length=1)
    #: Exactly one SLI kind.
    sli: Sli
    #: Fewer events than this in the window is "no data" (minutes for freshness and gauge SLIs).
    min_events: int = Field(1, ge=1)
    #: What the missing events below ``min_events`` count as.
    no_data: Literal["neither", "good", "bad"] = "neither"
    #: A burn-rate tier fires only when its long window holds at least this many bad events.
    min_bad_events: int = Field(1, ge=1)
    #: Planned maintenance excluded from the SLI.
    corrections: tuple[Correction, ...] = ()
    #: Replaces the default alert tiers (the SRE workbook's, scaled to the window).
    burn_rates: tuple[BurnRateTier, ...] | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError("use lowercase letters, digits, '.', '_' and '-' (e.g. charge-lag)")
        return value

    @field_validator("objective")
    @classmethod
    def _objective(cls, value: float) -> float:
        if not 0 < value < 1:
            raise ValueError("must be above 0% and below 100% (100% leaves no error budget)")
        return value

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return validate_zone(value)

    @field_validator("slice_by")
    @classmethod
    def _slices(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("an attribute appears twice")
        return value

    @field_validator("interface")
    @classmethod
    def _interface(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if "{" in _PLACEHOLDER.sub("", value) or "}" in _PLACEHOLDER.sub("", value):
            raise ValueError("an unmatched brace: write a placeholder as {attribute}, e.g. {queue}")
        slice_by = info.data.get("slice_by")
        if slice_by is None:  # slice_by itself is invalid and reported
            return value
        for name in _PLACEHOLDER.findall(value):
            if not slice_by:
                raise ValueError(f"placeholder {{{name}}} needs slice_by: [{name}] (or give a fixed name)")
            if name not in slice_by:
                raise ValueError(f"placeholder {{{name}}} is not one of slice_by ({', '.join(slice_by)})")
        return value

    @field_validator("burn_rates")
    @classmethod
    def _tiers(cls, value: tuple[BurnRateTier, ...] | None) -> tuple[BurnRateTier, ...] | None:
        if value is not None and not value:
            raise ValueError("give at least one tier, or leave burn_rates out for the SRE workbook's")
        return value

    @property
    def kind(self) -> SliKind:
        return self.sli.kind

    @property
    def window_zone(self) -> str:
        return self.window.time_zone or self.time_zone

    def interface_for(self, labels: Mapping[str, str]) -> str | None:
        """The interface of a slice with these attributes (``{}``: the SLA as a whole).

        A template whose placeholders the labels do not all fill names no interface (None): the
        whole of a per-queue SLA is no one queue, and a guess would merge unrelated incidents.
        """
        if self.interface is None:
            return None
        missing: list[str] = []

        def fill(match: re.Match[str]) -> str:
            value = labels.get(match.group(1))
            if not value:
                missing.append(match.group(1))
                return ""
            return value

        rendered = _PLACEHOLDER.sub(fill, self.interface)
        return None if missing else rendered

    def rollup_fingerprint(self) -> str:
        """Hash of what shapes the stored per-minute rollups; a change means a back-fill.

        Objective, window, corrections, ``during`` and freshness ages only shape evaluation, so
        editing them takes effect at once without re-reading history.
        """
        spec = self.sli.spec
        shape: dict[str, Any] = {"kind": self.kind, "slice_by": list(self.slice_by), "v": ROLLUP_VERSION}
        if isinstance(spec, FreshnessSli):
            shape["select"] = spec.select.model_dump(mode="json")
        elif isinstance(spec, GaugeSli):
            shape.update(spec.model_dump(mode="json", include={"metric", "where", "max", "min"}))
        else:
            shape["sli"] = spec.model_dump(mode="json", by_alias=True)
        return hashlib.sha256(orjson.dumps(shape, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


#: Bump when the meaning of stored rollups changes, to back-fill every SLA once.
ROLLUP_VERSION = 1


class EvaluationSettings(BaseModel):
    """Optional ``evaluation:`` block (at most one per config directory)."""

    model_config = _STRICT

    #: How often the engine ticks (takes effect on restart).
    interval: Duration = 30.0
    #: How long a writer may hold ids before committing them; left out: 0 on SQLite, 2m otherwise.
    watermark_horizon: Duration | None = None
    #: Rows read per step from each table.
    batch_rows: int = Field(100_000, ge=100)
    #: Time per tick spent back-filling new or changed SLAs.
    backfill_budget: Duration = 10.0
    #: How long the SLA history lasts: per-minute rollups (what ``vitals sla report --at`` and
    #: the dashboard's SLA charts evaluate) and thinned evaluations older than this are deleted
    #: (lag objects: ``lag_object_retention``). 400 days keeps a year of history (and a calendar
    #: year's window).
    retention: Duration = 400 * 86400.0
    #: ``sla_evaluations`` rows are kept at full resolution (one per tick) this long; older ones
    #: are thinned to the last of each hour per SLA and slice, every status change and breach
    #: start kept, until ``retention`` (or this, if longer) deletes them.
    evaluation_retention: Duration = 35 * 86400.0
    #: How long a lag SLA's business objects (``sla_lag_objects``) are kept after their deadline
    #: (or end, for an object that never started): the dashboard's charge lag, late objects and
    #: revenue at risk read them, so those figures reach back this far; the SLI history itself is
    #: in the per-minute rollups and lasts ``retention``. Never shorter than an SLA's window needs.
    lag_object_retention: Duration = 90 * 86400.0

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: float) -> float:
        if value < 1:
            raise ValueError("must be at least 1s")
        return value

    @field_validator("retention", "evaluation_retention", "lag_object_retention")
    @classmethod
    def _kept(cls, value: float) -> float:
        if value < 86400:
            raise ValueError("must be at least 1d (SLA windows and alerts read the recent history)")
        return value


class SlaFile(BaseModel):
    """One YAML file under ``slas/``."""

    model_config = _STRICT

    #: The SLAs (``slas[]`` below).
    slas: list[Any] = Field(default_factory=list)
    #: Named time intervals, shared by every file of the directory (``time_intervals[]`` below).
    time_intervals: list[Any] = Field(default_factory=list)
    #: Engine settings, at most once per directory (``evaluation`` below).
    evaluation: Any = None


def validate_named_interval(data: Any) -> NamedInterval:
    return NamedInterval.model_validate(data)


def inline_intervals(value: list[TimeInterval]) -> IntervalSet:
    return IntervalSet(intervals=tuple(value))
