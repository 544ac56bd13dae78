"""What the dashboard needs to know about the SLA files: titles, kinds and selectors.

The SLA engine validates SLA files and owns their meaning; the dashboard only reads the public
file format (``slas/*.yaml`` in the config directory) to find, for each SLA, which spans are its
bad events and which stage pairs its lag SLIs measure. Files the engine would reject are skipped
here with a note, so a typo in one SLA never takes the dashboard down.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from vitals.kernel.configfile import ConfigError
from vitals.kernel.units import format_duration, parse_duration, parse_fraction

if TYPE_CHECKING:
    from slas.spec import SLA

Patterns = tuple[str, ...]
_TEXT_FIELDS = ("span", "service", "kind", "stage", "workflow", "system", "message_type")


def patterns(value: Any) -> Patterns:
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    return (str(value),)


def is_glob(pattern: str) -> bool:
    return any(ch in pattern for ch in "*?[")


@dataclass(frozen=True)
class Selector:
    """A span selector as SLA files write it: every field given must match; each field is one
    value or a list of them, and values may be globs (``*`` ``?`` ``[..]``)."""

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
    def parse(cls, raw: Any) -> Selector:
        if not isinstance(raw, Mapping):
            return cls()
        attrs = raw.get("attributes") or {}
        return cls(
            **{name: patterns(raw.get(name)) for name in _TEXT_FIELDS},
            status=_text(raw.get("status")),
            attributes=tuple(sorted((str(k), patterns(v)) for k, v in dict(attrs).items())),
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


def canonical(selector: Mapping[str, Any]) -> str:
    """A selector as sorted JSON: hashable, comparable, and what the rollup signature covers."""
    return json.dumps(selector, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class LagPair:
    """Two stages of one business object joined by a correlation key (``hc.key.<key>``).

    The selectors are the SLA file's ``from:`` and ``to:`` (as canonical JSON), matched with the
    SLA engine's own selector code, so an object is started and ended exactly when the engine
    says it is.
    """

    name: str
    key: str
    within_s: float
    from_selector: str
    to_selector: str

    @property
    def from_stage(self) -> str:
        return Selector.parse(json.loads(self.from_selector)).single_stage or "start"

    @property
    def to_stage(self) -> str:
        return Selector.parse(json.loads(self.to_selector)).single_stage or "end"

    def identity(self) -> tuple[str, str, str, str]:
        """What the stored objects depend on (``within`` is applied when reading)."""
        return (self.name, self.key, self.from_selector, self.to_selector)


@dataclass(frozen=True)
class SlaSpec:
    id: str
    title: str
    domain: str
    owner: str
    priority: str
    kind: str
    objective: float | None
    window_label: str
    body: Mapping[str, Any] = field(default_factory=dict)
    slice_by: tuple[str, ...] = ()
    file: str = ""

    @property
    def threshold_s(self) -> float | None:
        """The time bound of lag (within), latency (under) and freshness (max_age) SLIs."""
        for name in ("within", "under", "max_age"):
            if name in self.body:
                try:
                    return parse_duration(self.body[name])
                except ValueError:
                    return None
        return None

    def selector(self, name: str) -> Selector:
        return Selector.parse(self.body.get(name))

    def lag_pair(self) -> LagPair | None:
        if self.kind != "lag":
            return None
        start, end, key = self.body.get("from"), self.body.get("to"), self.body.get("key")
        within = self.threshold_s
        if not (isinstance(start, Mapping) and isinstance(end, Mapping) and isinstance(key, str) and within):
            return None
        return LagPair(self.id, key, within, canonical(start), canonical(end))

    def target_text(self) -> str:
        objective = f"{self.objective:.4g}".rstrip("0").rstrip(".") if self.objective is not None else "?"
        pct = f"{self.objective * 100:.3g}%" if self.objective is not None else objective
        return f"{pct} over {self.window_label}"


#: The starter library's lag SLAs, used when the config directory has no SLA files (a fresh store
#: opened before ``vitals config init``); the real definitions come from the SLA files.
DEFAULT_LAG_PAIRS: tuple[LagPair, ...] = (
    LagPair(
        "charge-lag",
        "charge",
        24 * 3600,
        canonical({"stage": ["procedure.documented"]}),
        canonical({"stage": ["charge.posted"], "status": "ok"}),
    ),
    LagPair(
        "implant-inventory-sync-lag",
        "item",
        15 * 60,
        canonical({"stage": ["supply.consumed"], "attributes": {"hc.supply.category": ["implant"]}}),
        canonical({"stage": ["inventory.adjusted"]}),
    ),
)


@dataclass(frozen=True)
class Catalog:
    slas: tuple[SlaSpec, ...]
    problems: tuple[str, ...] = ()
    #: The SLAs as the SLA engine loaded them (``slas.spec.SLA``), to evaluate its rollups with
    #: its own functions; empty when the files have errors the engine rejects.
    definitions: tuple[SLA, ...] = ()

    def get(self, sla_id: str) -> SlaSpec | None:
        return next((s for s in self.slas if s.id == sla_id), None)

    def definition(self, sla_id: str) -> SLA | None:
        return next((d for d in self.definitions if d.id == sla_id), None)

    def lag_pairs(self) -> tuple[LagPair, ...]:
        if not self.slas:
            return DEFAULT_LAG_PAIRS
        pairs = [p for p in (s.lag_pair() for s in self.slas) if p is not None]
        return tuple(sorted(pairs, key=lambda p: p.name))

    def lag_pair(self, name: str) -> LagPair | None:
        return next((p for p in self.lag_pairs() if p.name == name), None)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _window_label(raw: Any) -> str:
    if isinstance(raw, Mapping) and "calendar" in raw:
        return f"calendar {raw['calendar']}"
    try:
        return format_duration(parse_duration(raw))
    except ValueError:
        return str(raw)


def parse_sla(raw: Mapping[str, Any], file: str = "") -> SlaSpec:
    sli = raw.get("sli")
    if not isinstance(sli, Mapping) or len(sli) != 1:
        raise ValueError("sli must name exactly one kind")
    kind, body = next(iter(sli.items()))
    objective: float | None
    try:
        objective = parse_fraction(raw.get("objective")) if raw.get("objective") is not None else None
    except ValueError:
        objective = None
    return SlaSpec(
        id=str(raw["id"]),
        title=str(raw.get("title") or raw["id"]),
        domain=str(raw.get("domain") or "other"),
        owner=str(raw.get("owner") or ""),
        priority=str(raw.get("priority") or ""),
        kind=str(kind),
        objective=objective,
        window_label=_window_label(raw.get("window", "")),
        body=dict(body) if isinstance(body, Mapping) else {},
        slice_by=tuple(str(s) for s in raw.get("slice_by") or ()),
        file=file,
    )


def _from_engine(sla: Any) -> SlaSpec:
    """An SLA as the SLA engine validated it (``slas.spec.SLA``)."""
    body = sla.sli.spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    return SlaSpec(
        id=sla.id,
        title=sla.title,
        domain=sla.domain,
        owner=sla.owner,
        priority=sla.priority,
        kind=sla.kind,
        objective=sla.objective,
        window_label=sla.window.label,
        body=body,
        slice_by=tuple(sla.slice_by),
    )


def load_catalog(config_dir: Path) -> Catalog:
    """Every SLA in ``<config_dir>/slas/*.yaml``, validated by the SLA engine's own loader.

    When the files have errors the engine would reject, each readable entry is still shown (and
    the errors are listed), so one typo does not blank the scorecard.
    """
    try:
        from slas.loading import load_slas
    except ImportError:  # pragma: no cover - the SLA engine is part of every install
        return _tolerant(config_dir)
    try:
        loaded = load_slas(config_dir)
        return Catalog(tuple(_from_engine(s) for s in loaded), definitions=tuple(loaded))
    except ConfigError as exc:
        tolerant = _tolerant(config_dir)
        return Catalog(tolerant.slas, (str(exc), *tolerant.problems))


def _tolerant(config_dir: Path) -> Catalog:
    slas: list[SlaSpec] = []
    problems: list[str] = []
    folder = config_dir / "slas"
    files: Iterable[Path] = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]) if folder.is_dir() else []
    for path in files:
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            problems.append(f"{path}: {exc}")
            continue
        entries = loaded.get("slas") if isinstance(loaded, Mapping) else None
        for index, entry in enumerate(entries or []):
            try:
                slas.append(parse_sla(entry, str(path)))
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                problems.append(f"{path}: slas[{index}]: {exc}")
    return Catalog(tuple(slas), tuple(problems))


def pairs_signature(pairs: Iterable[LagPair]) -> str:
    text = repr(sorted(p.identity() for p in pairs))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
