"""Routing tables in the style of Alertmanager's own dispatch tests (cases from its documentation)."""

from __future__ import annotations

import pytest

from alerts import config
from alerts.routing import GROUP_BY_ALL, group_key, group_labels, group_ref

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
    labels = {"team": "integration", "priority": "P4", "facility": "x", "sla": "a", "slice": "s"}
    (route,) = tree.route.match(labels)
    # Route.Key() + ":" + LabelSet.String(): no route index, ", " between labels
    assert group_key(route, labels) == '{}/{team="integration"}:{sla="a", slice="s"}'
    # labels outside group_by do not split groups; absent group_by labels are left out
    assert group_key(route, {**labels, "facility": "y"}) == group_key(route, labels)
    assert group_key(route, {"team": "integration", "sla": "a"}) == '{}/{team="integration"}:{sla="a"}'
    # match/match_re: Alertmanager's matcher value is the anchored pattern; matchers sorted by name
    supply = {"domain": "supply-chain", "priority": "P2", "facility": "x", "alertname": "SlaBurn"}
    (route,) = tree.route.match(supply)
    assert group_key(route, supply) == (
        '{}/{domain="supply-chain",priority=~"^(?:P[12])$"}:{alertname="SlaBurn"}'
    )
    # the root handles what no child matches
    (root,) = tree.route.match({"facility": "x", "alertname": "SlaBurn"})
    assert group_key(root, {"facility": "x", "alertname": "SlaBurn"}) == '{}:{alertname="SlaBurn"}'


def test_sibling_routes_with_the_same_matchers_share_the_key_but_not_the_group(
    tree: config.AlertsConfig,
) -> None:
    labels = {"domain": "finance", "facility": "south", "alertname": "SlaBurn"}
    finance, audit = tree.route.match(labels)
    # Alertmanager gives both the same Key() (so the same groupKey) and tells them apart by ID()
    assert finance.key == audit.key == '{}/{domain="finance"}'
    assert (finance.id, audit.id) == ('{}/{domain="finance"}/1', '{}/{domain="finance"}/2')
    assert group_ref(finance, labels) != group_ref(audit, labels)


NESTED = r"""
route:
  receiver: default
  group_by: [alertname]
  routes:
    - receiver: integration
      matchers: ['team="integration"', 'severity=~"page|ticket"']
      group_by: [sla, facility]
      routes:
        - receiver: unrelated
          matchers: ['sla="ap-match"']
        - receiver: general-ledger
          matchers: ['sla=~"gl-posting"', 'sla="gl-posting"', '"hc.facility"=~"north.*"', 'msg!~"a\d\""']
          match_re: {tier: '1h/5m|6h/30m'}
        - receiver: care-team
          matchers: ['"care team"="wound \"care\""']
          group_by: []
receivers:
  - name: default
  - name: integration
  - name: unrelated
  - name: general-ledger
  - name: care-team
"""


def test_nested_group_keys_are_alertmanagers_byte_for_byte() -> None:
    r"""Expected strings written out from dispatch/route.go, pkg/labels/matcher.go, LabelSet.String().

    Key(): the parent's key, "/", then the route's matchers sorted by name, value and operator
    (= != =~ !~), comma-joined in braces; match_re values are the anchored ^(?:...)$ pattern.
    Matcher.String(): a name without reserved characters is bare and its value escaped as in
    OpenMetrics (\\ \n \"); a name with a space, quote, brace, ... is Go-quoted, and so is its value.
    LabelSet.String(): names sorted, name="value" with Go's strconv.Quote, joined by ", ".
    """
    tree = config.parse(NESTED)
    labels = {
        "alertname": "SlaBurn",
        "team": "integration",
        "severity": "page",
        "sla": "gl-posting",
        "hc.facility": "north-campus",
        "tier": "1h/5m",
        "facility": 'St. Mary\'s "North"\twing\u00a0B\n',
    }
    (route,) = tree.route.match(labels)
    assert route.opts.receiver == "general-ledger"
    gl = (
        r'{hc.facility=~"north.*",msg!~"a\\d\"",sla="gl-posting",sla=~"gl-posting",'
        r'tier=~"^(?:1h/5m|6h/30m)$"}'
    )
    assert group_key(route, labels) == (
        r'{}/{severity=~"page|ticket",team="integration"}/' + gl + ":"
        r'{facility="St. Mary' + "'" + r's \"North\"\twing\u00a0B\n", sla="gl-posting"}'
    )
    assert route.id == r'{}/{severity=~"page|ticket",team="integration"}/0/' + gl + "/1"
    care = {"team": "integration", "severity": "ticket", "care team": 'wound "care"', "sla": "x"}
    (route,) = tree.route.match(care)
    # group_by: [] on a child groups everything together (as newer Alertmanager releases do)
    assert group_key(route, care) == (
        r'{}/{severity=~"page|ticket",team="integration"}/{"care team"="wound \"care\""}:{}'
    )


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
