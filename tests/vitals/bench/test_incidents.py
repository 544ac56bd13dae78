"""`vitals bench incidents` on a tiny replay: it runs and reports its figures per incident (no
figure is asserted beyond its shape: the scenario figures follow the alerting model)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from alerts.model import Figures
from alerts.notification import AlertView, Notification
from simulator.scenario import ExpectedEffect
from vitals.shell.bench.incidents import attribute, incidents

NOW = "2026-03-04T15:20:00Z"  # a Wednesday, 09:20 in America/Chicago: business hours
SCENARIO = """
name: tiny
incidents:
  - id: charge-interface-stall
    kind: charge-interface-stall
    at: -30m
    duration: 25m
    drain: 5m
"""


def test_the_incidents_benchmark_reports_each_incident(tmp_path: Path) -> None:
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(SCENARIO)
    out = tmp_path / "incidents.json"
    args = ["--now", NOW, "--scenario", str(scenario), "--days", "0.1", "--replay-from", "-40m"]
    result = CliRunner().invoke(incidents, [*args, "--after", "10m", "--out", str(out)])
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    figures = {f["measure"]: f for f in document["figures"]}
    assert "P2/P3 pages outside business hours, every notification" in figures
    assert "notifications about no planted incident" in figures
    sending = figures["send cost per notification, outbox to an in-memory receiver"]
    outbox = str(sending["detail"]).split("outbox: ", maxsplit=1)[1]
    assert "sent" in outbox and "pending" not in outbox and "dead" not in outbox  # all delivered
    mine = [m for m in figures if m.startswith("charge-interface-stall: ")]
    assert mine, figures
    if "charge-interface-stall: notifications" not in figures:  # notified: posts, pages, latency
        posts = figures["charge-interface-stall: top-level posts per receiver (most)"]
        assert posts["value"] >= 1 and "goal <= 1" in posts["reference"]
        assert "charge-interface-stall: P2/P3 pages outside business hours" in figures
        latency = figures["charge-interface-stall: breach to first post (simulated clock)"]
        assert latency["value"] >= 0 and latency["unit"] == "s"


def _view(sla: str, started: float, **labels: str) -> AlertView:
    return AlertView(
        fingerprint=f"fp-{sla}",
        sla_id=sla,
        slice="",
        tier="1h/5m",
        labels={"sla": sla, **labels},
        state="firing",
        started_at=started,
        figures=Figures(
            title=sla,
            kind="ratio",
            objective=0.99,
            sli=0.9,
            good=90.0,
            total=100.0,
            window_label="7d",
            budget_remaining=-1.0,
            time_to_exhaustion_s=None,
            evaluated_at=started,
        ),
    )


def _note(group: str, at: float, *alerts: AlertView) -> Notification:
    return Notification(
        key=f"{group}:1:1",
        receiver="team",
        action="post",
        kind="firing",
        group_ref=group,
        group_key=group,
        group_labels={},
        alerts=alerts,
        created_at=at,
    )


def test_notifications_are_attributed_by_sla_slice_and_interface() -> None:
    start = datetime(2026, 3, 4, 14, 0, tzinfo=UTC)
    t0 = start.timestamp()
    effect = ExpectedEffect(
        incident="stall",
        kind="charge-interface-stall",
        start=start,
        end=datetime(2026, 3, 4, 15, 0, tzinfo=UTC),
        slas=("queue-backlog-age",),
        slice={"queue": "charges-outbound"},
        description="",
    )
    backlog = _view("queue-backlog-age", t0 + 600, queue="charges-outbound", interface="charges-outbound")
    lag = _view("charge-lag", t0 + 900, interface="charges-outbound")  # the same interface
    other_queue = _view("queue-backlog-age", t0 + 600, queue="claims-outbound", interface="claims-outbound")
    yesterday = _view("charge-lag", t0 - 86400, interface="charges-outbound")
    planned = [
        _note("g1", t0 + 700, backlog),
        _note("g2", t0 + 1000, lag),
        _note("g3", t0 + 700, other_queue),
        _note("g4", t0 - 86000, yesterday),
    ]
    (found,), stray = attribute([effect], planned)
    assert found.groups == {"g1", "g2"}
    assert {n.group_ref for n in stray} == {"g3", "g4"}
