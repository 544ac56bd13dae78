"""Group timing, notification decisions, acks and escalation, on a controllable clock.

Each test runs the evaluate/plan cycle every 5 s of fake time (as ``vitals serve`` does) and
asserts the timeline of notifications: (seconds after start, receiver, action, kind).
"""

from __future__ import annotations

from alerts import actions
from tests.alerts.factories import T0, burn, evaluation
from tests.alerts.harness import Harness

BASE = """
route:
  receiver: oncall
  group_by: [sla, slice]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 1h
receivers:
  - name: oncall
    console_configs: [{}]
alerting:
  objective_alerts: false
  resolve_after: 10m
  ack_timeout: 30m
  stale_after: null
"""

#: One incident per SLA: a second facility's alert joins the first one's group.
PER_SLA = BASE.replace("group_by: [sla, slice]", "group_by: [sla]")

PAGE = [burn("1h/5m", firing=True)]
TICKET = [burn("1h/5m", firing=False), burn("1d/2h", severity="ticket", firing=True)]
PAGE_AND_TICKET = [burn("1h/5m", firing=True), burn("1d/2h", severity="ticket", firing=True)]
CLEAR = [burn("1h/5m", firing=False), burn("1d/2h", severity="ticket", firing=False)]


def test_group_wait_then_first_notification() -> None:
    h = Harness(BASE)
    h.set(PAGE)
    assert h.run(400) == [(30, "oncall", "post", "firing")]
    (post,) = h.notifications
    (alert,) = post.alerts
    assert alert.tier == "1h/5m" and alert.state == "firing" and post.highlight == (alert.fingerprint,)


def test_new_alert_waits_for_group_interval_then_updates_and_replies() -> None:
    h = Harness(PER_SLA)
    h.set(PAGE)
    h.run(60)
    parent = h.notifications[0]
    h.set(PAGE, south_campus=PAGE)  # at 65: a second alert joins the incident
    assert h.run(400) == [(330, "oncall", "update", "update"), (330, "oncall", "reply", "firing")]
    update, reply = h.notifications
    assert update.parent_key == reply.parent_key == parent.key
    assert reply.broadcast and reply.highlight == (h.alerts()["south-campus"].fingerprint,)
    assert {a.slice for a in reply.alerts} == {"", "hc.facility=south-campus"}


def test_a_slow_burn_that_turns_fast_stays_one_alert_in_one_thread() -> None:
    h = Harness(BASE)
    h.set(TICKET)
    assert h.run(60) == [(30, "oncall", "post", "firing")]
    assert h.notifications[0].alerts[0].labels["severity"] == "ticket"
    assert h.notifications[0].urgency == "ticket"
    h.set(PAGE_AND_TICKET)  # at 65: the same alert, now at page severity
    # the message shows the new severity at once; the page goes out at the group's next flush
    assert h.run(400) == [(65, "oncall", "update", "update"), (330, "oncall", "reply", "firing")]
    _, reply = h.notifications
    assert reply.urgency == "page" and reply.broadcast and reply.note.startswith("Paging now")
    (alert,) = h.store.alerts.values()
    assert alert.tier == "1h/5m" and alert.labels["severity"] == "page" and alert.episode == 1


def test_resolved_before_group_wait_notifies_nobody() -> None:
    h = Harness(BASE)
    h.set(PAGE)
    h.run(10)
    h.set(CLEAR)  # at 15, before the group's first flush at 30
    assert h.run(1000) == []
    assert h.alerts()["1h/5m"].state == "resolved"
    assert not any(g.open for g in h.store.groups().values())


def test_resolution_updates_in_place_then_replies_once_and_the_next_firing_is_a_new_message() -> None:
    h = Harness(BASE)
    h.set(PAGE)
    h.run(60)
    first = h.notifications[0]
    h.set(CLEAR)  # at 65: held by hysteresis for 10 min
    assert h.run(2000) == [(665, "oncall", "update", "update"), (930, "oncall", "reply", "resolved")]
    update, resolved = h.notifications
    assert update.alerts[0].state == "resolved" and resolved.status == "resolved"
    assert resolved.parent_key == first.key
    h.set(PAGE)  # at 2005
    assert h.run(2100) == [(2035, "oncall", "post", "firing")]
    assert h.notifications[0].key != first.key


