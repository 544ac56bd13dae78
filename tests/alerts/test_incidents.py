"""Incidents: one group, one thread; acknowledged once for all its alerts; paged only when due.

T0 is Thursday 2026-05-28 20:26:40 UTC: out of the (UTC) business hours below until Friday 07:00,
38,000 s later.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

import tests.alerts.harness as harness_module
from alerts import actions, config
from tests.alerts import factories
from tests.alerts.factories import burn
from tests.alerts.harness import Harness
from vitals.kernel.configfile import ConfigError

TEAMS = """
route:
  receiver: team
  group_by: [sla]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
  escalation_policy: standard
  routes:
    - matchers: [priority="P2"]
      pages: [business-hours]
    - matchers: [priority="P3"]
      pages: never
receivers:
  - name: team
    console_configs: [{}]
  - name: lead
    console_configs: [{}]
  - name: director
    console_configs: [{}]
time_intervals:
  - name: business-hours
    time_intervals:
      - weekdays: ['monday:friday']
        times: [{start_time: '07:00', end_time: '19:00'}]
escalation_policies:
  - name: standard
    levels:
      - timeout: 15m             # no receiver: the route's own (the owning team)
      - receiver: lead
        timeout: 15m
      - receiver: director
        timeout: 30m
alerting:
  objective_alerts: false
  resolve_after: 10m
  ack_timeout: 4h
  stale_after: null
