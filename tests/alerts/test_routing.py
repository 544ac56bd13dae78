"""Routing tables in the style of Alertmanager's own dispatch tests (cases from its documentation)."""

from __future__ import annotations

import pytest

from alerts import config
from alerts.routing import GROUP_BY_ALL, group_key, group_labels

TREE = """
route:
  receiver: default
  group_by: [alertname]
  group_wait: 30s
  routes:
    - matchers: ['team="integration"']
      receiver: integration
      group_by: [sla, slice]
      group_wait: 10s
      routes:
        - matchers: ['severity="page"']
          receiver: integration-pager
          continue: true
        - matchers: ['priority=~"P1|P2"']
          receiver: integration-leads
        - matchers: ['priority="P3"']
          receiver: never-reached-after-a-match
    - matchers: ['domain="finance"']
      receiver: finance
      continue: true
      group_by: ['...']
      routes:
        - matchers: ['facility="north-campus"']
          receiver: finance-north
    - matchers: ['domain="finance"']
      receiver: finance-audit
    - matchers: ['facility=""']
      receiver: no-facility
      repeat_interval: 1h
    - match: {domain: supply-chain}
      match_re: {priority: 'P[12]'}
      receiver: supply
receivers:
  - name: default
  - name: integration
  - name: integration-pager
  - name: integration-leads
  - name: never-reached-after-a-match
  - name: finance
  - name: finance-north
  - name: finance-audit
  - name: no-facility
  - name: supply
"""


@pytest.fixture(scope="module")
def tree() -> config.AlertsConfig:
    return config.parse(TREE)


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        # no child matches: the root handles it
        ({"facility": "lakeside-asc", "domain": "clinical-operations"}, ["default"]),
        # continue on the first child fans out to the next sibling; the walk stops at the first
        # matching sibling without continue
        (
            {"team": "integration", "severity": "page", "priority": "P1", "facility": "x"},
            ["integration-pager", "integration-leads"],
        ),
        (
            {"team": "integration", "severity": "page", "priority": "P3", "facility": "x"},
            ["integration-pager", "never-reached-after-a-match"],
        ),
        # a matching child without continue ends the walk; no child of it matches -> itself
        ({"team": "integration", "priority": "P4", "facility": "x"}, ["integration"]),
        # continue at the second level: finance (or its child) and then finance-audit
        ({"domain": "finance", "facility": "north-campus"}, ["finance-north", "finance-audit"]),
        ({"domain": "finance", "facility": "south-campus"}, ["finance", "finance-audit"]),
        # the missing-label rule: facility="" matches alerts without a facility label
        ({"domain": "clinical-operations"}, ["no-facility"]),
        ({"domain": "clinical-operations", "facility": ""}, ["no-facility"]),
        # the deprecated match/match_re maps are ANDed like matchers, regexes anchored
        ({"domain": "supply-chain", "priority": "P2", "facility": "x"}, ["supply"]),
        ({"domain": "supply-chain", "priority": "P22", "facility": "x"}, ["default"]),
    ],
)
def test_receivers(tree: config.AlertsConfig, labels: dict[str, str], receivers: list[str]) -> None:
    assert [r.opts.receiver for r in tree.route.match(labels)] == receivers


def test_options_are_inherited_unless_set(tree: config.AlertsConfig) -> None:
    pager, leads = tree.route.match(
        {"team": "integration", "severity": "page", "priority": "P1", "facility": "x"}
    )
    assert pager.opts.group_by == ("sla", "slice")  # from its parent, not the root
    assert pager.opts.group_wait == 10.0  # parent's override
    assert pager.opts.group_interval == 300.0  # Alertmanager default, from the root
    assert pager.opts.repeat_interval == 4 * 3600.0
    assert leads.opts.group_by == ("sla", "slice")
    (no_facility,) = tree.route.match({"domain": "x"})
    assert no_facility.opts.repeat_interval == 3600.0
    assert no_facility.opts.group_by == ("alertname",)


def test_group_by_all_is_inherited(tree: config.AlertsConfig) -> None:
    north, audit = tree.route.match({"domain": "finance", "facility": "north-campus", "sla": "gl"})
    assert north.opts.group_by_all and north.opts.group_by == ()
    assert not audit.opts.group_by_all
    labels = {"domain": "finance", "facility": "north-campus", "sla": "gl", "tier": "1h/5m"}
    assert group_labels(north.opts, labels) == labels  # every label
    assert group_labels(audit.opts, labels) == {}  # group_by [alertname]: absent here


def test_group_keys_follow_alertmanager(tree: config.AlertsConfig) -> None:
    (route,) = tree.route.match(
        {"team": "integration", "priority": "P4", "facility": "x", "sla": "a", "slice": "s"}
    )
    key = group_key(
        route, {"team": "integration", "priority": "P4", "facility": "x", "sla": "a", "slice": "s"}
    )
    assert key == '{}/{team="integration"}/0:{sla="a",slice="s"}'
    # labels outside group_by do not split groups; absent group_by labels are left out
    other = group_key(
        route, {"team": "integration", "priority": "P4", "facility": "y", "sla": "a", "slice": "s"}
    )
    assert other == key
    assert group_key(route, {"team": "integration", "sla": "a"}) == '{}/{team="integration"}/0:{sla="a"}'
    # two routes with the same matchers at different positions have different keys
    finance, audit = tree.route.match({"domain": "finance", "facility": "south"})
    assert finance.key != audit.key


def test_mute_and_active_intervals_are_not_inherited() -> None:
    cfg = config.parse(
        """
route:
  receiver: a
  routes:
    - matchers: [x="1"]
      receiver: b
      mute_time_intervals: [weekends]
      active_time_intervals: [hours]
      routes:
        - matchers: [y="1"]
          receiver: c
receivers: [{name: a}, {name: b}, {name: c}]
time_intervals:
  - name: weekends
    time_intervals: [{weekdays: ['saturday', 'sunday']}]
  - name: hours
    time_intervals: [{times: [{start_time: '09:00', end_time: '17:00'}]}]
"""
    )
    (b,) = cfg.route.match({"x": "1"})
    (c,) = cfg.route.match({"x": "1", "y": "1"})
    assert b.opts.mute_time_intervals == ("weekends",) and b.opts.active_time_intervals == ("hours",)
    assert c.opts.mute_time_intervals == () and c.opts.active_time_intervals == ()
    assert c.opts.receiver == "c"


def test_group_by_all_constant() -> None:
    assert GROUP_BY_ALL == "..."
