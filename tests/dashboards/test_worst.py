"""It must never look fine when a part is not: the worst of an SLA and its slices leads, and a
spent budget says so (issue #14).

The pure rule first (plain evaluations), then the scorecard and SLA page under AppTest on the
known estate with one facility's slice in breach under an SLA that is fine as a whole.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from dashboards import views, worst
from dashboards.ui.widgets import status_text
from slas import BurnRate, Evaluation
from slas.tables import sla_evaluations
from tests.dashboards import estate
from tests.dashboards.conftest import Store, no_exceptions, open_page, texts
from vitals.kernel.units import NS

AT_NS = int(estate.NOW_S * NS)


def evaluation(
    slice_: str | None = None,
    *,
    status: str = "ok",
    sli: float | None = 1.0,
    objective: float = 0.99,
    burn: float | None = 0.0,
    tte_s: float | None = None,
    breach_started_ns: int | None = None,
    sla_id: str = "adt-interface-silence",
) -> Evaluation:
    budget = None if sli is None else 1 - (1 - sli) / (1 - objective)
    rates = (
        ()
        if burn is None
        else (
            BurnRate(
                name="1h/5m",
                long_window_s=3600.0,
                short_window_s=300.0,
                threshold=14.4,
                long_rate=burn,
                short_rate=burn,
                severity="page",
                firing=status == "breach",
            ),
        )
    )
    return Evaluation(
        sla_id=sla_id,
        slice=slice_,
        at_unix_nano=AT_NS,
        title="Each hospital's ADT feed is never silent",
        domain="clinical-operations",
        owner="integration-oncall",
        priority="P1",
        kind="freshness",
        window_s=86400.0,
        window_label="1d",
        objective=objective,
        good=0.0,
        total=0.0,
        sli=sli,
        budget_remaining=budget,
        time_to_exhaustion_s=tte_s,
        burn_rates=rates,
        status=status,  # type: ignore[arg-type]
        labels={} if slice_ is None else dict([slice_.split("=", 1)]),
        breach_started_unix_nano=breach_started_ns,
    )


SOUTH = "hc.facility=south-campus"


# --------------------------------------------------------------------------- the pure rule


def test_a_breached_slice_under_an_ok_whole_leads_with_the_whole_beside_it() -> None:
    whole = evaluation(status="ok", sli=1.0)
    south = evaluation(SOUTH, status="breach", sli=0.9924, burn=20.0)
    north = evaluation("hc.facility=north-campus", status="ok", sli=0.999)
    found = worst.worst_of([north, whole, south])
    assert found is not None
    assert found.shown is south and found.whole is whole
    assert worst.sli_text(found.shown.sli, found.shown.slice) == "south-campus: 99.24%"
    assert worst.whole_text(whole, status_text) == "whole SLA: ✔ OK 100.00%"

    assert worst.failing_slices([north, whole, south]) == [south]

    tiles, wholes = worst.worst_tiles([views.tile_of(whole)], [north, whole, south])
    assert [(t.status, t.slice, t.sli) for t in tiles] == [("breach", SOUTH, 0.9924)]
    assert wholes == {whole.sla_id: whole}


def test_the_whole_leads_when_no_slice_is_worse() -> None:
    whole = evaluation(status="warning", sli=0.995)
    # a lower SLI that is still fine, and a slice without data, do not replace the whole
    fine = evaluation(SOUTH, status="ok", sli=0.991)
    empty = evaluation("hc.facility=lakeside-asc", status="no-data", sli=None)
    found = worst.worst_of([whole, fine, empty])
    assert found is not None and found.shown is whole and found.whole is None
    # equally bad: the worst failing slice leads, with the whole beside it
    breached = evaluation(status="breach", sli=0.97)
    worse = evaluation(SOUTH, status="breach", sli=0.9)
    same = evaluation("hc.facility=north-campus", status="breach", sli=0.97)
    assert worst.worst_of([breached, worse, same]) == worst.Worst(worse, breached)


def test_a_breached_queue_under_a_breached_whole_names_the_queue() -> None:
    # The demo's stalled charges-outbound: the whole queue-stuck SLA is in breach with a little
    # less budget left than the one queue that stalled; the tile must still name the queue.
    whole = evaluation(status="breach", sli=0.9948, sla_id="queue-stuck")
    queue = evaluation("queue=charges-outbound", status="breach", sli=0.9957, sla_id="queue-stuck")
    fine = evaluation("queue=adt-inbound", status="ok", sla_id="queue-stuck")
    assert worst.worst_of([whole, queue, fine]) == worst.Worst(queue, whole)
    assert worst.sli_text(queue.sli, queue.slice) == "charges-outbound: 99.57%"


def test_an_incident_under_way_ranks_before_a_budget_spent_by_one_that_is_over() -> None:
    # yesterday's ADT silence spent a P1 budget; the charge stall burns now: the stall leads
    spent = evaluation(status="breach", sli=0.98, burn=0.0)
    over = replace(spent, burn_rates=tuple(replace(b, firing=False) for b in spent.burn_rates))
    now = replace(
        evaluation(status="breach", sli=0.995, burn=50.0, sla_id="queue-backlog-age"), priority="P2"
    )
    tiles, _ = worst.worst_tiles([views.tile_of(over), views.tile_of(now)], [over, now])
    assert [t.sla_id for t in tiles] == ["queue-backlog-age", "adt-interface-silence"]
    assert tiles[0].firing and not tiles[1].firing


def test_a_slice_tile_keeps_the_whole_slas_money() -> None:
    # the caption says "over the SLA's 7d": a slice's share would read a third too low
    whole = replace(evaluation(status="breach", sli=0.98), at_risk_amount=733_458.0)
    north = replace(
        evaluation("hc.facility=north-campus", status="breach", sli=0.97), at_risk_amount=458_557.0
    )
    tiles, _ = worst.worst_tiles([views.tile_of(whole)], [whole, north])
    assert tiles[0].slice == "hc.facility=north-campus" and tiles[0].at_risk_amount == 733_458.0


def test_a_failing_tile_links_to_a_range_that_holds_its_window() -> None:
    week = 7 * 86400.0
    assert worst.evidence_range("breach", week, 86400.0) == "7d"
    assert worst.evidence_range("warning", 30 * 86400.0, 86400.0) == "30d"
    assert worst.evidence_range("warning", 31 * 86400.0, 86400.0) == "30d"  # a calendar month
    # fine tiles, and a range that already covers the window, keep the view's range
    assert worst.evidence_range("ok", week, 86400.0) is None
    assert worst.evidence_range("breach", week, 30 * 86400.0) is None


def test_an_ok_slice_that_spent_budget_leads_an_ok_whole_at_100_percent() -> None:
    # The demo's ADT silence: south campus was silent for 25 minutes, its slice stays OK with
    # about half its budget spent, while the whole SLA (the other feeds kept it fresh) is 100%.
    whole = evaluation(status="ok", sli=1.0)
    south = evaluation(SOUTH, status="ok", sli=0.9947)
    north = evaluation("hc.facility=north-campus", status="ok", sli=1.0)
    found = worst.worst_of([whole, north, south])
    assert found == worst.Worst(south, whole)
    tiles, wholes = worst.worst_tiles([views.tile_of(whole)], [whole, north, south])
    assert [(t.status, t.slice) for t in tiles] == [("ok", SOUTH)]
    assert worst.sli_text(tiles[0].sli, tiles[0].slice) == "south-campus: 99.47%"
    assert wholes[whole.sla_id] is whole
    # a slice as fine as the whole does not replace it
    assert worst.worst_of([whole, north]) == worst.Worst(whole, None)


def test_the_page_opens_on_the_worst_sla_not_the_first_by_name() -> None:
    evaluations = [
        evaluation(sla_id="a-fine", status="ok"),
        evaluation(sla_id="b-warning", status="warning", sli=0.995),
        evaluation(sla_id="z-adt", status="ok"),
        evaluation(SOUTH, sla_id="z-adt", status="breach", sli=0.9924),
    ]
    assert worst.worst_sla(evaluations, ["a-fine", "b-warning", "z-adt"]) == "z-adt"
    assert worst.worst_sla([], ["a-fine"]) == "a-fine"


def test_a_spent_budget_says_budget_exhausted_with_since_when() -> None:
    """Spent and burning at 100x: never "not burning" (the engine's time to exhaustion is 0)."""
    since = AT_NS - 5 * 3600 * NS

    def fmt(ns: int) -> str:
        return datetime.fromtimestamp(ns / NS, UTC).strftime("%H:%M UTC")

    spent = evaluation(status="breach", sli=0.0, burn=100.0, tte_s=0.0, breach_started_ns=since)
    assert worst.exhaustion_text(spent, fmt) == "budget exhausted since 09:00 UTC"
    undated = evaluation(status="breach", sli=0.98, burn=0.5, tte_s=0.0)
    assert worst.exhaustion_text(undated, fmt) == "budget exhausted"


def test_not_burning_only_below_a_burn_rate_of_one() -> None:
    def fmt(ns: int) -> str:
        return str(ns)

    assert worst.exhaustion_text(evaluation(sli=0.995, burn=0.99), fmt) == "not burning"
    assert worst.exhaustion_text(evaluation(sli=0.995, burn=0.0), fmt) == "not burning"
    # burning at 2x with half the 1-day budget left: gone in 6 h (the engine's figure, or computed)
    assert worst.exhaustion_text(evaluation(sli=0.995, burn=2.0, tte_s=21600.0), fmt) == "6h 00m"
    assert worst.exhaustion_text(evaluation(sli=0.995, burn=2.0), fmt) == "6h 00m"
    # an unknown burn rate is not "not burning"
    assert worst.exhaustion_text(evaluation(sli=0.995, burn=None), fmt) == "no burn rate"
    assert worst.exhaustion_text(evaluation(sli=None), fmt) == "no data"


# --------------------------------------------------------------------------- the pages


def _row(sla_id: str, *, status: str, sli: float, slice_: str = "") -> dict[str, Any]:
    kind, domain, priority, objective, window = {
        "adt-interface-silence": ("freshness", "clinical-operations", "P1", 0.99, "1d"),
        "gl-posting-errors": ("ratio", "finance", "P1", 0.995, "1d"),
    }[sla_id]
    return estate.evaluation_row(
        sla_id,
        estate.NOW_S + 1,  # the newest evaluation, still before the page's now
        kind=kind,
        domain=domain,
        priority=priority,
        objective=objective,
        window=window,
        status=status,
        sli=sli,
        slice_=slice_,
    )


@pytest.fixture
def slice_in_breach(sqlite_store: Store) -> Store:
    """The estate, then one more tick: the ADT SLA is fine as a whole (some facility always sends)
    while south-campus is silent and in breach; GL postings recovered, so ADT is the worst SLA."""
    rows = [
        _row("adt-interface-silence", status="ok", sli=1.0),
        _row("adt-interface-silence", status="breach", sli=0.9924, slice_=SOUTH),
        _row("adt-interface-silence", status="ok", sli=0.999, slice_="hc.facility=north-campus"),
        _row("adt-interface-silence", status="ok", sli=0.999, slice_="hc.facility=lakeside-asc"),
        _row("gl-posting-errors", status="ok", sli=0.999),
    ]
    with sqlite_store.engine.begin() as conn:
        conn.execute(sla_evaluations.insert(), rows)
    return sqlite_store


def test_scorecard_tile_shows_the_breached_slice_with_the_whole_beside(
    slice_in_breach: Store, app_env: pytest.MonkeyPatch
) -> None:
    at = open_page(app_env, slice_in_breach.url, slice_in_breach.config_dir, "scorecard")
    no_exceptions(at)
    block: Any = at.get_by_key("tile-adt-interface-silence")
    assert str(block.metric[0].value) == "south-campus: 99.24%"
    written = "\n".join(str(m.value) for m in [*block.markdown, *block.caption])
    assert 'data-status="breach"' in written
    assert "whole SLA: ✔ OK 100.00%" in written
    assert "✔ OK" not in str(block.markdown[0].value)
    # its link opens the slice in breach
    link = block.get("page_link")[0]
    assert "slice=hc.facility%3Dsouth-campus" in str(link.proto.query_string)


def test_a_failing_tile_opens_its_sla_page_on_a_range_that_holds_its_bad_events(
    slice_in_breach: Store, app_env: pytest.MonkeyPatch
) -> None:
    # on the last hour, the tile's status still covers its SLA's day: its link opens the day
    at = open_page(app_env, slice_in_breach.url, slice_in_breach.config_dir, "scorecard", {"range": "1h"})
    no_exceptions(at)
    failing = str(at.get_by_key("tile-adt-interface-silence").get("page_link")[0].proto.query_string)
    assert "range=1d" in failing and "range=1h" not in failing
    # a fine tile keeps the view's range
    fine = [
        str(link.proto.query_string)
        for key in ("tile-gl-posting-errors",)
        for link in at.get_by_key(key).get("page_link")
    ]
    assert fine and all("range=1h" in q for q in fine)


def test_sla_page_opens_on_the_worst_sla_and_its_slice(
    slice_in_breach: Store, app_env: pytest.MonkeyPatch
) -> None:
    at = open_page(app_env, slice_in_breach.url, slice_in_breach.config_dir, "sla")
    no_exceptions(at)
    assert at.selectbox(key="sla").value == "adt-interface-silence"
    assert at.selectbox(key="slice").value == SOUTH
    page = texts(at)
    assert "whole SLA: ✔ OK 100.00%" in page
    assert "No bad events" not in page
    events = at.get_by_key("table-bad-events").dataframe[0].value
    assert (events["ongoing"] == "yes").any()


def test_sla_page_on_the_whole_sla_lists_the_slice_bad_events(
    slice_in_breach: Store, app_env: pytest.MonkeyPatch
) -> None:
    at = open_page(
        app_env,
        slice_in_breach.url,
        slice_in_breach.config_dir,
        "sla",
        {"sla": "adt-interface-silence", "slice": "(whole SLA)"},
    )
    no_exceptions(at)
    assert at.selectbox(key="slice").value == "(whole SLA)"
    page = texts(at)
    assert "No bad events" not in page
    assert "✖ Breach in slice south-campus: 99.24% (whole SLA: ✔ OK 100.00%)" in page
    assert "and those of its slices that are not fine: south-campus." in page
    events = at.get_by_key("table-bad-events").dataframe[0].value
    # the whole feed's silences (before the estate's feed began) and the silent facility's
    assert set(events["slice"]) == {"whole SLA", "south-campus"}
    last = slice_in_breach.estate.adt_last_s["south-campus"]
    ongoing = events[(events["ongoing"] == "yes") & (events["slice"] == "south-campus")]
    assert len(ongoing) == 1
    assert ongoing.iloc[0]["silent from"].startswith(datetime.fromtimestamp(last, UTC).strftime("%Y-%m-%d"))


def test_sla_page_says_budget_exhausted_for_a_spent_budget(
    sqlite_store: Store, app_env: pytest.MonkeyPatch
) -> None:
    """The estate's GL SLA is at 90% against 99.5%: spent, burning at 20x; never "not burning"."""
    at = open_page(app_env, sqlite_store.url, sqlite_store.config_dir, "sla", {"sla": "gl-posting-errors"})
    no_exceptions(at)
    shown = {m.label: str(m.value) for m in at.metric}
    assert shown["Time to exhaustion"].startswith("budget exhausted")
    assert "not burning" not in texts(at)


def test_sla_page_says_since_when_the_spent_budget_is_exhausted(
    sqlite_store: Store, app_env: pytest.MonkeyPatch
) -> None:
    """A breach dated by the engine: "budget exhausted" in the number (never cut off), since when
    and the burn (above 1) under it."""
    started_s = estate.NOW_S - 3 * 3600
    row = _row("gl-posting-errors", status="breach", sli=0.9)
    row["breach_started_unix_nano"] = int(started_s * NS)
    with sqlite_store.engine.begin() as conn:
        conn.execute(sla_evaluations.insert(), [row])
    at = open_page(
        app_env, sqlite_store.url, sqlite_store.config_dir, "sla", {"sla": "gl-posting-errors", "tz": "UTC"}
    )
    no_exceptions(at)
    shown = {m.label: str(m.value) for m in at.metric}
    assert shown["Time to exhaustion"] == "budget exhausted"
    since = datetime.fromtimestamp(started_s, UTC).strftime("%Y-%m-%d %H:%M")
    caption = next(str(c.value) for c in at.caption if "at the current burn rate" in str(c.value))
    assert caption.startswith(f"since {since}")
    burn = float(caption.rsplit("(", 1)[1].removesuffix("x)"))
    assert burn > 1
    assert "not burning" not in texts(at)
