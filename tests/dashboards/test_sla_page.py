"""The SLA page in business terms (issue 14): the scorecard's money definitions with their windows,
thresholds as the SLA file states them, bad-event tables that lead with what a person needs, any
slice attribute, the age of "at risk now" in the URL, and a custom range that cannot be read.

Pages run under AppTest on the known estate (tests/dashboards/estate.py) at its pinned now.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import streamlit as st

from dashboards import bad_event_tables, business, thresholds, views
from dashboards.catalog import load_catalog
from dashboards.queries import bad_events as bad_events_q
from dashboards.ui import widgets
from slas.lag_history import OpenFigures
from slas.lag_history import slas_with_amounts as with_amounts
from slas.tables import sla_evaluations, sla_lag_objects
from tests.dashboards import estate
from tests.dashboards.conftest import Store, no_exceptions, open_page, texts
from tests.support.factories import insert_spans, span_row
from vitals.kernel.units import NS


def day_range(store: Store) -> tuple[dict[str, str], float, float]:
    """The day up to the estate's now, as a custom range in UTC (minute-exact, no race with now)."""
    hi = store.estate.now_s + 60
    lo = hi - 86400

    def iso(seconds: float) -> str:
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M")

    return {"range": "custom", "from": iso(lo), "to": iso(hi), "tz": "UTC"}, lo, hi


# --------------------------------------------------------------------------- thresholds


def test_thresholds_are_written_as_the_sla_file_states_them() -> None:
    assert thresholds.threshold_text(900) == "15 min"
    assert thresholds.threshold_text(86400) == "24 h"  # a deadline in hours, as files write it
    assert thresholds.threshold_text(72 * 3600) == "72 h"
    assert thresholds.threshold_text(2) == "2 s"
    assert thresholds.threshold_text(0.5) == "500 ms"
    assert thresholds.threshold_text(7 * 86400) == "7 d"
    # the SLA file's own syntax for the definition: the engine's dump writes 24 hours as "1d"
    assert thresholds.as_written({"key": "charge", "within": "1d"}) == {"key": "charge", "within": "24h"}
    assert thresholds.as_written({"under": 2.0})["under"] == "2s"


def test_sla_page_shows_thresholds_as_the_file_states_them(
    sqlite_store: Store, app_env: pytest.MonkeyPatch
) -> None:
    params, _lo, _hi = day_range(sqlite_store)
    shown = {}
    for sla_id in (
        "charge-lag",
        "implant-inventory-sync-lag",
        "adt-interface-silence",
        "eligibility-latency",
    ):
        at = open_page(app_env, sqlite_store.url, sqlite_store.config_dir, "sla", {**params, "sla": sla_id})
        no_exceptions(at)
        shown[sla_id] = texts(at)
    charge = shown["charge-lag"]
    assert "within: 24h" in charge  # the definition, in the file's syntax
    assert "did not come within 24 h of procedure.documented" in charge
    assert "missed the 24 h deadline" in charge
    assert "within: 1d" not in charge and "24h 00m" not in charge
    implant = shown["implant-inventory-sync-lag"]
    assert "within 15 min of supply.consumed" in implant
    assert "0.25 h" not in implant and "within: 15m" in implant
    assert "Periods longer than 15 min without" in shown["adt-interface-silence"]
    assert "that took 2 s or longer" in shown["eligibility-latency"]


# --------------------------------------------------------------------------- money on the SLA page


def _stuck(store: Store, age_s: float) -> list[estate.Charge]:
    return [
        c for c in store.estate.charges if c.posted_s is None and c.documented_s <= estate.PAGE_NOW_S - age_s
    ]


