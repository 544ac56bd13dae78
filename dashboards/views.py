"""What the pages show, computed from query results: tiles, headline rows and number formats.

Pure (no Streamlit, no SQL), so the numbers a page prints are tested without a browser.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from dashboards.catalog import Catalog
from dashboards.queries.business import NO_FILTERS, Filters
from dashboards.timerange import format_duration
from slas import Evaluation

DOMAINS: dict[str, str] = {
    "revenue-cycle": "Revenue cycle",
    "supply-chain": "Supply chain",
    "finance": "Finance",
    "clinical-operations": "Clinical operations",
    "integration": "Integration",
}


def sli_text(body: Mapping[str, Any]) -> str:
    """An SLI definition as the SLA file writes it (flow YAML), without empty fields."""

    def prune(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: prune(v) for k, v in value.items() if v not in ({}, [], (), None)}
        if isinstance(value, list | tuple):
            items = [prune(v) for v in value]
            return items[0] if len(items) == 1 else items
        return value

    return str(yaml.safe_dump(prune(body), default_flow_style=True, sort_keys=False, width=1000)).strip()


def domain_title(domain: str) -> str:
    return DOMAINS.get(domain, domain.replace("-", " ").capitalize())


def pct(value: float | None, digits: int = 2) -> str:
    """``99.52%``; no value is "no data", never "0%"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "no data"
    return f"{value * 100:.{digits}f}%"


def money(value: float | None) -> str:
    if value is None:
        return "no data"
    return f"${value:,.2f}" if abs(value) < 1000 else f"${value:,.0f}"


def count(value: int | None, unit: str) -> str:
    """``unit`` is the plural ("charges"); one of them is singular ("1 charge")."""
    if value is None:
        return "no data"
    return f"{value:,} {unit.removesuffix('s') if value == 1 else unit}"


def duration(value_s: float | None) -> str:
    return "no data" if value_s is None else format_duration(value_s)


#: Column names whose words are not the name with its underscores as spaces.
HEADERS: dict[str, str] = {
    "key_hash": "key (hash)",
    "trace_id": "trace id",
    "span_id": "span id",
    "parent_span_id": "parent span id",
    "sla_id": "SLA",
    "sli": "SLI",
}
#: Unit suffixes of column names, said as the unit in brackets.
_UNITS = (("_ms", "ms"), ("_ns", "ns"), ("_s", "s"), ("_pct", "%"))


def header(name: object) -> str:
    """A column name in words, as a table header: ``status_message`` -> ``status message``.

    For ``frame.rename(columns=views.header)`` before ``widgets.table`` (its column_config then
    uses the worded names): the same words head the table on the page and the CSV download.
    Known names read as :data:`HEADERS` says; a unit suffix becomes the unit in brackets
    (``duration_ms`` -> ``duration (ms)``); an ``hc.`` prefix is dropped (``hc.facility`` ->
    ``facility``); names already in words are kept.
    """
    text = str(name)
    if text in HEADERS:
        return HEADERS[text]
    text = text.removeprefix("hc.")
    unit = next((u for suffix, u in _UNITS if text.endswith(suffix) and len(text) > len(suffix)), None)
    if unit is not None:
        text = text[: text.rindex("_")]
    words = text.replace("_", " ").replace(".", " ").strip()
    return f"{words} ({unit})" if unit else words


@dataclass(frozen=True)
class Tile:
    sla_id: str
    title: str
    domain: str
    status: str
    priority: str
    owner: str
    kind: str
    sli: float | None
    objective: float | None
    window_label: str
    budget_remaining: float | None
    time_to_exhaustion_s: float | None
    at_risk_amount: float | None
    slice: str | None
    evaluated_at_ns: int | None
    note: str | None = None  # e.g. "not sliced by facility: showing all facilities"
    window_s: float | None = None  # the SLA's window in seconds (its status covers it)
    firing: bool = False  # a burn-rate tier fires now: the incident is under way
    breach_started_ns: int | None = None  # when the breach that spent the budget began

    @property
    def target_text(self) -> str:
        if self.objective is None:
            return "no objective"
        return f"target {self.objective * 100:g}% over {self.window_label}"


def _slice_labels(filters: Filters) -> dict[str, str]:
    labels = {}
    if filters.facility:
        labels["hc.facility"] = filters.facility
    if filters.service_line:
        labels["hc.service_line"] = filters.service_line
    return labels