def test_a_short_clear_is_held_and_does_not_re_page() -> None:
    h = Harness(BASE)
    h.set(PAGE)
    h.run(60)
    h.set(CLEAR)
    h.run(300)
    h.set(PAGE)
    assert h.run(1200) == []
    assert h.alerts()["1h/5m"].hysteresis_holds == 1


def test_repeat_interval_reminds_in_the_thread() -> None:
    h = Harness(BASE)
    h.set(PAGE)
    assert h.run(3700) == [(30, "oncall", "post", "firing"), (3630, "oncall", "reply", "repeat")]
    assert h.notifications[1].broadcast


def test_acknowledgement_updates_in_place_and_stops_repeats_until_it_times_out() -> None:
    h = Harness(BASE)
    h.set(PAGE)
    h.run(100)
    h.ack("1h/5m")  # at 105
    assert h.run(1800) == [(105, "oncall", "update", "update")]
    acked = h.notifications[0].alerts[0]
    assert acked.state == "acknowledged" and acked.acknowledged_by == "alice"
    # ack_timeout 30 min: the ack lapses at 1905 (shown at once), the alert pages at the next flush
    assert h.run(2200) == [(1905, "oncall", "update", "update"), (2130, "oncall", "reply", "firing")]
    assert h.alerts()["1h/5m"].state == "firing"
    assert h.notifications[1].broadcast


def test_silenced_alerts_are_not_notified_and_do_not_open_a_group() -> None:
    h = Harness(BASE)
    actions.create_silence(
        h.store,
        ['sla="gl-posting-errors"'],
        starts_at=None,
        ends_at=T0 + 3600,
        author="bob",
        comment="maintenance",
        now=T0,
        source="cli",
    )
    h.set(PAGE)
    assert h.run(3590) == []
    assert h.alerts()["1h/5m"].state == "suppressed"
    assert h.store.groups() == {}
    # the silence ends: the alert is notified like a new one
    assert h.run(3700) == [(3630, "oncall", "post", "firing")]


def test_the_sla_wide_alert_is_inhibited_while_a_slice_fires() -> None:
    h = Harness(
        PER_SLA
        + """
inhibit_rules:
  - source_matchers: [slice=~".+"]
    target_matchers: [slice=""]
    equal: [sla]
"""
    )
    h.set(PAGE, south_campus=PAGE)
    assert h.run(100) == [(30, "oncall", "post", "firing")]
    alerts = h.alerts()
    assert alerts["1h/5m"].suppressed_by == (f"inhibited_by:{alerts['south-campus'].fingerprint}",)
    assert [a.slice for a in h.notifications[0].alerts] == ["hc.facility=south-campus"]
    h.set(PAGE, south_campus=CLEAR)  # at 105
    timeline = h.run(1000)
    # the slice resolves at 705 (in place), the SLA-wide alert is no longer inhibited and joins
    # the thread at the next flush
    assert timeline == [
        (705, "oncall", "update", "update"),
        (930, "oncall", "update", "update"),
        (930, "oncall", "reply", "firing"),
    ]
    assert h.alerts()["1h/5m"].state == "firing"


# T0 is Thursday 2026-05-28 20:26:40 UTC; Friday starts 12800 s later.
FRIDAY = 12800


def test_mute_time_interval_holds_notifications_until_it_ends() -> None:
    h = Harness(
        BASE.replace(
            "receivers:",
            """  routes:
    - matchers: [severity="page"]
      receiver: oncall
      mute_time_intervals: [thursdays]
receivers:""",
        )
        + """
time_intervals:
  - name: thursdays
    time_intervals: [{weekdays: [thursday]}]
"""
    )
    h.set(PAGE)
    assert h.run(FRIDAY + 400) == [(12930, "oncall", "post", "firing")]  # the first flush on Friday


def test_active_time_interval_delivers_only_inside_it() -> None:
    h = Harness(
        BASE.replace(
            "receivers:",
            """  routes:
    - matchers: [severity="page"]
      receiver: oncall
      active_time_intervals: [fridays]
receivers:""",
        )
        + """
time_intervals:
  - name: fridays
    time_intervals: [{weekdays: [friday]}]
"""
    )
    h.set(PAGE)
    assert h.run(FRIDAY + 400) == [(12930, "oncall", "post", "firing")]


