"""The Alerts page shows incidents first (one expander each, the most urgent first) and its tallies
change in the same run as an acknowledgement, without a reload."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from alerts import api
from alerts import config as alerts_config
from alerts.engine import AlertEngine
from alerts.sqlstore import SqlStore
from tests.dashboards.conftest import Store, no_exceptions, open_page, texts

ROUTING = """
route:
  receiver: oncall
  group_by: [owner]
  group_wait: 0s
receivers:
  - name: oncall
    console_configs:
      - path: {log}
"""


def plan(store: Store) -> list[api.IncidentInfo]:
    """Evaluate and plan at the estate's now: the alerts, grouped into incidents by owner."""
    (store.config_dir / "alerts.yaml").write_text(ROUTING.format(log=Path(store.config_dir) / "console.log"))
    engine = AlertEngine(
        SqlStore(store.engine),
        lambda: alerts_config.load_for(store.config_dir),
        clock=lambda: store.estate.now_s,
    )
    engine.evaluate()
    engine.plan()
    return api.list_incidents(store.engine, now=store.estate.now_s)


def metric(at: AppTest, label: str) -> str:
    return str(next(m.value for m in at.metric if m.label == label))


def test_incidents_first_each_expandable_to_its_alerts(store: Store, app_env: pytest.MonkeyPatch) -> None:
    incidents = plan(store)
    grouped = [i for i in incidents if i.grouped]
    assert len(grouped) >= 2, "the estate's breaching SLAs must open incidents"
    at = open_page(app_env, store.url, store.config_dir, "alerts")
    no_exceptions(at)
    # one expander per incident, in the API's order (firing first, pages, P1, newest)
    labels = [e.label for e in at.expander]
    assert len(labels) == len(incidents)
    assert all(f"**{i.title}**" in label for i, label in zip(incidents, labels, strict=True))
    assert labels[0].startswith("✖ firing")
    states = [i.state for i in incidents]
    assert states == sorted(states, key=["firing", "acknowledged", "suppressed", "resolved"].index)
    # each lists its alerts; the firing ones are open
    for incident in grouped:
        shown: object = at.get_by_key(f"table-incident-{incident.ref}")
        ids = list(shown.dataframe[0].value["id"])  # type: ignore[attr-defined]
        assert sorted(ids) == sorted(a.id for a in incident.alerts)
    counts = api.tallies(incidents)
    assert metric(at, "✖ firing incidents") == str(counts["incidents"]["firing"])
    assert metric(at, "✖ firing alerts") == str(counts["alerts"]["firing"])


def test_acknowledging_an_incident_updates_the_tallies_in_the_same_run(
    sqlite_store: Store, app_env: pytest.MonkeyPatch
) -> None:
    incidents = plan(sqlite_store)
    first = incidents[0]
    assert first.grouped and first.state == "firing"
    before = api.tallies(incidents)
    at = open_page(app_env, sqlite_store.url, sqlite_store.config_dir, "alerts")
    no_exceptions(at)
    assert metric(at, "✔ acknowledged incidents") == "0"
    assert metric(at, "✔ acknowledged alerts") == "0"
    at.text_input(key=f"ack-incident-{first.ref}.by").input("alice")
    at.text_input(key=f"ack-incident-{first.ref}.comment").input("restarting the ERP connector")
    button = next(b for b in at.button if b.label == "Acknowledge incident")
    at = button.click().run()
    no_exceptions(at)
    # no reload: the counts of this very run are those after the acknowledgement
    assert metric(at, "✔ acknowledged incidents") == "1"
    acked = first.counts["firing"]
    assert metric(at, "✔ acknowledged alerts") == str(acked)
    assert metric(at, "✖ firing alerts") == str(before["alerts"]["firing"] - acked)
    assert any("Acknowledged the incident" in str(s.value) for s in at.success), texts(at)
    incident = api.get_incident(sqlite_store.engine, first.ref)
    assert incident is not None and incident.state == "acknowledged" and incident.acknowledged_by == "alice"
    audits = api.audit_log(sqlite_store.engine)
    assert any(
        e.action.startswith("acknowledge") and e.actor == "alice" and e.source == "dashboard" for e in audits
    )
    # the acknowledged incident moved below the firing ones and is no longer offered for ack
    assert not any(f"**{first.title}**" in e.label and e.label.startswith("✖") for e in at.expander)
