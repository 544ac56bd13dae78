"""The starter alerts.yaml routes by the owner and priority that the starter SLA files declare.

Every (owner, priority) of the starter SLAs reaches its team's receiver; P1 pages at any hour,
P2 in business hours, P3 and P4 never; escalation only where a route pages; one incident per
team and interface (a queue's backlog and stuck alerts share a group).
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from alerts import config
from alerts.cli import alerts as alerts_cli
from alerts.routing import Route, group_key
from slas.service import load_config_dir
from slas.spec import SLA
from vitals.kernel.settings import STARTER_CONFIG_DIR

STARTER = STARTER_CONFIG_DIR / "alerts.yaml"
PAGES = {"P1": "always", "P2": ("business-hours",), "P3": "never", "P4": "never"}


@pytest.fixture(scope="module")
def cfg() -> config.AlertsConfig:
    return config.load(STARTER, read_secrets=False)


@pytest.fixture(scope="module")
def slas() -> list[SLA]:
    found = load_config_dir(STARTER_CONFIG_DIR).slas
    assert found
    return list(found)


def labels_of(sla: SLA, severity: str = "page", **extra: str) -> dict[str, str]:
    labels = {
        "alertname": sla.id,
        "sla": sla.id,
        "owner": sla.owner,
        "priority": sla.priority,
        "domain": sla.domain,
        "severity": severity,
        "interface": sla.interface or sla.id,
    }
    return {**labels, **extra}


def route_of(cfg: config.AlertsConfig, labels: dict[str, str]) -> Route:
    (route,) = cfg.route.match(labels)  # no continue: exactly one route handles an alert
    return route


def test_every_owning_team_has_its_receiver(cfg: config.AlertsConfig, slas: list[SLA]) -> None:
    owners = {sla.owner for sla in slas}
    assert owners <= set(cfg.receivers)
    # the demo prints to the console: every team receiver needs no secret
    for owner in owners:
        assert {i.kind for i in cfg.receivers[owner].integrations} == {"console"}
        assert cfg.receivers[owner].fallback == "console"


@pytest.mark.parametrize("severity", ["page", "ticket"])
def test_every_starter_sla_routes_to_its_team_with_its_priority_policy(
    cfg: config.AlertsConfig, slas: list[SLA], severity: str
) -> None:
    for sla in slas:
        route = route_of(cfg, labels_of(sla, severity))
        assert route.opts.receiver == sla.owner, sla.id
        assert route.opts.pages == PAGES[sla.priority], sla.id
        assert route.opts.group_by == ("owner", "interface")


@pytest.mark.parametrize("priority", ["P1", "P2", "P3", "P4"])
def test_paging_policy_by_priority_for_every_team(
    cfg: config.AlertsConfig, slas: list[SLA], priority: str
) -> None:
    for owner in sorted({sla.owner for sla in slas}):
        route = route_of(cfg, {"owner": owner, "priority": priority, "severity": "page"})
        assert route.opts.receiver == owner
        assert route.opts.pages == PAGES[priority]
        # escalation (team, lead, director) only where a fast burn can page
        if PAGES[priority] == "never":
            assert route.opts.escalation_policy is None
        else:
            policy = cfg.escalation_policies[route.opts.escalation_policy or ""]
            assert [level.receivers for level in policy.levels] == [(), ("oncall-lead",), ("director",)]


def test_business_hours_are_a_defined_interval(cfg: config.AlertsConfig) -> None:
    assert cfg.time_intervals["business-hours"]


def test_an_owner_without_a_route_still_reaches_the_console(cfg: config.AlertsConfig) -> None:
    route = route_of(cfg, {"owner": "a-new-team", "priority": "P1", "severity": "page"})
    assert route.opts.receiver == "console"


def test_one_broken_queue_is_one_incident_per_team(cfg: config.AlertsConfig, slas: list[SLA]) -> None:
    by_id = {sla.id: sla for sla in slas}
    queue = {"queue": "charges-outbound", "interface": "charges-outbound"}
    backlog = labels_of(by_id["queue-backlog-age"], slice="queue=charges-outbound", **queue)
    stuck = labels_of(by_id["queue-stuck"], severity="ticket", slice="queue=charges-outbound", **queue)
    keys = {group_key(route_of(cfg, labels), labels) for labels in (backlog, stuck)}
    assert len(keys) == 1
    # another queue is another incident
    other = {**backlog, "queue": "claims-outbound", "interface": "claims-outbound"}
    assert group_key(route_of(cfg, other), other) not in keys


def test_the_sla_wide_alert_is_quiet_while_a_slice_fires(cfg: config.AlertsConfig) -> None:
    (rule,) = cfg.inhibit_rules
    assert rule.equal == ("sla",)


def test_routes_test_shows_the_team_receiver() -> None:
    args = ["routes", "test", "--file", str(STARTER), "owner=finance-systems", "priority=P2", "severity=page"]
    result = CliRunner().invoke(alerts_cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "finance-systems"


SATURDAY = "2026-03-07T14:00:00Z"  # 08:00 in America/Chicago: outside business hours
WEDNESDAY = "2026-03-04T15:20:00Z"  # 09:20 in America/Chicago: inside
ESCALATION = (
    "escalation: team-lead-director: finance-systems, after 15m oncall-lead, after 30m director; "
    "no repeat; while it pages unacknowledged"
)


def routes_test(*args: str) -> tuple[str, list[str]]:
    """stdout (the receivers, one per line, as amtool) and the stderr lines (pages, escalation)."""
    result = CliRunner().invoke(
        alerts_cli, ["routes", "test", "--file", str(STARTER), *args], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return result.stdout, [line.strip() for line in result.stderr.splitlines()]


def test_routes_test_says_when_the_route_pages_and_how_it_escalates() -> None:
    out, said = routes_test("owner=finance-systems", "priority=P2", "severity=page", "--at", SATURDAY)
    assert out == "finance-systems\n"
    assert said == ["pages: business-hours (not at 2026-03-07 14:00:00 UTC: ticket)", ESCALATION]
    _, said = routes_test("owner=finance-systems", "priority=P2", "severity=page", "--at", WEDNESDAY)
    assert said[0] == "pages: business-hours (at 2026-03-04 15:20:00 UTC: page)"
    _, said = routes_test("owner=finance-systems", "priority=P1", "severity=page", "--at", SATURDAY)
    assert said == ["pages: always", ESCALATION]
    _, said = routes_test("owner=finance-systems", "priority=P1", "severity=ticket", "--at", WEDNESDAY)
    assert said[0] == "pages: always (severity=ticket: ticket)"  # a slow burn is a ticket anywhere
    _, said = routes_test("owner=finance-systems", "priority=P3", "severity=page", "--at", WEDNESDAY)
    assert said == ["pages: never (ticket)", "escalation: none"]


def test_routes_show_gives_every_route_its_paging_and_the_policies() -> None:
    args = ["routes", "show", "--file", str(STARTER), "--at", SATURDAY]
    result = CliRunner().invoke(alerts_cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    p2 = [line.strip() for line in lines if line.strip().startswith('priority="P2" -> finance-systems')]
    assert p2 == [
        'priority="P2" -> finance-systems (group_by [owner,interface]) '
        "[pages: business-hours (not at 2026-03-07 14:00:00 UTC: ticket); escalation: team-lead-director]"
    ]
    assert lines[-2:] == [
        "escalation policies:",
        "  team-lead-director: the route's receiver, after 15m oncall-lead, after 30m director; no repeat; "
        "while it pages unacknowledged",
    ]