def test_sla_page_uses_the_scorecards_money_definitions_with_the_window_named(
    sqlite_store: Store, app_env: pytest.MonkeyPatch
) -> None:
    """One definition per page: no bare "Money at risk"; the age in the URL is the figure's."""
    at = open_page(
        app_env, sqlite_store.url, sqlite_store.config_dir, "sla", {"sla": "charge-lag", "age": "4h"}
    )
    no_exceptions(at)
    labels = [m.label for m in at.metric]
    assert "Money at risk" not in labels
    assert "Revenue at risk: deadline passed · 7d" in labels  # the SLA's window, as on its tile
    assert at.selectbox(key="age").value == "4h"
    block: Any = at.get_by_key("at-risk-now")
    assert block.metric[0].label == "Revenue at risk now: stuck · now"
    assert block.metric[0].value == views.money(sum(c.amount for c in _stuck(sqlite_store, 4 * 3600)))
    # the scorecard opened with the same link shows the same figure, and its links keep the age
    card = open_page(app_env, sqlite_store.url, sqlite_store.config_dir, "scorecard", {"age": "4h"})
    no_exceptions(card)
    assert card.get_by_key("headline-at_risk_now").metric[0].value == block.metric[0].value
    tile: Any = card.get_by_key("tile-charge-lag")
    assert "age=4h" in str(tile.get("page_link")[0].proto.query_string)
    # a ratio SLA has no lag objects: no "at risk now" on its page
    gl = open_page(app_env, sqlite_store.url, sqlite_store.config_dir, "sla", {"sla": "gl-posting-errors"})
    no_exceptions(gl)
    assert not any(m.label.startswith("Revenue at risk now") for m in gl.metric)


def test_at_risk_now_covers_every_lag_sla_whose_objects_carry_amounts(
    sqlite_store: Store, app_env: pytest.MonkeyPatch
) -> None:
    now_ns = int(estate.NOW_S * NS)
    assert with_amounts(sqlite_store.engine, ["charge-lag", "implant-inventory-sync-lag"], at_ns=now_ns) == [
        "charge-lag"
    ]
    # an implant with a price, consumed 5 hours ago and never taken out of inventory
    with sqlite_store.engine.begin() as conn:
        conn.execute(
            sla_lag_objects.insert(),
            [
                {
                    "sla_id": "implant-inventory-sync-lag",
                    "key_hash": "f" * 64,
                    "state": "bad",
                    "start_unix_nano": now_ns - 5 * 3600 * NS,
                    "end_unix_nano": None,
                    "deadline_unix_nano": now_ns - 5 * 3600 * NS + 900 * NS,
                    "slice": "",
                    "labels": {},
                    "amount": 2450.0,
                    "facility": "north-campus",
                }
            ],
        )
    assert with_amounts(sqlite_store.engine, ["charge-lag", "implant-inventory-sync-lag"], at_ns=now_ns) == [
        "charge-lag",
        "implant-inventory-sync-lag",
    ]
    at = open_page(app_env, sqlite_store.url, sqlite_store.config_dir, "scorecard", {"range": "1h"})
    no_exceptions(at)
    implants: Any = at.get_by_key("headline-at_risk_now-implant-inventory-sync-lag")
    assert implants.metric[0].label == "Revenue at risk now: stuck items · now"
    assert implants.metric[0].value == "$2,450"
    # the charges' figure stays, counted once (late-charges follows the same charges)
    assert at.get_by_key("headline-at_risk_now").metric[0].value == views.money(
        sum(c.amount for c in _stuck(sqlite_store, 3600))
    )
    page = texts(at)
    assert "At risk now covers the lag SLAs whose objects carry an amount: charge-lag, " in page


def test_at_risk_now_figures_name_their_objects(tmp_path: Path) -> None:
    catalog = load_catalog(estate.write_config(tmp_path))
    items = OpenFigures("implant-inventory-sync-lag", 900, 3600, 0, 2, 4900.0, 2, 4900.0, None)
    figure = business.at_risk_now(catalog, items, first=False)
    assert figure.key == "at_risk_now-implant-inventory-sync-lag"
    assert figure.label == "Revenue at risk now: stuck items"
    assert "already past the 15 min deadline" in figure.detail
    assert "not finished" in figure.detail


# --------------------------------------------------------------------------- bad-event tables


def test_lag_bad_events_lead_with_amount_age_and_facility_and_end_with_the_short_key(
    sqlite_store: Store, app_env: pytest.MonkeyPatch
) -> None:
    params, lo, hi = day_range(sqlite_store)
    at = open_page(app_env, sqlite_store.url, sqlite_store.config_dir, "sla", {**params, "sla": "charge-lag"})
    no_exceptions(at)
    events = at.get_by_key("table-bad-events").dataframe[0].value
    columns = list(events.columns)
    assert columns[:4] == ["amount", "age", "overdue by", "facility"]
    assert columns[-1] == "key (HMAC hash)"
    assert not any("_" in c for c in columns)  # headers in words
    late = sorted(sqlite_store.estate.late_charges(lo, hi), key=lambda c: -c.amount)
    assert list(events["amount"]) == [views.money(c.amount) for c in late]
    assert list(events["key (HMAC hash)"]) == [c.key[:12] + "…" for c in late]
    assert all(f"key={c.key}" in link for c, link in zip(late, events["journey"], strict=True))