ESCALATION = (
    BASE.replace(
        "receivers:\n  - name: oncall\n    console_configs: [{}]",
        """  escalation_policy: p1
receivers:
  - name: oncall
    console_configs: [{}]
  - name: lead
    console_configs: [{}]
  - name: director
    console_configs: [{}]
escalation_policies:
  - name: p1
    levels:
      - {receiver: oncall, timeout: 15m}
      - {receiver: lead, timeout: 15m}
      - {receiver: director, timeout: 30m}
    repeat: 1""",
    )
    .replace("ack_timeout: 30m", "ack_timeout: 4h")
    .replace("repeat_interval: 1h", "repeat_interval: 24h")
)


def test_escalation_levels_and_repeat() -> None:
    h = Harness(ESCALATION)
    h.set(PAGE)
    assert h.run(10000) == [
        (30, "oncall", "post", "firing"),  # level 1 is the route's own notification
        (930, "lead", "post", "escalated"),
        (930, "oncall", "reply", "escalated"),
        (1830, "director", "post", "escalated"),
        (1830, "oncall", "reply", "escalated"),
        (3630, "oncall", "reply", "escalated"),  # round 2 starts again at level 1
        # one post per incident per receiver: round 2 goes into the thread of round 1's post
        (4530, "lead", "reply", "escalated"),
        (4530, "oncall", "reply", "escalated"),
        (5430, "director", "reply", "escalated"),
        (5430, "oncall", "reply", "escalated"),
    ]
    lead, lead_note = h.notifications[1], h.notifications[2]
    assert lead.escalation is not None and lead.escalation["level"] == 2
    assert lead.note == "Escalated to lead (level 2 of 3, round 1 of 2): not acknowledged yet"
    assert not lead_note.broadcast and lead_note.parent_key == h.notifications[0].key
    round2 = h.notifications[5]
    assert round2.broadcast and "round 2 of 2" in round2.note
    assert h.notifications[6].parent_key == lead.key and h.notifications[6].broadcast


def test_acknowledgement_stops_escalation_and_its_timeout_restarts_it() -> None:
    h = Harness(ESCALATION.replace("ack_timeout: 4h", "ack_timeout: 20m"))
    h.set(PAGE)
    h.run(600)
    h.ack("1h/5m")  # at 605: before the lead's turn at 930
    assert h.run(1900) == [
        (605, "oncall", "update", "update"),
        (1805, "oncall", "update", "update"),  # the ack lapsed after 20 min
        (1830, "oncall", "reply", "firing"),  # re-paged at the next flush
    ]
    # escalation starts over from the re-page: the lead 15 min later
    assert h.run(2800) == [(2730, "lead", "post", "escalated"), (2730, "oncall", "reply", "escalated")]


def test_group_by_separates_slices() -> None:
    h = Harness(BASE)
    north = evaluation(
        at=T0, slice="hc.facility=north-campus", labels={"hc.facility": "north-campus"}, burn_rates=PAGE
    )
    south = evaluation(
        at=T0, slice="hc.facility=south-campus", labels={"hc.facility": "south-campus"}, burn_rates=PAGE
    )
    h.feed(north, south)
    assert h.run(100) == [(30, "oncall", "post", "firing")] * 2
    assert {n.group_labels["slice"] for n in h.notifications} == {
        "hc.facility=north-campus",
        "hc.facility=south-campus",
    }


def test_dispatch_delivers_every_planned_row_in_order() -> None:
    h = Harness(PER_SLA)
    h.set(PAGE)
    h.run(60)
    h.set(PAGE, south_campus=PAGE)
    h.run(400)
    h.dispatcher.drain(60)
    kinds = [(d.item.action, d.item.notification.kind) for d in h.sender.delivered]
    # the console integration gets the post, the in-place update (send_updates) and the reply
    assert kinds == [("post", "firing"), ("update", "update"), ("post", "firing")]
    assert {r.status for r in h.store.outbox.values()} == {"sent"}
