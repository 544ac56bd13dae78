"""The Capacity dashboard page under Streamlit's AppTest, over a store with known queues."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from tests.capacity import history
from tests.capacity.test_store import CONFIG
from tests.dashboards.conftest import no_exceptions, open_page, texts


def test_capacity_page_shows_close_peak_headroom_and_backlog(
    sqlite_engine: Engine, sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    history.fill(sqlite_engine)
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / "capacity.yaml").write_text(CONFIG)
    at = open_page(monkeypatch, sqlite_url, config_dir, "capacity", now_s=history.NOW_S + 1)
    no_exceptions(at)
    assert "Capacity" in [str(t.value) for t in at.title]
    summary = at.get_by_key("table-capacity-summary").dataframe[0].value
    rows = {r["name"]: r for r in summary.to_dict("records")}
    charges = rows["charges-outbound"]
    assert charges["capacity per hour"] == 9000 and charges["capacity from"] == "configured"
    # the next month-end close after Friday 2026-12-04: Thursday 31st, Friday 1st, Monday 4th
    assert charges["next close peak"] in {"2026-12-31", "2027-01-01", "2027-01-04"}
    assert charges["headroom at close peak"] == pytest.approx(0.2, abs=0.02)
    assert rows["gl-postings"]["capacity from"] == "measured"
    backlog = at.get_by_key("table-capacity-backlogs").dataframe[0].value
    (only,) = backlog.to_dict("records")
    assert only["queue"] == "charges-outbound" and only["waiting"] == 1800
    assert only["clears in"] == "never at this rate" and only["verdict"] == "misses it"
    charts = [json.loads(el.proto.spec) for el in at.get("plotly_chart")]
    titles = [c["layout"]["title"]["text"] for c in charts]
    assert any(t.startswith("charges-outbound") for t in titles)
    assert "capacity.yaml" in texts(at)


def test_capacity_page_says_what_is_wrong_with_capacity_yaml(
    sqlite_engine: Engine, sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    history.fill(sqlite_engine)
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / "capacity.yaml").write_text("queues:\n  charges:\n    per_hour: -1\n")
    at = open_page(monkeypatch, sqlite_url, config_dir, "capacity", now_s=history.NOW_S + 1)
    no_exceptions(at)
    assert "capacity.yaml:3: queues.charges.per_hour" in texts(at)