PAYER_SLA = """\
slas:
  - id: payer-denials
    title: Each payer's denials stay low
    domain: revenue-cycle
    owner: revenue-cycle
    priority: P2
    objective: 90%
    window: 7d
    slice_by: [hc.payer]
    sli:
      ratio:
        total: {stage: remit.received}
        bad: {attributes: {hc.denial.code: "*"}}
"""


@pytest.fixture
def payer_slice(sqlite_store: Store) -> Store:
    """An SLA sliced by payer (an attribute without a column of its own): acme denies most remits
    and its slice is in breach under an SLA that is fine as a whole."""
    (sqlite_store.config_dir / "slas" / "payers.yaml").write_text(PAYER_SLA)
    now = sqlite_store.estate.now_s
    rows = []
    for i in range(6):
        attrs: dict[str, Any] = {
            "hc.stage": "remit.received",
            "hc.facility": "lakeside-asc",
            "hc.payer": "acme",
            "hc.amount": 1200.0 + i,
        }
        if i < 5:
            attrs["hc.denial.code"] = "CO-197"
        rows.append(
            span_row(
                name="payer.remit.receive",
                service="clearinghouse",
                start_s=now - 600 - i * 60,
                attributes=attrs,
            )
        )
    rows.append(
        span_row(
            name="payer.remit.receive",
            service="clearinghouse",
            start_s=now - 700,
            attributes={"hc.stage": "remit.received", "hc.payer": "bluecross", "hc.denial.code": "CO-16"},
        )
    )
    insert_spans(sqlite_store.engine, rows)

    def row(status: str, sli: float, slice_: str = "") -> dict[str, Any]:
        return estate.evaluation_row(
            "payer-denials",
            now + 1,
            kind="ratio",
            domain="revenue-cycle",
            priority="P2",
            objective=0.9,
            window="7d",
            status=status,
            sli=sli,
            slice_=slice_,
        )

    with sqlite_store.engine.begin() as conn:
        conn.execute(
            sla_evaluations.insert(),
            [row("ok", 0.95), row("breach", 1 / 6, "hc.payer=acme"), row("ok", 0.95, "hc.payer=bluecross")],
        )
    return sqlite_store


def test_a_slice_on_any_attribute_lists_its_bad_events_with_denial_code_and_payer(
    payer_slice: Store, app_env: pytest.MonkeyPatch
) -> None:
    params, _lo, _hi = day_range(payer_slice)
    at = open_page(
        app_env,
        payer_slice.url,
        payer_slice.config_dir,
        "sla",
        {**params, "sla": "payer-denials", "slice": "hc.payer=acme"},
    )
    no_exceptions(at)
    events = at.get_by_key("table-bad-events").dataframe[0].value
    assert set(events["payer"]) == {"acme"} and len(events) == 5
    assert set(events["denial code"]) == {"CO-197"}
    columns = list(events.columns)
    assert columns[:4] == ["amount", "when", "age", "facility"]
    assert columns.index("payer") < columns.index("service")
    assert not any("_" in c for c in columns)
    assert "of slice acme (hc.payer=acme)" in texts(at)
    # the whole SLA's view names the failing payer and adds its rows
    whole = open_page(
        app_env,
        payer_slice.url,
        payer_slice.config_dir,
        "sla",
        {**params, "sla": "payer-denials", "slice": "(whole SLA)"},
    )
    no_exceptions(whole)
    assert "✖ Breach in slice acme" in texts(whole)


def test_bad_events_narrow_a_gauge_to_its_queue_slice(sqlite_store: Store) -> None:
    catalog = load_catalog(sqlite_store.config_dir)
    spec = catalog.get("queue-backlog-age")
    assert spec is not None
    hi = int((sqlite_store.estate.now_s + 60) * NS)
    lo = hi - 86400 * NS
    mine = bad_events_q.bad_events(
        sqlite_store.engine, spec, lo, hi, now_ns=hi, slice_="queue=charges-outbound"
    )
    assert list(mine.frame["queue"]) == ["charges-outbound"] and mine.note is None
    other = bad_events_q.bad_events(sqlite_store.engine, spec, lo, hi, now_ns=hi, slice_="queue=adt-inbound")
    assert other.frame.empty
    assert bad_events_q.slice_labels("hc.facility=a,hc.payer=b") == (("hc.facility", "a"), ("hc.payer", "b"))


