"""Lifecycle: firing, hysteresis, flap damping, acks and their timeout — with explicit times."""

from __future__ import annotations

from dataclasses import replace

import pytest

from alerts import lifecycle
from alerts.labels import Observation, ObservationPolicy, observations
from alerts.lifecycle import AckError, LifecyclePolicy
from alerts.model import Alert
from tests.alerts.factories import T0, burn, evaluation

POLICY = LifecyclePolicy(
    resolve_after=600,
    flap_window=3600,
    flap_threshold=4,
    flap_resolve_after=1800,
    ack_timeout=3600,
    stale_after=None,
)


def obs(active: bool | None, at: float) -> Observation:
    ev = evaluation(at=at, firing=bool(active), burn_rates=[burn("1h/5m", firing=bool(active))])
    (o,) = observations(ev, ObservationPolicy(objective_alerts=False))
    return replace(o, active=active)


def run(
    points: list[tuple[float, bool | None]], policy: LifecyclePolicy = POLICY
) -> tuple[Alert | None, list[str]]:
    alert: Alert | None = None
    kinds: list[str] = []
    for offset, active in points:
        step = lifecycle.observe(alert, obs(active, T0 + offset), policy)
        alert = step.alert
        kinds += [e.kind for e in step.events]
    return alert, kinds


def test_fires_and_resolves_only_after_the_hold() -> None:
    alert, kinds = run([(0, True), (60, False), (300, False), (659, False)])
    assert alert is not None and alert.state == "firing" and alert.clear_since == T0 + 60
    assert kinds == ["fired", "cleared"]
    alert, kinds = run([(0, True), (60, False), (660, False)])
    assert alert is not None and alert.state == "resolved" and alert.resolved_at == T0 + 660
    assert kinds == ["fired", "cleared", "resolved"]


def test_hysteresis_holds_a_short_clear_and_counts_it() -> None:
    policy = replace(POLICY, flap_threshold=6)
    alert, kinds = run([(0, True), (60, False), (120, True), (180, False), (240, True)], policy)
    assert alert is not None and alert.state == "firing" and alert.episode == 1
    assert alert.hysteresis_holds == 2 and alert.flap_holds == 0
    assert kinds == ["fired", "cleared", "hysteresis_held", "cleared", "hysteresis_held"]


def test_flapping_stretches_the_hold_and_counts_the_page_it_saved() -> None:
    # 4 changes within the hour -> flapping: the hold becomes 30 min instead of 10
    points = [(0, True), (60, False), (120, True), (180, False), (240, True), (300, False)]
    alert, kinds = run([*points, (300 + 900, False)])
    assert alert is not None and alert.state == "firing" and alert.flapping
    assert "flapping" in kinds and "resolved" not in kinds
    # coming back after 15 min clear: plain hysteresis would have resolved and re-paged
    alert, kinds = run([*points, (300 + 900, False), (300 + 960, True)])
    assert alert is not None and alert.state == "firing" and alert.episode == 1
    assert alert.flap_holds == 1 and kinds[-1] == "flap_held"
    # clear for the whole stretched hold: resolves, flapping ends
    alert, kinds = run([*points, (300 + 1800, False)])
    assert alert is not None and alert.state == "resolved" and not alert.flapping


def test_a_new_episode_after_resolution() -> None:
    alert, kinds = run([(0, True), (60, False), (700, False), (5000, True)])
    assert alert is not None and alert.episode == 2 and alert.started_at == T0 + 5000
    assert kinds == ["fired", "cleared", "resolved", "fired"]


def test_no_data_neither_fires_nor_clears() -> None:
    alert, _ = run([(0, None)])
    assert alert is None
    alert, kinds = run([(0, True), (60, None), (5000, None)])
    assert alert is not None and alert.state == "firing" and kinds == ["fired"]


def test_older_observations_are_ignored() -> None:
    alert, kinds = run([(100, True), (50, False)])
    assert alert is not None and alert.clear_since is None and kinds == ["fired"]


def test_time_alone_resolves_a_held_alert() -> None:
    alert, _ = run([(0, True), (60, False)])
    assert alert is not None
    assert lifecycle.tick(alert, T0 + 600, POLICY, None).alert == alert
    resolved = lifecycle.tick(alert, T0 + 660, POLICY, None).alert
    assert resolved is not None and resolved.state == "resolved"


