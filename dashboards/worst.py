"""The worst of an SLA and its slices, and what its error budget is doing, as the pages say it.

An SLA evaluated as a whole can be fine while one facility's slice is in breach (a freshness SLA
stays fresh as long as any facility sends). A page that showed only the whole would look fine
when a part is not, so a tile and the SLA page lead with the worst of the SLA and its slices and
put the whole-SLA figure beside it.

Pure (no Streamlit, no SQL): plain evaluations in, the choice and its words out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from dashboards import views
from dashboards.timerange import PRESETS, format_duration
from slas import Evaluation

#: How bad each status is, worst first. A slice without data does not outrank a whole SLA that
#: has data: "no data" for one small facility is not a breach.
STATUS_RANK: dict[str, int] = {"breach": 0, "warning": 1, "ok": 2, "no-data": 3}
#: The order of tiles on the scorecard (an SLA with no data at all is listed before the fine ones).
TILE_RANK: dict[str, int] = {"breach": 0, "warning": 1, "no-data": 2, "ok": 3}


@dataclass(frozen=True)
class Worst:
    """The evaluation to lead with, and the SLA as a whole when that is a slice."""

    shown: Evaluation
    whole: Evaluation | None  # None when ``shown`` is the whole SLA (or the SLA has no whole row)

    @property
    def is_slice(self) -> bool:
        return self.shown.slice is not None


def _severity(e: Evaluation) -> tuple[int, float, float]:
    """Worse sorts first: status, then the least budget left, then the lowest SLI."""
    budget = math.inf if e.budget_remaining is None else e.budget_remaining
    sli = math.inf if e.sli is None else e.sli
    return STATUS_RANK.get(e.status, 9), budget, sli


def worst_of(group: Sequence[Evaluation]) -> Worst | None:
    """The worst of one SLA's evaluations (the whole and its slices); the whole wins a tie.

    A slice is led with when its status is worse than the whole's, the same failing status, or the
    same status with less budget left: one facility that spent half its budget in a silence leads
    an OK tile whose whole SLA still shows 100% (its other feeds kept the whole fresh). A slice
    without data never leads a whole that has data.
    """
    if not group:
        return None
    whole = next((e for e in group if e.slice is None), None)
    slices = sorted((e for e in group if e.slice is not None), key=lambda e: (_severity(e), e.slice or ""))
    if whole is None:
        return Worst(slices[0], None)
    if slices and _leads(slices[0], whole):
        return Worst(slices[0], whole)
    return Worst(whole, None)


def _leads(part: Evaluation, whole: Evaluation) -> bool:
    """Whether a slice leads in its whole's place: it names the part that fails.

    A worse status, or the same failing status (a breached queue under a breached whole names the
    queue, even when the whole's figure is lower), or the same status with less budget left.
    """
    if part.status == "no-data":
        return False
    rank, whole_rank = STATUS_RANK.get(part.status, 9), STATUS_RANK.get(whole.status, 9)
    if rank != whole_rank:
        return rank < whole_rank
    return part.status in ("breach", "warning") or _severity(part) < _severity(whole)


def evidence_range(status: str, window_s: float, range_s: float) -> str | None:
    """The range preset a failing tile's link opens its SLA page on, or None to keep the view's.

    A tile's status covers its SLA's window (7 days) while the SLA page lists bad events in the
    page's range (a day by default): yesterday morning's incident would not be listed. A tile in
    breach or warning links with the shortest preset that covers the window.
    """
    if status not in ("breach", "warning") or window_s <= range_s:
        return None
    for name, (_label, seconds) in PRESETS.items():
        if seconds >= window_s:
            return name
    return list(PRESETS)[-1]


def failing_slices(group: Sequence[Evaluation]) -> list[Evaluation]:
    """The slices in breach or warning, worst first: whose bad events a whole-SLA view adds."""
    failing = (e for e in group if e.slice is not None and e.status in ("breach", "warning"))
    return sorted(failing, key=lambda e: (_severity(e), e.slice or ""))


def slice_name(slice_: str | None) -> str:
    """``south-campus`` for ``hc.facility=south-campus``: the value a person knows the part by."""
    if slice_ is None:
        return "whole SLA"
    return " · ".join(part.split("=", 1)[-1] for part in slice_.split(","))


def sli_text(sli: float | None, slice_: str | None) -> str:
    """``south-campus: 99.24%`` for a slice, ``99.24%`` for the SLA as a whole."""
    figure = views.pct(sli)
    return figure if slice_ is None else f"{slice_name(slice_)}: {figure}"


def whole_text(whole: Evaluation, status_word: Callable[[str], str]) -> str:
    """``whole SLA: ✓ OK 100.00%``, the figure that goes beside a slice's."""
    return f"whole SLA: {status_word(whole.status)} {views.pct(whole.sli)}"


def tile_rank(t: views.Tile) -> tuple[int, int, str, float, str]:
    """Scorecard order, worst first: status, under way now (a tier firing) before a budget spent
    by an incident that is over, priority, least budget left, id."""
    budget = math.inf if t.budget_remaining is None else t.budget_remaining
    return TILE_RANK.get(t.status, 9), 0 if t.firing else 1, t.priority or "P9", budget, t.sla_id


def worst_tiles(
    tiles: Sequence[views.Tile], evaluations: Sequence[Evaluation]
) -> tuple[list[views.Tile], dict[str, Evaluation]]:
    """Each tile that shows an SLA as a whole, replaced by its worst slice when one is worse.

    Returns the tiles, worst first, and for each tile now showing a slice in its SLA's place the
    whole-SLA evaluation to show beside it. A tile already narrowed to a slice (a facility
    filter) keeps it.
    """
    by_sla: dict[str, list[Evaluation]] = {}
    for e in evaluations:
        by_sla.setdefault(e.sla_id, []).append(e)
    out: list[views.Tile] = []
    wholes: dict[str, Evaluation] = {}
    for t in tiles:
        found = worst_of(by_sla.get(t.sla_id, [])) if t.slice is None else None
        if found is None or found.whole is None:
            out.append(t)
            continue
        # the money stays the SLA's: the caption says "over the SLA's 7d", not the slice's
        out.append(replace(views.tile_of(found.shown), note=t.note, at_risk_amount=t.at_risk_amount))
        wholes[t.sla_id] = found.whole
    return sorted(out, key=tile_rank), wholes


def worst_sla(evaluations: Sequence[Evaluation], ids: Sequence[str]) -> str | None:
    """The SLA a page opens on: the worst tile's, among ``ids`` (the first id when none is evaluated)."""
    tiles = [
        views.tile_of(found.shown)
        for sla_id in ids
        if (found := worst_of([e for e in evaluations if e.sla_id == sla_id])) is not None
    ]
    ranked = sorted(tiles, key=tile_rank)
    if ranked:
        return ranked[0].sla_id
    return ids[0] if ids else None


def current_burn(e: Evaluation) -> float | None:
    """The burn rate the engine's time to exhaustion uses: the first tier's long window."""
    return e.burn_rates[0].long_rate if e.burn_rates else None


def exhaustion_text(e: Evaluation, fmt_time: Callable[[int], str]) -> str:
    """What the budget is doing: "budget exhausted since …", a time, or "not burning".

    "not burning" only when the burn rate is below 1; a spent budget says so (with the start of
    the breach that spent it, when the engine dated it) whatever the burn.
    """
    if e.budget_remaining is None:
        return "no data"
    if e.budget_remaining <= 0:
        since = e.breach_started_unix_nano
        return "budget exhausted" + (f" since {fmt_time(since)}" if since is not None else "")
    burn = current_burn(e)
    if burn is None:
        return "no burn rate"
    if burn < 1:
        return "not burning"
    seconds = e.time_to_exhaustion_s
    if not seconds:
        seconds = e.budget_remaining * e.window_s / burn
    return format_duration(seconds)
