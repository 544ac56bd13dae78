"""What the dashboard knows about the SLA files: the SLAs the SLA engine loads, as plain data.

There is one reader of SLA files, the SLA engine's (``slas.load_sla_path``): the dashboard shows
exactly the SLAs ``vitals serve`` evaluates, with the same defaults and the same validation. When
the files have errors the engine rejects, the catalog is empty and lists the errors (file, line,
field); the scorecard still shows the evaluations the engine stored from the last valid files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slas import SLA, load_sla_path
from slas.spec import FreshnessSli, LagSli, LatencySli
from slas.spec import Selector as SpecSelector
from vitals.kernel.configfile import ConfigError

Patterns = tuple[str, ...]
_TEXT_FIELDS = ("span", "service", "kind", "stage", "workflow", "system", "message_type")


def is_glob(pattern: str) -> bool:
    return any(ch in pattern for ch in "*?[")


@dataclass(frozen=True)
class Selector:
    """A span selector as the page queries use it: every field given must match; each field is a
    tuple of values (empty: any), and values may be globs (``*`` ``?`` ``[..]``)."""

    span: Patterns = ()
    service: Patterns = ()
    kind: Patterns = ()
    stage: Patterns = ()
    workflow: Patterns = ()
    system: Patterns = ()
    message_type: Patterns = ()
    status: str | None = None  # ok | error
    attributes: tuple[tuple[str, Patterns], ...] = ()

    @classmethod
    def of(cls, selector: SpecSelector | None) -> Selector:
        """The SLA engine's validated selector (None: all spans)."""
        if selector is None:
            return cls()
        return cls(
            **{name: tuple(getattr(selector, name) or ()) for name in _TEXT_FIELDS},
            status=selector.status,
            attributes=tuple(sorted(selector.attributes.items())),
        )

    def merged(self, other: Selector) -> Selector:
        """``other`` applied within ``self`` (a ratio's bad selector inside its total)."""
        fields: dict[str, Any] = {name: getattr(other, name) or getattr(self, name) for name in _TEXT_FIELDS}
        return Selector(
            **fields,
            status=other.status or self.status,
            attributes=tuple(sorted({**dict(self.attributes), **dict(other.attributes)}.items())),
        )

    def single(self, name: str) -> str | None:
        """The field's value when it names exactly one literal (no glob, no list)."""
        values: Patterns = getattr(self, name)
        return values[0] if len(values) == 1 and not is_glob(values[0]) else None

    @property
    def single_stage(self) -> str | None:
        return self.single("stage")

    def describe(self) -> str:
        parts = [f"{name}={'|'.join(values)}" for name in _TEXT_FIELDS if (values := getattr(self, name))]
        if self.status:
            parts.append(f"status={self.status}")
        parts += [f"{k}={'|'.join(v)}" for k, v in self.attributes]
        return ", ".join(parts) or "all spans"


@dataclass(frozen=True)
class LagPair:
    """A lag SLA's two stages of one business object, joined by ``hc.key.<key>``."""

    name: str  # the SLA id
    key: str
    within_s: float
    from_stage: str
    to_stage: str


@dataclass(frozen=True)
class SlaSpec:
    """One SLA as the pages show it, built from the engine's validated ``definition``."""

    id: str
    title: str
    domain: str
    owner: str
    priority: str
    kind: str
    objective: float
    window_label: str
    slice_by: tuple[str, ...]
    definition: SLA

    @classmethod
    def of(cls, sla: SLA) -> SlaSpec:
        return cls(
            id=sla.id,
            title=sla.title,
            domain=sla.domain,
            owner=sla.owner,
            priority=sla.priority,
            kind=sla.kind,
            objective=sla.objective,
            window_label=sla.window.label,
            slice_by=tuple(sla.slice_by),
            definition=sla,
        )

    @property
    def body(self) -> dict[str, Any]:
        """The SLI as the SLA file writes it (``from``, not ``from_``), without unset fields."""
        dumped: dict[str, Any] = self.definition.sli.spec.model_dump(
            mode="json", by_alias=True, exclude_none=True
        )
        return dumped

    @property
    def threshold_s(self) -> float | None:
        """The time bound of lag (within), latency (under) and freshness (max_age) SLIs."""
        spec = self.definition.sli.spec
        if isinstance(spec, LagSli):
            return spec.within
        if isinstance(spec, LatencySli):
            return spec.under
        if isinstance(spec, FreshnessSli):
            return spec.max_age
        return None

    def selector(self, name: str) -> Selector:
        """The SLI's selector ``name`` (total, bad, good, select, from, to); all spans if unset."""
        spec = self.definition.sli.spec
        value = getattr(spec, "from_" if name == "from" else name, None)
        return Selector.of(value if isinstance(value, SpecSelector) else None)

    def lag_pair(self) -> LagPair | None:
        lag = self.definition.sli.lag
        if lag is None:
            return None
        return LagPair(
            self.id,
            lag.key,
            lag.within,
            Selector.of(lag.from_).single_stage or "start",
            Selector.of(lag.to).single_stage or "end",
        )

    def target_text(self) -> str:
        return f"{self.objective * 100:.3g}% over {self.window_label}"


@dataclass(frozen=True)
class Catalog:
    slas: tuple[SlaSpec, ...]
    #: The SLA engine's errors in the SLA files, one per line (file:line: field: message).
    problems: tuple[str, ...] = ()

    def get(self, sla_id: str) -> SlaSpec | None:
        return next((s for s in self.slas if s.id == sla_id), None)

    def definition(self, sla_id: str) -> SLA | None:
        spec = self.get(sla_id)
        return spec.definition if spec else None

    @property
    def definitions(self) -> tuple[SLA, ...]:
        return tuple(s.definition for s in self.slas)

    def lag_pair(self, name: str) -> LagPair | None:
        spec = self.get(name)
        return spec.lag_pair() if spec else None


def load_catalog(config_dir: Path) -> Catalog:
    """The SLAs of ``<config_dir>/slas/*.yaml`` as the SLA engine loads them (``vitals serve``)."""
    folder = Path(config_dir) / "slas"
    if not folder.is_dir():
        return Catalog(())
    try:
        loaded = load_sla_path(folder)
    except ConfigError as exc:
        return Catalog((), tuple(str(issue) for issue in exc.issues))
    return Catalog(tuple(SlaSpec.of(sla) for sla in loaded.slas))
