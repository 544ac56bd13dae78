"""`vitals bench incidents` on a tiny replay: it runs and reports its figures per incident (no
figure is asserted beyond its shape: the scenario figures follow the alerting model)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from alerts import config
from alerts.model import Figures
from alerts.notification import AlertView, Notification
from simulator.scenario import ExpectedEffect
from vitals.kernel.settings import STARTER_CONFIG_DIR
from vitals.shell.bench.incidents import Incident, attribute, incidents, latency_of, start_up

STARTER = STARTER_CONFIG_DIR / "alerts.yaml"
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
    sending = figures["(c) send cost per notification, outbox to an in-memory receiver"]
    outbox = str(sending["detail"]).split("outbox: ", maxsplit=1)[1]
    assert "sent" in outbox and "pending" not in outbox and "dead" not in outbox  # all delivered
    mine = [m for m in figures if m.startswith("charge-interface-stall: ")]
    assert mine, figures
    if "charge-interface-stall: notifications" not in figures:  # notified: posts, pages, latency
        posts = figures["charge-interface-stall: top-level posts per receiver (most)"]
        assert posts["value"] >= 1 and "goal <= 1" in posts["reference"]
        assert "charge-interface-stall: P2/P3 pages outside business hours" in figures
        from_breach = figures["charge-interface-stall: (a) breach start to first post"]
        from_detectable = figures["charge-interface-stall: (b) detectable to first post"]
        assert from_breach["unit"] == from_detectable["unit"] == "s"
        assert 0 <= from_detectable["value"] <= from_breach["value"]
        assert "goal <= 62 s" in from_detectable["reference"]
    # The incident ended 5 minutes before --now: listed, not counted (its fast burn may be on).
    startup = figures["finished incidents paged at start-up"]
    assert startup["value"] == 0 and "goal 0: met" in startup["reference"]
    assert "not counted: charge-interface-stall" in startup["detail"]


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


def _note(group: str, at: float, *alerts: AlertView, urgency: str = "page") -> Notification:
    return Notification(
        key=f"{group}:1:1",
        receiver="team",
        action="post",
        kind="firing",
        urgency=urgency,
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


def _effect(name: str, start: datetime, end: datetime, sla: str) -> ExpectedEffect:
    return ExpectedEffect(
        incident=name, kind=name, start=start, end=end, slas=(sla,), slice={}, description=""
    )


def test_the_first_post_is_timed_from_the_breach_and_from_the_minute_it_became_detectable() -> None:
    """(a) from the alert's since; (b) from the end of the last complete minute before the
    evaluation that fired it: its latest ``fired`` event before the post."""
    start = datetime(2026, 3, 4, 14, 0, tzinfo=UTC)
    t0 = start.timestamp()
    effect = _effect("outage", start, datetime(2026, 3, 4, 15, 0, tzinfo=UTC), "gl-posting-errors")
    alert = _view("gl-posting-errors", t0 + 120)  # the first bad minute
    post = _note("g1", t0 + 330, alert)  # group_wait after the fired event, on the 5 s grid
    incident = Incident(effect, {"g1"}, [post])
    fired = {alert.fingerprint: [t0 - 86400.0, t0 + 270.0, t0 + 9999.0]}  # yesterday, now, later
    starter = config.load(STARTER, read_secrets=False)
    latency = latency_of(incident, fired, starter, 30.0)
    assert latency is not None
    assert latency.from_breach_s == 210.0
    assert latency.fired == t0 + 270.0 and latency.detectable == t0 + 240.0
    assert latency.from_detectable_s == 90.0 and latency.detection_s == 120.0
    assert latency.goal_s == 62.0  # group_wait 30 s + the 30 s interval + 2 s
    unknown = latency_of(incident, {}, starter, 30.0)  # no fired event: (b) cannot be told
    assert unknown is not None and unknown.detectable is None and unknown.from_detectable_s is None


def test_start_up_tells_ticketed_from_paged_finished_incidents() -> None:
    now = datetime(2026, 3, 4, 15, 20, tzinfo=UTC).timestamp()
    yesterday = datetime(2026, 3, 3, 16, 0, tzinfo=UTC)
    done = _effect("gl", yesterday, datetime(2026, 3, 3, 17, 0, tzinfo=UTC), "gl-posting-errors")
    paged = _effect("adt", yesterday, datetime(2026, 3, 3, 16, 30, tzinfo=UTC), "adt-interface-silence")
    quiet = _effect("sync", yesterday, datetime(2026, 3, 3, 18, 0, tzinfo=UTC), "implant-sync")
    running = _effect(
        "stall",
        datetime(2026, 3, 4, 14, 30, tzinfo=UTC),
        datetime(2026, 3, 4, 16, 0, tzinfo=UTC),
        "queue-backlog-age",
    )
    t0 = yesterday.timestamp()
    planned = [
        _note("g1", now + 30, _view("gl-posting-errors", t0 + 60), urgency="ticket"),
        _note("g2", now + 30, _view("adt-interface-silence", t0 + 60), urgency="page"),
        _note("g3", now + 30, _view("queue-backlog-age", now - 1800), urgency="page"),  # under way: may page
        _note("g4", now + 30, _view("gl-posting-errors", now), urgency="ticket"),  # started at start-up
    ]
    just = _effect("blip", yesterday, datetime(2026, 3, 4, 15, 0, tzinfo=UTC), "queue-stuck")  # 20 min ago
    check = start_up([done, paged, quiet, running, just], planned, now, 3600.0)
    assert sorted(check.ticketed) == ["gl"]
    assert sorted(check.paged) == ["adt"]
    assert check.silent == ["sync"]
    assert check.recent == ["blip"]  # its fast burn may still be on: not counted
    assert len(check.others) == 2 and check.notifications == 4