def test_short_keys() -> None:
    assert bad_event_tables.short_key("0123456789abcdef") == "0123456789ab…"
    assert bad_event_tables.short_key("abc") == "abc"
    assert bad_event_tables.short_key(None) == "-"


# --------------------------------------------------------------------------- the custom range


@pytest.mark.parametrize(
    ("params", "said"),
    [
        ({"from": "garbage", "to": "2026-03-11T08:00"}, "'garbage' is not a date and time"),
        ({"from": "2026-03-11T08:00", "to": "2026-03-10T08:00"}, "to= must be later than from="),
    ],
    ids=["unreadable", "backwards"],
)
def test_a_custom_range_that_cannot_be_read_is_explained(
    sqlite_store: Store, app_env: pytest.MonkeyPatch, params: dict[str, str], said: str
) -> None:
    for page in ("scorecard", "sla"):
        at = open_page(
            app_env,
            sqlite_store.url,
            sqlite_store.config_dir,
            page,
            {"range": "custom", "tz": "UTC", **params},
        )
        if page != "scorecard":  # opened through the scorecard: the link's range, on this page
            at.query_params.update({"range": "custom", "tz": "UTC", **params})
            at.run()
        no_exceptions(at)
        errors = [str(e.value) for e in at.error]
        assert any("The time range in the URL cannot be read" in e and said in e for e in errors), (
            page,
            errors,
        )
        assert any("Correct `from=` and `to=`" in e for e in errors)
        assert not at.metric  # no figures of some other range


def test_a_gauge_sample_is_written_in_its_metric_unit() -> None:
    # "worst 3481.795" beside "minutes" left the reader guessing seconds or messages
    text = bad_event_tables.gauge_value_text
    assert text("queue.oldest_age_seconds", 3481.795) == "58m 02s"
    assert text("queue.depth", 12345.0) == "12,345 messages"
    assert text("queue.stuck", 1.0) == "stuck"
    assert text("queue.stuck", 0.0) == "not stuck"
    assert text("engine.custom_gauge", 3481.795) == "3,481.8 (engine.custom_gauge)"
    assert text("queue.depth", None) == "-"


# --------------------------------------------------------------------------- numbers, groups, ongoing


def week_range(store: Store) -> dict[str, str]:
    """The week up to the estate's now, as a custom range (a ratio SLA's 7d window)."""
    params, _lo, hi = day_range(store)
    return {**params, "from": datetime.fromtimestamp(hi - 7 * 86400, UTC).strftime("%Y-%m-%dT%H:%M")}


def test_slices_and_burn_rates_are_written_as_the_tiles_and_alerts_write_them(
    sqlite_store: Store, app_env: pytest.MonkeyPatch
) -> None:
    params, _lo, _hi = day_range(sqlite_store)
    at = open_page(app_env, sqlite_store.url, sqlite_store.config_dir, "sla", {**params, "sla": "charge-lag"})
    no_exceptions(at)
    slices = at.get_by_key("table-slices").dataframe[0].value
    # counts are integers (never 5576.0) and the SLI has the tiles' two decimals (never 98.152%)
    assert str(slices["good"].dtype).startswith("int") and str(slices["events"].dtype).startswith("int")
    assert all(re.fullmatch(r"\d+\.\d\d%", v) for v in slices["SLI"]), list(slices["SLI"])
    assert at.metric[0].value == views.pct(0.935)
    # the CSV writes the counts with thousands separators, as the page shows them
    config = {"good": st.column_config.NumberColumn("good", format="localized")}
    assert list(widgets.csv_frame(pd.DataFrame({"good": [5576, 10037]}), config, "")["good"]) == [
        "5,576",
        "10,037",
    ]
    burn = at.get_by_key("table-burn-table").dataframe[0].value
    assert {"long burn", "short burn", "threshold"} <= set(burn.columns)
    for column in ("long burn", "short burn", "threshold"):
        # one decimal and an "x", as the alerts write "14.4x": never 0.322580645
        assert all(re.fullmatch(r"\d+\.\dx|no data", v) for v in burn[column]), list(burn[column])
    assert list(burn["threshold"]) == ["14.4x", "6.0x"]
    # the estate's charge-lag: SLI 0.935 against 0.95, so the 1h/5m tier burns (1 - 0.935) / 0.05
    assert burn["long burn"].iloc[0] == f"{(1 - 0.935) / 0.05:.1f}x"