def test_stale_alert_clears_then_resolves() -> None:
    alert, _ = run([(0, True)])
    assert alert is not None
    policy = replace(POLICY, stale_after=3600)
    assert lifecycle.tick(alert, T0 + 3599, policy, None).alert == alert
    step = lifecycle.tick(alert, T0 + 3600, policy, None)
    assert [e.kind for e in step.events] == ["stale"] and step.alert is not None
    later = lifecycle.tick(step.alert, T0 + 3600 + 600, policy, None)
    assert later.alert is not None and later.alert.state == "resolved"


def test_acknowledge_and_ack_timeout() -> None:
    alert, _ = run([(0, True)])
    assert alert is not None
    acked = lifecycle.acknowledge(alert, "alice", "looking", T0 + 10).alert
    assert acked is not None and acked.state == "acknowledged" and acked.ack_comment == "looking"
    assert lifecycle.tick(acked, T0 + 10 + 3599, POLICY, 3600).alert == acked
    step = lifecycle.tick(acked, T0 + 10 + 3600, POLICY, 3600)
    assert step.alert is not None and step.alert.state == "firing" and step.alert.acknowledged_by is None
    assert [e.kind for e in step.events] == ["ack_expired"]
    # no timeout configured: the ack stays
    assert lifecycle.tick(acked, T0 + 10**6, POLICY, None).alert == acked


def test_acknowledging_a_resolved_alert_is_refused() -> None:
    alert, _ = run([(0, True), (60, False), (700, False)])
    assert alert is not None
    with pytest.raises(AckError, match="resolved"):
        lifecycle.acknowledge(alert, "alice", "", T0 + 800)


def test_resolution_ends_ack_and_suppression() -> None:
    alert, _ = run([(0, True)])
    assert alert is not None
    alert = lifecycle.acknowledge(alert, "alice", "", T0 + 1).alert
    assert alert is not None
    alert = lifecycle.suppress(alert, ("silence:1",), T0 + 2).alert
    assert alert is not None and alert.state == "suppressed"
    alert = lifecycle.observe(alert, obs(False, T0 + 3), POLICY).alert
    assert alert is not None
    resolved = lifecycle.tick(alert, T0 + 700, POLICY, None).alert
    assert resolved is not None and resolved.state == "resolved"
    assert resolved.acknowledged_by is None and resolved.suppressed_by == ()


def test_observations_carry_tiers_labels_and_stable_fingerprints() -> None:
    ev = evaluation(
        slice="hc.facility=north-campus",
        labels={"hc.facility": "north-campus"},
        burn_rates=[burn("1h/5m"), burn("1d/2h", severity="ticket", firing=False)],
    )
    (page,) = observations(ev, ObservationPolicy())
    # One alert per SLA slice: the tiers are its severity, not alerts of their own.
    assert page.active is True and page.tier == "1h/5m" and page.labels["severity"] == "page"
    assert page.labels["facility"] == "north-campus" and page.labels["hc_facility"] == "north-campus"
    assert page.labels["sla"] == "gl-posting-errors" and page.labels["priority"] == "P1"
    assert page.slice == "hc.facility=north-campus"
    (again,) = observations(replace(ev, at_unix_nano=ev.at_unix_nano + 10**12), ObservationPolicy())
    assert again.fingerprint == page.fingerprint
    slow = replace(ev, burn_rates=(burn("1h/5m", firing=False), burn("1d/2h", severity="ticket")))
    (ticket,) = observations(slow, ObservationPolicy())
    assert ticket.fingerprint == page.fingerprint, "a slow burn is the same alert, at ticket severity"
    assert ticket.tier == "1d/2h" and ticket.labels["severity"] == "ticket"
    other = replace(ev, slice="hc.facility=south-campus", labels={"hc.facility": "south-campus"})
    assert observations(other, ObservationPolicy())[0].fingerprint != page.fingerprint


def test_the_worst_tier_firing_is_the_severity() -> None:
    both = evaluation(burn_rates=[burn("1d/2h", severity="ticket"), burn("1h/5m"), burn("6h/30m")])
    (o,) = observations(both, ObservationPolicy())
    assert (o.tier, o.labels["severity"]) == ("1h/5m", "page")
    tickets = evaluation(burn_rates=[burn("3d/6h", severity="ticket"), burn("1d/2h", severity="ticket")])
    assert observations(tickets, ObservationPolicy())[0].tier in {"3d/6h", "1d/2h"}
    assert observations(tickets, ObservationPolicy())[0].labels["severity"] == "ticket"


