"""Thinning old evaluations: one per hour per series, every status change and breach start kept."""

from __future__ import annotations

from slas.downsample import KEPT_STEP_NS, Mark, last_keys, thin
from vitals.kernel.units import NS

HOUR_NS = KEPT_STEP_NS
BASE = 1_000 * HOUR_NS


def minutes(
    series: tuple[str, str], start_min: int, count: int, status: str = "ok", breach: int | None = None
) -> list[Mark]:
    return [
        Mark(
            hash((series, start_min + i)) & 0xFFFFFFF,
            series[0],
            series[1],
            BASE + (start_min + i) * 60 * NS,
            status,
            breach,
        )
        for i in range(count)
    ]


def kept(rows: list[Mark], previous: dict[tuple[str, str], tuple[str, int | None] | None]) -> list[Mark]:
    doomed = set(thin(rows, previous))
    return sorted((r for r in rows if r.id not in doomed), key=lambda r: r.at_ns)


def test_a_quiet_series_keeps_the_last_evaluation_of_each_hour() -> None:
    rows = minutes(("a", ""), 0, 180)
    assert [r.at_ns for r in kept(rows, {("a", ""): ("ok", None)})] == [
        BASE + (59 + 60 * h) * 60 * NS for h in range(3)
    ]
    # Without a row before them, the first row starts a run and stays too.
    assert len(kept(rows, {})) == 4


def test_status_changes_and_breach_starts_survive() -> None:
    s = ("a", "hc.facility=north")
    breach1, breach2 = BASE + 17 * 60 * NS, BASE + 50 * 60 * NS
    rows = [
        *minutes(s, 0, 10),
        *minutes(s, 10, 7, "warning"),
        *minutes(s, 17, 23, "breach", breach1),
        *minutes(s, 40, 10, "ok"),
        *minutes(s, 50, 70, "breach", breach2),
    ]
    left = kept(rows, {s: ("ok", None)})
    turns = [(r.at_ns - BASE) // (60 * NS) for r in left]
    assert turns == [10, 17, 40, 50, 59, 119]  # every run's first row, and each hour's last
    assert [(r.status, r.breach_started_ns) for r in left] == [
        ("warning", None),
        ("breach", breach1),
        ("ok", None),
        ("breach", breach2),
        ("breach", breach2),
        ("breach", breach2),
    ]


def test_a_new_breach_start_is_a_turn_even_at_the_same_status() -> None:
    s = ("a", "")
    rows = [*minutes(s, 0, 30, "breach", 1), *minutes(s, 30, 30, "breach", 2)]
    assert [(r.at_ns - BASE) // (60 * NS) for r in kept(rows, {s: ("breach", 1)})] == [30, 59]


def test_thinning_twice_deletes_nothing_more_and_series_are_independent() -> None:
    a, b = ("a", ""), ("b", "")
    rows = [*minutes(a, 0, 120), *minutes(a, 120, 30, "breach", 7), *minutes(b, 0, 180, "no-data")]
    once = kept(rows, {})
    assert thin(once, {}) == []
    assert {r.series for r in once} == {a, b}
    assert len([r for r in once if r.series == b]) == 4  # its first row and three hours' last
    # Thinning hour by hour, carrying the last key, gives the same as all at once.
    by_hour: list[Mark] = []
    previous: dict[tuple[str, str], tuple[str, int | None] | None] = {}
    for h in range(3):
        hour = [r for r in rows if (r.at_ns - BASE) // HOUR_NS == h]
        by_hour += kept(hour, previous)
        previous.update(last_keys(hour))
    assert sorted(r.id for r in by_hour) == sorted(r.id for r in once)
