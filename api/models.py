"""The API's bodies as pydantic models: the OpenAPI document is generated from these types.

Times are ISO 8601 with a timezone (UTC) on the way out; on the way in, an ISO 8601 time or Unix
seconds. Field names are those of ``alerts.api``'s values, which the dashboard reads too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

AlertStateName = Literal["firing", "acknowledged", "suppressed", "resolved"]


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def _storable(value: Any, depth: int = 0) -> None:
    """Refuse what the store cannot hold: a NUL (PostgreSQL) or a lone surrogate (not UTF-8)."""
    if depth > 20:
        raise ValueError("nested too deeply")
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _storable(key, depth + 1)
            _storable(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _storable(item, depth + 1)


class _In(BaseModel):
    """A request body: unknown fields refused, every text storable."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _only_storable_text(cls, data: Any) -> Any:
        _storable(data)
        return data


class ErrorBody(BaseModel):
    """Every error: what went wrong, in words; ``detail`` lists the fields of a 422."""

    error: str
    detail: list[dict[str, Any]] | None = None


# ------------------------------------------------------------------------------------ SLAs


class BurnRateOut(_Out):
    name: str
    long_window_s: float
    short_window_s: float
    threshold: float
    long_rate: float | None
    short_rate: float | None
    severity: str
    firing: bool


class SliceStatus(_Out):
    """One slice of an SLA (or the SLA as a whole) as the engine last evaluated it."""

    slice: str | None = Field(description="None for the SLA as a whole")
    evaluated_at: datetime
    status: str = Field(description="ok, warning, breach or no-data")
    sli: float | None
    objective: float
    good: float
    total: float
    budget_remaining: float | None
    time_to_exhaustion_s: float | None
    at_risk_amount: float | None
    labels: dict[str, str]
    burn_rates: list[BurnRateOut]
    breach_started_at: datetime | None


class SlaStatus(_Out):
    """An SLA: what its file says and its current evaluation (``None`` before the first one)."""

    id: str
    title: str
    domain: str
    owner: str
    priority: str
    kind: str
    window: str
    objective: float
    status: str | None = Field(
        description="the SLA as a whole: ok, warning, breach, no-data; None before the engine evaluated it"
    )
    overall: SliceStatus | None
    slices: list[SliceStatus]


class SlaList(BaseModel):
    slas: list[SlaStatus]


class HistoryPoint(BaseModel):
    at: datetime
    sli: float | None
    budget_remaining: float | None
    good: float
    total: float


class SlaHistory(BaseModel):
    sla: str
    slice: str | None
    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    points: list[HistoryPoint]
    reason: str | None = Field(description="why there are no points (the engine is not ready), else None")

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


# ------------------------------------------------------------------------------------ alerts


class AlertOut(_Out):
    id: int
    fingerprint: str
    sla_id: str
    slice: str
    tier: str
    title: str
    priority: str
    severity: str
    domain: str
    owner: str
    facility: str | None
    state: AlertStateName
    started: datetime
    resolved: datetime | None
    labels: dict[str, str]
    observed: float | None
    objective: float
    window_label: str
    budget_remaining: float | None
    time_to_exhaustion_s: float | None
    at_risk_amount: float | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    ack_comment: str | None
    suppressed_by: list[str]
    flapping: bool
    hysteresis_holds: int
    flap_holds: int
    episode: int
    last_evaluated: datetime | None


class AlertList(BaseModel):
    alerts: list[AlertOut]


class AlertEventOut(_Out):
    at: datetime
    kind: str
    actor: str
    detail: dict[str, Any]


class AlertDetail(BaseModel):
    alert: AlertOut
    history: list[AlertEventOut]


class AlertOne(BaseModel):
    alert: AlertOut


class IncidentOut(_Out):
    ref: str
    receiver: str
    group_labels: dict[str, str]
    title: str
    urgency: str
    state: AlertStateName
    priority: str
    severity: str
    opened_at: datetime | None
    started_at: datetime | None
    resolved_at: datetime | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    ack_comment: str | None
    counts: dict[str, int]
    alerts: list[AlertOut]
    grouped: bool
    open: bool
    episode: int


class IncidentList(BaseModel):
    incidents: list[IncidentOut]


class IncidentOne(BaseModel):
    incident: IncidentOut


class Acknowledgement(_In):
    """Who acknowledges is the token's name; ``by`` is only read without tokens (anonymous)."""

    comment: str = Field(default="", max_length=2000)
    by: str | None = Field(default=None, max_length=200, description="only without tokens: who acknowledges")


# ------------------------------------------------------------------------------------ silences


class SilenceOut(_Out):
    id: int
    matchers: list[str]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    created_at: datetime
    status: str = Field(description="pending, active or expired")
    expire_on_resolve: bool
    time_intervals: list[dict[str, Any]]
    expired_by: str | None


class SilenceList(BaseModel):
    silences: list[SilenceOut]


class SilenceOne(BaseModel):
    silence: SilenceOut


Moment = datetime | float


class NewSilence(_In):
    """A silence: Alertmanager matchers, and its end (``ends_at``, or ``duration`` from the start)."""

    matchers: list[str] = Field(min_length=1, max_length=50, examples=[['sla="gl-posting-errors"']])
    comment: str = Field(min_length=1, max_length=2000, description="why it is silenced")
    starts_at: Moment | None = Field(default=None, description="ISO 8601 or Unix seconds; default now")
    ends_at: Moment | None = Field(default=None, description="ISO 8601 or Unix seconds")
    duration: str | None = Field(
        default=None, max_length=40, examples=["2h"], description="instead of ends_at"
    )
    expire_on_resolve: bool = False
    time_intervals: list[dict[str, Any]] = Field(default_factory=list, max_length=50)
    created_by: str | None = Field(
        default=None, max_length=200, description="only without tokens: the author"
    )


class SilenceCreated(BaseModel):
    id: int


# ------------------------------------------------------------------------------------ admin


class AuditOut(BaseModel):
    id: int | None
    at: datetime
    actor: str
    action: str
    target: str
    source: str
    remote: str
    detail: dict[str, Any]


class AuditList(BaseModel):
    audit: list[AuditOut]


class Outbox(BaseModel):
    outbox: dict[str, int] = Field(description="notifications by delivery status")


class ConfigFile(BaseModel):
    file: str
    digest: str | None = None
    content: Any = Field(
        description="the file as validated; every secret shows where it comes from, never its value"
    )
    error: str | None = None


class ConfigView(BaseModel):
    config_dir: str
    files: list[ConfigFile]
    alerts_running_digest: str | None = Field(
        description="digest of the alerts.yaml in force (a failed reload keeps the previous one)"
    )