"""

PAGE = [burn("1h/5m", firing=True)]
FRIDAY_0700 = 38000


MakeHarness = Callable[..., Harness]


@pytest.fixture
def harness(monkeypatch: pytest.MonkeyPatch) -> MakeHarness:
    """A harness whose evaluations carry the given priority (the SLA file's)."""

    def make(priority: str = "P1", step: float = 5.0, text: str = TEAMS) -> Harness:
        original = factories.evaluation
        monkeypatch.setattr(
            harness_module, "evaluation", lambda **kw: original(**{**kw, "priority": priority})
        )
        return Harness(text, step=step)

    return make


def test_acknowledging_the_incident_covers_its_alerts_and_later_joiners_and_stops_escalation(
    harness: MakeHarness,
) -> None:
    h = harness("P1")
    h.set(PAGE, north_campus=PAGE)
    assert h.run(100) == [(30, "team", "post", "firing")]
    assert len(h.notifications[0].alerts) == 2
    # nobody acknowledges: the lead is told at 930 (level 2), the team's thread says so
    timeline = h.run(935)
    assert (930, "lead", "post", "escalated") in timeline
    escalated = next(n for n in h.notifications if n.receiver == "lead")
    (ref,) = h.store.groups()
    acked = actions.acknowledge_group(h.store, h.config, ref, "alice", source="slack", now=h.clock.now)
    assert len(acked) == 2
    assert h.store.groups()[ref].acknowledged_by == "alice"
    # a third alert joins the open incident: acknowledged with it, no new escalation
    h.set(PAGE, north_campus=PAGE, south_campus=PAGE)
    timeline = h.run(4000)
    assert all(a.acknowledged_by == "alice" for a in h.store.alerts.values())
    assert len(h.store.alerts) == 3
    assert not [t for t in timeline if t[3] == "escalated"], timeline
    assert not [t for t in timeline if t[1] == "director"]
    # the lead's copy is updated in place: escalation stopped, acknowledged by alice
    updates = [n for n in h.notifications if n.receiver == "lead"]
    assert updates and all(n.action == "update" and n.parent_key == escalated.key for n in updates)
    assert updates[0].note == "Escalation stopped: acknowledged by alice"
    # the acknowledged incident's own message is still the page it was, not a ticket
    team_updates = [n for n in h.notifications if n.receiver == "team" and n.action == "update"]
    assert team_updates and {n.urgency for n in team_updates} == {"page"}
    assert {a.acknowledged_by for a in updates[-1].alerts} == {"alice"}


def test_the_incident_acknowledgement_lapses_with_the_ack_timeout(harness: MakeHarness) -> None:
    h = harness("P1", step=30.0)
    h.set(PAGE)
    h.run(100)
    (ref,) = h.store.groups()
    actions.acknowledge_group(h.store, h.config, ref, "alice", source="cli", now=h.clock.now)
    h.run(100 + 4 * 3600 + 120)
    (alert,) = h.store.alerts.values()
    assert alert.acknowledged_by is None and alert.state == "firing"
    assert h.store.groups()[ref].acknowledged_by is None


def test_p2_out_of_hours_is_a_ticket_then_pages_in_the_same_thread_when_hours_begin(
    harness: MakeHarness,
) -> None:
    h = harness("P2", step=30.0)
    h.set(PAGE)
    timeline = h.run(FRIDAY_0700 - 60)
    posts = [n for n in h.notifications if n.action == "post"]
    assert [(n.receiver, n.urgency) for n in posts] == [("team", "ticket")]
    assert not [t for t in timeline if t[3] == "escalated"], "a ticket does not escalate"
    assert all(n.urgency == "ticket" and not n.broadcast for n in h.notifications)
    # 07:00 Friday: still burning fast and nobody owns it: it pages, in the same thread
    h.run(FRIDAY_0700 + 600)
    paged = [n for n in h.notifications if n.urgency == "page"]
    assert paged and paged[0].action == "reply" and paged[0].parent_key == posts[0].key
    assert paged[0].note.startswith("Paging now") and paged[0].broadcast
    assert not [n for n in h.notifications if n.action == "post" and n.receiver == "team"]


def test_p3_never_pages_and_never_escalates(harness: MakeHarness) -> None:
    h = harness("P3", step=60.0)
    h.set(PAGE)
    h.run(FRIDAY_0700 + 7200)
    assert {n.urgency for n in h.notifications} == {"ticket"}
    assert {n.receiver for n in h.notifications} == {"team"}
    assert not [n for n in h.notifications if n.kind == "escalated"]


def test_pages_names_defined_time_intervals() -> None:
    bad = TEAMS.replace("pages: [business-hours]", "pages: [office-hours]")
    with pytest.raises(ConfigError) as caught:
        config.parse(bad)
    assert "office-hours" in str(caught.value) and "pages" in str(caught.value)
    with pytest.raises(ConfigError):
        config.parse(TEAMS.replace("pages: never", "pages: sometimes"))


def test_a_request_timeout_must_end_before_the_delivery_lease() -> None:
    slow = TEAMS.replace(
        "  - name: lead\n    console_configs: [{}]",
        "  - name: lead\n    webhook_configs: [{url: 'http://127.0.0.1:9/hook', timeout: 90s}]",
    )
    with pytest.raises(ConfigError) as caught:
        config.parse(slow)
    text = str(caught.value)
    assert "receivers[1].webhook_configs[0].timeout" in text and "delivery.lease (60s)" in text
    assert config.parse(slow + "delivery: {lease: 2m}\n").delivery.lease == 120


def test_a_second_escalation_goes_into_the_thread_of_the_first_escalation_post(harness: MakeHarness) -> None:
    h = harness("P1", step=30.0)
    h.set(PAGE)
    h.run(1000)  # the lead got its escalation post at ~930
    (first,) = [n for n in h.notifications if n.receiver == "lead"]
    assert first.action == "post"
    (ref,) = h.store.groups()
    actions.acknowledge_group(h.store, h.config, ref, "alice", source="slack", now=h.clock.now)
    # the ack lapses after 4 h with the incident still burning: escalation starts over
    h.run(1000 + 4 * 3600 + 1800)
    lead = [n for n in h.notifications if n.receiver == "lead" and n.kind == "escalated"]
    assert lead, "the lead is told again"
    assert all(n.action == "reply" and n.parent_key == first.key for n in lead)
    assert not [n for n in h.notifications if n.action == "post"], "no second top-level post anywhere"


def test_a_ticket_is_reminded_daily_not_at_the_page_cadence(harness: MakeHarness) -> None:
    h = harness("P3", step=300.0)  # pages: never; the route's repeat_interval is 4 h
    h.set(PAGE)
    timeline = h.run(30 * 3600)
    repeats = [t for t in timeline if t[3] == "repeat"]
    assert len(repeats) == 1 and 24 * 3600 <= repeats[0][0] < 25 * 3600, timeline


def test_escalation_stops_when_the_fast_burn_is_over(harness: MakeHarness) -> None:
    h = harness("P1", step=30.0, text=TEAMS.replace("objective_alerts: false", "objective_alerts: true"))
    h.set(PAGE)
    h.run(120)
    # the outage ends: the budget is spent (a ticket once the page has been quiet for
    # resolve_after) and nobody has acknowledged; the lead's turn would be at 930
    h.set([burn("1h/5m", firing=False)])
    timeline = h.run(4000)
    (alert,) = h.store.alerts.values()
    assert alert.labels["severity"] == "ticket" and alert.is_open and alert.tier == "objective"
    assert not [t for t in timeline if t[3] == "escalated"], timeline


def test_escalation_stops_while_the_condition_is_clear_and_held_open(harness: MakeHarness) -> None:
    h = harness("P1", step=30.0)
    h.set(PAGE)
    h.run(600)
    h.set([burn("1h/5m", firing=False)])  # clear at 630; held open until 1230 by hysteresis
    timeline = h.run(1300)
    assert not [t for t in timeline if t[3] == "escalated"], timeline
    (alert,) = h.store.alerts.values()
    assert alert.state == "resolved"