def pick_evaluation(
    evaluations: Sequence[Evaluation], filters: Filters
) -> tuple[Evaluation | None, str | None]:
    """The evaluation of one SLA that matches the filters, and a note when none could."""
    whole = next((e for e in evaluations if e.slice is None), None)
    wanted = _slice_labels(filters)
    if not wanted:
        return whole, None
    exact = next((e for e in evaluations if e.slice is not None and e.labels == wanted), None)
    if exact is not None:
        return exact, None
    what = " and ".join(k.removeprefix("hc.").replace("_", " ") for k in wanted)
    return whole, f"not sliced by {what}: showing the SLA as a whole"


def tile_of(e: Evaluation, note: str | None = None) -> Tile:
    return Tile(
        sla_id=e.sla_id,
        title=e.title,
        domain=e.domain,
        status=e.status,
        priority=e.priority,
        owner=e.owner,
        kind=e.kind,
        sli=e.sli,
        objective=e.objective,
        window_label=e.window_label,
        budget_remaining=e.budget_remaining,
        time_to_exhaustion_s=e.time_to_exhaustion_s,
        at_risk_amount=e.at_risk_amount,
        slice=e.slice,
        evaluated_at_ns=e.at_unix_nano,
        note=note,
        window_s=e.window_s,
        firing=any(b.firing for b in e.burn_rates),
        breach_started_ns=e.breach_started_unix_nano,
    )


def build_tiles(
    evaluations: Sequence[Evaluation], catalog: Catalog, filters: Filters = NO_FILTERS
) -> list[Tile]:
    """One tile per SLA (evaluated or only configured), worst status first within a domain."""
    by_sla: dict[str, list[Evaluation]] = {}
    for e in evaluations:
        by_sla.setdefault(e.sla_id, []).append(e)
    tiles: list[Tile] = []
    for group in by_sla.values():
        chosen, note = pick_evaluation(group, filters)
        tiles.append(tile_of(chosen if chosen is not None else group[0], note))
    for spec in catalog.slas:
        if spec.id not in by_sla:
            tiles.append(
                Tile(
                    sla_id=spec.id,
                    title=spec.title,
                    domain=spec.domain,
                    status="no-data",
                    priority=spec.priority,
                    owner=spec.owner,
                    kind=spec.kind,
                    sli=None,
                    objective=spec.objective,
                    window_label=spec.window_label,
                    budget_remaining=None,
                    time_to_exhaustion_s=None,
                    at_risk_amount=None,
                    slice=None,
                    evaluated_at_ns=None,
                    note="not evaluated yet: is the SLA engine (vitals serve) running?",
                )
            )
    order = {"breach": 0, "warning": 1, "no-data": 2, "ok": 3}
    return sorted(tiles, key=lambda t: (order.get(t.status, 9), t.priority or "P9", t.sla_id))


def group_by_domain(tiles: Sequence[Tile]) -> list[tuple[str, list[Tile]]]:
    known = list(DOMAINS)
    groups: dict[str, list[Tile]] = {}
    for tile in tiles:
        groups.setdefault(tile.domain, []).append(tile)
    ordered = sorted(groups, key=lambda d: (known.index(d) if d in known else len(known), d))
    return [(d, groups[d]) for d in ordered]


def budget_text(tile: Tile, fmt_time: Callable[[int], str] | None = None) -> str:
    """What the error budget is doing, as the SLA page says it: "budget exhausted since …"."""
    if tile.budget_remaining is None:
        return "budget: no data"
    if tile.budget_remaining <= 0:
        since = tile.breach_started_ns
        when = f" since {fmt_time(since)}" if since is not None and fmt_time is not None else ""
        return f"budget exhausted{when} (overspent by {-tile.budget_remaining * 100:.0f}%)"
    left = f"{tile.budget_remaining * 100:.0f}% of the error budget left"
    if tile.time_to_exhaustion_s is not None:
        left += f", gone in {format_duration(tile.time_to_exhaustion_s)} at this burn rate"
    return left


#: Which SLA each executive figure follows (its threshold, target and window come from that SLA
#: file; the stage is used when the SLA does not select one).
CHARGE_LAG_SLA = "charge-lag"
LATE_CHARGES_SLA = "late-charges"
GL_SLA = "gl-posting-errors"
DENIAL_SLA = "initial-denial-rate"
IMPLANT_SLA = "implant-inventory-sync-lag"
GL_STAGE = "gl.posted"
REMIT_STAGE = "remit.received"


def figure_stage(catalog: Catalog, sla_id: str, fallback: str) -> str:
    spec = catalog.get(sla_id)
    if spec is not None:
        for name in ("total", "select"):
            stage = spec.selector(name).single_stage
            if stage:
                return stage
    return fallback
