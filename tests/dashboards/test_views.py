"""Pure pieces: the URL's time range, number formats, tiles, headers."""

from __future__ import annotations

import pytest

from dashboards import timerange, views
from dashboards.catalog import Catalog, SlaSpec
from dashboards.queries.business import Filters
from slas import SLA
from slas.model import Evaluation
from vitals.kernel.units import NS

NOW = 1_795_500_000 * NS


def test_presets_end_now() -> None:
    tr = timerange.parse({"range": "7d", "tz": "America/Chicago"}, NOW)
    assert (tr.end_ns - tr.start_ns) == 7 * 86400 * NS and tr.end_ns == NOW
    assert tr.label == "Last week" and tr.tz == "America/Chicago"
    assert tr.resolution_s == 3600
    assert timerange.parse({}, NOW).preset == "1d"


def test_custom_range_in_the_zone_of_the_url() -> None:
    tr = timerange.parse(
        {"range": "custom", "from": "2026-11-24T08:00", "to": "2026-11-24T10:30", "tz": "America/Chicago"},
        NOW,
    )
    assert timerange.iso(tr.start_ns, "UTC") == "2026-11-24T14:00:00+00:00"  # CST = UTC-6
    assert tr.seconds == 9000 and tr.resolution_s == 60
    assert timerange.to_params(tr)["from"] == "2026-11-24T08:00:00-06:00"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"range": "2d"}, "expected one of"),
        ({"range": "custom", "from": "2026-11-24T08:00"}, "needs both"),
        ({"range": "custom", "from": "yesterday", "to": "2026-11-24T08:00"}, "not a date"),
        ({"range": "custom", "from": "2026-11-24T08:00", "to": "2026-11-24T07:00"}, "later than"),
    ],
)
def test_bad_ranges_say_what_is_wrong(params: dict[str, str], message: str) -> None:
    with pytest.raises(timerange.RangeError, match=message):
        timerange.parse(params, NOW)


def test_unknown_zone_falls_back() -> None:
    assert timerange.parse({"tz": "Mars/Olympus"}, NOW, "Europe/Berlin").tz == "Europe/Berlin"


def test_a_pinned_now_replaces_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """``vitals dashboard --now`` (``VITALS_DASHBOARD_NOW``): every page's now, to the second."""
    monkeypatch.setenv(timerange.ENV_NOW, "2026-03-11T09:00:00-05:00")
    assert timerange.utc_now_ns() == timerange.parse_now("2026-03-11T14:00:00Z") == 1_773_237_600 * NS
    assert timerange.parse({"range": "1h"}, timerange.utc_now_ns()).start_ns == 1_773_234_000 * NS
    monkeypatch.setenv(timerange.ENV_NOW, "2026-03-11T14:00")  # no offset: UTC
    assert timerange.utc_now_ns() == 1_773_237_600 * NS


def test_times_carry_their_zone_and_durations_read_well() -> None:
    assert timerange.format_time(NOW, "Europe/Berlin").endswith(("CET", "CEST"))
    assert timerange.format_time(None, "UTC") == "-"
    assert timerange.format_duration(0.25) == "250 ms"
    assert timerange.format_duration(6 * 3600 + 38 * 60) == "6h 38m"
    assert timerange.format_duration(2 * 86400 + 4 * 3600) == "2d 4h"
    assert timerange.format_duration(None) == "-"


def test_step_is_a_multiple_of_the_resolution() -> None:
    tr = timerange.parse({"range": "30d"}, NOW)
    assert tr.step_s() % 3600 == 0 and tr.seconds / tr.step_s() <= 120


def test_no_data_is_never_zero() -> None:
    assert views.pct(None) == "no data"
    assert views.pct(0.0) == "0.00%"
    assert views.money(None) == "no data"
    assert views.money(1234.5) == "$1,234"
    assert views.money(12.5) == "$12.50"


