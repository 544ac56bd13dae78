"""``analytics.yaml`` in the config directory: who an API call's consumer is, how often rollups fold.

The file is optional: without it the consumer is the span's ``client.id`` and new spans are folded
into the API rollups every 30 seconds. A site whose gateways or services name their callers in
another attribute (``app.client_id``, ``enduser.id``) lists it here; the first attribute a span
carries wins. Read by ``vitals serve`` at start (component ``analytics``); a changed list rebuilds
the rollups from the spans still stored.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from analytics.identity import DEFAULT_CONSUMER_ATTRIBUTES
from vitals.kernel.configfile import load_yaml, validate
from vitals.kernel.units import Duration

__all__ = ["FILE_NAME", "AnalyticsConfig", "load"]

FILE_NAME = "analytics.yaml"


class AnalyticsConfig(BaseModel):
    """The whole of ``analytics.yaml``."""

    model_config = ConfigDict(extra="forbid")

    #: Span attributes that name the API's consumer, in order: the first one a span carries is its
    #: consumer (a call with none is counted under ``(unknown)``). Changing the list rebuilds the
    #: rollups from the spans still stored.
    consumer_attributes: list[str] = Field(
        default_factory=lambda: list(DEFAULT_CONSUMER_ATTRIBUTES), min_length=1
    )
    #: How often ``vitals serve`` folds new spans into the API rollups (at least ``1s``): the pages
    #: and ``/api/v1/apis`` are this far behind the spans at most, plus the fold's own time.
    rollup_interval: Duration = 30.0

    @field_validator("consumer_attributes")
    @classmethod
    def _attributes(cls, value: list[str]) -> list[str]:
        names = [name.strip() for name in value]
        if any(not name for name in names):
            raise ValueError("an attribute name cannot be empty")
        if len(set(names)) != len(names):
            raise ValueError("an attribute is listed twice")
        return names

    @field_validator("rollup_interval")
    @classmethod
    def _interval(cls, value: float) -> float:
        if value < 1:
            raise ValueError("must be at least 1s")
        return value


def load(config_dir: str | Path) -> AnalyticsConfig:
    """The config directory's ``analytics.yaml``; defaults when the file is absent or empty."""
    path = Path(config_dir) / FILE_NAME
    if not path.exists():
        return AnalyticsConfig()
    loaded = load_yaml(path)
    if loaded.data is None:
        return AnalyticsConfig()
    config: AnalyticsConfig = validate(AnalyticsConfig, loaded)
    return config