@pytest.fixture
def denial_incident(sqlite_store: Store) -> Store:
    """A burst of one payer's denials a day ago, older than every baseline denial of the estate."""
    now = sqlite_store.estate.now_s
    rows = [
        span_row(
            name="payer.remit.receive",
            service="clearinghouse",
            start_s=now - 20 * 3600 - i * 30,
            attributes={
                "hc.stage": "remit.received",
                "hc.facility": "lakeside-asc",
                "hc.payer": "acme",
                "hc.denial.code": "CO-50",
                "hc.amount": 1000.0,
            },
        )
        for i in range(20)
    ]
    insert_spans(sqlite_store.engine, rows)
    return sqlite_store


def test_denial_groups_count_an_incident_older_than_the_listed_rows(
    denial_incident: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bad_events_q, "LIMIT", 5)
    spec = load_catalog(denial_incident.config_dir).get("initial-denial-rate")
    assert spec is not None
    hi = int((denial_incident.estate.now_s + 60) * NS)
    lo = hi - 7 * 86400 * NS
    found = bad_events_q.bad_events(denial_incident.engine, spec, lo, hi, now_ns=hi)
    baseline = sum(1 for at, code, _f in denial_incident.estate.remits if code and lo <= at * NS < hi)
    assert len(found.frame) == 5 and "CO-50" not in set(found.frame["denial_code"])  # newest: baseline
    assert found.groups is not None
    top = found.groups.iloc[0]
    assert (top["denial_code"], top["payer"], top["events"], top["amount"]) == ("CO-50", "acme", 20, 20_000.0)
    assert int(found.groups["events"].sum()) == 20 + baseline
    assert found.note == (
        f"listing the newest 5 of {20 + baseline} bad spans; the groups above count all {20 + baseline}"
    )
    shown = bad_event_tables.group_table(found.groups, tz="UTC")
    assert list(shown.columns[:4]) == ["bad events", "amount", "denial code", "payer"]
    assert "message" not in shown  # no denial carries a status message
    assert list(shown.iloc[0][["bad events", "amount", "denial code"]]) == [20, "$20,000", "CO-50"]


def test_a_denial_sla_page_groups_its_denials_and_drops_the_columns_that_say_nothing(
    denial_incident: Store, app_env: pytest.MonkeyPatch
) -> None:
    at = open_page(
        app_env,
        denial_incident.url,
        denial_incident.config_dir,
        "sla",
        {**week_range(denial_incident), "sla": "initial-denial-rate"},
    )
    no_exceptions(at)
    groups = at.get_by_key("table-bad-event-groups").dataframe[0].value
    assert list(groups.iloc[0][["bad events", "denial code", "payer"]]) == [20, "CO-50", "acme"]
    events = at.get_by_key("table-bad-events").dataframe[0].value
    assert "denial code" in events and "status" not in events and "message" not in events
    # a failed span keeps its status and message
    gl = open_page(
        app_env,
        denial_incident.url,
        denial_incident.config_dir,
        "sla",
        {**day_range(denial_incident)[0], "sla": "gl-posting-errors"},
    )
    no_exceptions(gl)
    assert {"status", "message"} <= set(gl.get_by_key("table-bad-events").dataframe[0].value.columns)


def test_a_gauge_period_reaching_the_end_is_ongoing() -> None:
    frame = pd.DataFrame.from_records(
        [
            {"queue": "q", "from": 0, "until": 600 * NS, "minutes": 10, "worst": 2400.0, "ongoing": True},
            {"queue": "q", "from": 0, "until": 60 * NS, "minutes": 1, "worst": 1900.0, "ongoing": False},
        ]
    )
    shown = bad_event_tables.gauge_table(frame, tz="UTC", metric="queue.oldest_age_seconds")
    assert list(shown.columns) == ["queue", "from", "until", "minutes out of bounds", "worst", "ongoing"]
    assert list(shown["ongoing"]) == ["yes", "no"]
    assert list(shown["until"]) == ["still out of bounds", "1970-01-01 00:01:00 UTC"]