def test_a_spent_budget_with_no_burn_is_a_ticket_never_a_page() -> None:
    burning_fast = evaluation(firing=True, sli=0.997)  # a page burn rate fires, the SLI still meets 99.5%
    (o,) = observations(burning_fast, ObservationPolicy())
    assert (o.active, o.tier, o.labels["severity"]) == (True, "1h/5m", "page")
    # Yesterday's outage spent the 7-day budget; nothing burns now: a ticket, whatever the priority.
    spent = evaluation(firing=False, sli=0.99, burn_rates=[burn("1h/5m", firing=False)])
    (o,) = observations(spent, ObservationPolicy())
    assert (o.active, o.tier, o.labels["severity"]) == (True, "objective", "ticket")
    assert o.labels["priority"] == "P1"
    (o,) = observations(spent, ObservationPolicy(objective_alerts=False))
    assert o.active is False and "severity" not in o.labels
    no_data = evaluation(status="no-data", sli=None)
    assert {o.active for o in observations(no_data, ObservationPolicy())} == {None}


def test_the_alert_starts_at_the_breach_the_rollups_show() -> None:
    breach = T0 - 52 * 60  # the engine started long after the stall began (or back-filled it)
    ev = replace(evaluation(at=T0), breach_started_unix_nano=int(breach * 1e9))
    step = lifecycle.observe(None, observations(ev, ObservationPolicy())[0], POLICY)
    assert step.alert is not None and step.alert.started_at == breach
    # Unknown to the SLA engine: the first evaluation that saw it.
    step = lifecycle.observe(None, observations(evaluation(at=T0), ObservationPolicy())[0], POLICY)
    assert step.alert is not None and step.alert.started_at == T0
    # A new episode never starts before the previous one resolved.
    resolved = replace(step.alert, resolved_at=T0 + 600, clear_since=T0 + 60)
    later = replace(evaluation(at=T0 + 900), breach_started_unix_nano=int(breach * 1e9))
    again = lifecycle.observe(resolved, observations(later, ObservationPolicy())[0], POLICY)
    assert again.alert is not None and again.alert.started_at == T0 + 600 and again.alert.episode == 2


def test_a_tier_change_keeps_the_alert_and_a_clear_keeps_its_severity() -> None:
    fast = observations(evaluation(at=T0), ObservationPolicy())[0]
    alert = lifecycle.observe(None, fast, POLICY).alert
    slow = [burn("1h/5m", firing=False), burn("1d/2h", severity="ticket")]
    slow_ev = evaluation(at=T0 + 600, burn_rates=slow)  # resolve_after since the last fast burn
    step = lifecycle.observe(alert, observations(slow_ev, ObservationPolicy())[0], POLICY)
    assert step.alert is not None and step.alert.tier == "1d/2h" and step.alert.episode == 1
    assert [e.kind for e in step.events] == ["tier_changed"]
    clear_ev = evaluation(at=T0 + 660, firing=False, burn_rates=[burn("1h/5m", firing=False)], sli=0.999)
    held = lifecycle.observe(step.alert, observations(clear_ev, ObservationPolicy())[0], POLICY).alert
    assert held is not None and held.clear_since == T0 + 660
    assert held.labels["severity"] == "ticket" and held.tier == "1d/2h"


def test_a_page_falls_back_to_a_ticket_only_after_resolve_after_without_a_fast_burn() -> None:
    fast = [burn("1h/5m"), burn("1d/2h", severity="ticket")]
    slow = [burn("1h/5m", firing=False), burn("1d/2h", severity="ticket")]
    alert: Alert | None = None
    seen: list[tuple[str, str]] = []
    # the short window dips under the page threshold every other minute, then the fast burn ends
    for minute, rates in enumerate([fast, slow, fast, slow, fast, *[slow] * 12]):
        ev = evaluation(at=T0 + 60 * minute, burn_rates=rates)
        step = lifecycle.observe(alert, observations(ev, ObservationPolicy())[0], POLICY)
        alert = step.alert
        assert alert is not None
        seen.append((alert.tier, alert.labels["severity"]))
    assert seen[:5] == [("1h/5m", "page")] * 5, "no flip-flop while the fast burn comes and goes"
    # the last page tier fired at minute 4; resolve_after (10 min) later it is a ticket
    assert seen[13] == ("1h/5m", "page") and seen[14] == ("1d/2h", "ticket")
    assert alert is not None and alert.page_seen_at == T0 + 240 and alert.episode == 1