def _evaluation(sla_id: str, status: str, slice_: str | None = None, **kw: object) -> Evaluation:
    labels = dict([slice_.split("=", 1)]) if slice_ else {}
    values: dict[str, object] = {
        "sla_id": sla_id,
        "slice": slice_,
        "at_unix_nano": NOW,
        "title": sla_id,
        "domain": "finance",
        "owner": "o",
        "priority": "P2",
        "kind": "ratio",
        "window_s": 86400.0,
        "window_label": "1d",
        "objective": 0.99,
        "good": 99.0,
        "total": 100.0,
        "sli": 0.99,
        "budget_remaining": 0.5,
        "time_to_exhaustion_s": None,
        "burn_rates": (),
        "status": status,
        "labels": labels,
    }
    values.update(kw)
    return Evaluation(**values)  # type: ignore[arg-type]


def test_tiles_pick_the_slice_of_the_filter_and_say_when_there_is_none() -> None:
    evaluations = [
        _evaluation("charge-lag", "warning", sli=0.93),
        _evaluation("charge-lag", "ok", "hc.facility=north-campus", sli=0.999),
        _evaluation("gl", "breach"),
    ]
    silence = SLA.model_validate(
        {
            "id": "silence",
            "title": "ADT keeps arriving",
            "domain": "clinical-operations",
            "owner": "integration-oncall",
            "priority": "P1",
            "objective": "99%",
            "window": "1d",
            "sli": {"freshness": {"select": {"stage": "encounter.admitted"}, "max_age": "15m"}},
        }
    )
    catalog = Catalog((SlaSpec.of(silence),))
    tiles = views.build_tiles(evaluations, catalog, Filters(facility="north-campus"))
    by_id = {t.sla_id: t for t in tiles}
    assert by_id["charge-lag"].sli == 0.999 and by_id["charge-lag"].note is None
    assert "not sliced by facility" in str(by_id["gl"].note)
    assert by_id["silence"].status == "no-data" and "not evaluated yet" in str(by_id["silence"].note)
    assert [t.status for t in tiles] == ["breach", "no-data", "ok"]  # worst first
    groups = views.group_by_domain(tiles)
    assert [d for d, _ in groups] == ["finance", "clinical-operations"]


def test_budget_text() -> None:
    tile = views.tile_of(_evaluation("x", "warning", budget_remaining=0.25, time_to_exhaustion_s=7200.0))
    assert views.budget_text(tile) == "25% of the error budget left, gone in 2h 00m at this burn rate"
    spent = views.tile_of(
        _evaluation("x", "breach", budget_remaining=-0.5, breach_started_unix_nano=NOW - 3600 * 10**9)
    )
    # the tile says what the SLA page says: exhausted, since when, by how much
    assert views.budget_text(spent, lambda ns: f"<{ns}>") == (
        f"budget exhausted since <{NOW - 3600 * 10**9}> (overspent by 50%)"
    )
    assert views.budget_text(spent) == "budget exhausted (overspent by 50%)"


def test_counts_say_their_unit() -> None:
    assert (views.count(1, "charges"), views.count(0, "charges"), views.count(None, "charges")) == (
        "1 charge",
        "0 charges",
        "no data",
    )
    assert views.count(12345, "charges") == "12,345 charges"


def test_money_has_a_dollar_sign_and_thousands_separators() -> None:
    assert views.money(12345.4) == "$12,345"
    assert views.money(1234567.0) == "$1,234,567"
    assert views.money(300.0) == "$300.00"
    assert views.money(None) == "no data"


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("status_message", "status message"),
        ("duration_ms", "duration (ms)"),
        ("silent_s", "silent (s)"),
        ("key_hash", "key (hash)"),
        ("trace_id", "trace id"),
        ("parent_span_id", "parent span id"),
        ("hc.facility", "facility"),
        ("queue.depth", "queue depth"),
        ("last seen", "last seen"),
        ("ms", "ms"),
    ],
)
def test_headers_are_words(name: str, words: str) -> None:
    assert views.header(name) == words


def test_sli_text_reads_like_the_sla_file() -> None:
    body = {"from": {"stage": ["procedure.documented"], "attributes": {}}, "key": "charge", "within": "1d"}
    assert views.sli_text(body) == "{from: {stage: procedure.documented}, key: charge, within: 1d}"
