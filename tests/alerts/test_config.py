from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from alerts import config
from alerts.cli import alerts as alerts_cli
from vitals.kernel.configfile import ConfigError
from vitals.kernel.settings import STARTER_CONFIG_DIR

ALERTMANAGER_EXAMPLE = """
# Alertmanager's documented example, as its users would paste it.
global:
  resolve_timeout: 5m
  slack_api_url: 'https://hooks.slack.com/services/T000/B000/XXXX'
route:
  receiver: 'default-receiver'
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
  group_by: [cluster, alertname]
  routes:
  - receiver: 'database-pager'
    group_wait: 10s
    matchers:
    - service=~"mysql|cassandra"
  - receiver: 'frontend-pager'
    group_by: [product, environment]
    matchers:
    - team="frontend"
  - receiver: 'dev-pager'
    matchers:
      - service="inhouse-service"
    mute_time_intervals:
      - offhours
      - holidays
    continue: true
  - receiver: 'on-call-pager'
    matchers:
      - service="inhouse-service"
    active_time_intervals:
      - offhours
      - holidays
receivers:
- name: 'default-receiver'
  slack_configs:
  - channel: '#alerts'
    send_resolved: true
- name: 'database-pager'
  webhook_configs:
  - url: 'http://127.0.0.1:5001/'
- name: 'frontend-pager'
- name: 'dev-pager'
- name: 'on-call-pager'
inhibit_rules:
- source_matchers: [severity="critical"]
  target_matchers: [severity="warning"]
  equal: [alertname, cluster, service]
time_intervals:
- name: offhours
  time_intervals:
  - times:
    - start_time: '17:00'
      end_time: '24:00'
    weekdays: ['monday:friday']
    location: 'America/New_York'
- name: holidays
  time_intervals:
  - months: ['december']
    days_of_month: ['24:26']
"""


def test_alertmanager_example_loads_as_is() -> None:
    cfg = config.parse(ALERTMANAGER_EXAMPLE)
    assert cfg.summary() == {
        "routes": 5,
        "receivers": 5,
        "inhibit_rules": 1,
        "time_intervals": 2,
        "escalation_policies": 0,
    }
    (slack,) = cfg.receivers["default-receiver"].integrations
    assert slack.kind == "slack_webhook" and slack.send_resolved
    assert slack.url.value == "https://hooks.slack.com/services/T000/B000/XXXX"  # from global
    assert [r.opts.receiver for r in cfg.route.match({"service": "inhouse-service"})] == [
        "dev-pager",
        "on-call-pager",
    ]


def test_starter_config_is_valid() -> None:
    cfg = config.load(STARTER_CONFIG_DIR / "alerts.yaml")
    assert cfg.receivers and cfg.escalation_policies
    # the demo default delivers to the console, needing no secrets
    kinds = {i.kind for name in ("console", "integration-oncall") for i in cfg.receivers[name].integrations}
    assert kinds == {"console"}


def issues(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        config.parse(text, "alerts.yaml")
    return [str(i) for i in info.value.issues]


def test_errors_name_file_line_and_field() -> None:
    found = issues(
        """route:
  receiver: default
  routes:
    - matchers: ['severity=~"(unclosed"']
      receiver: pager
    - receiver: nobody
      group_by: ['...', sla]
receivers:
  - name: default
  - name: pager
"""
    )
    assert found[0].startswith(
        "alerts.yaml:4: route.routes[0].matchers: matcher 1: invalid regular expression"
    )
    assert found[1].startswith("alerts.yaml:7: route.routes[1].group_by: '...' must be the only entry")


def test_reference_errors_point_at_the_reference() -> None:
    found = issues(
        """route:
  receiver: default
  matchers: ['a="b"']
  routes:
    - receiver: nobody
      mute_time_intervals: [weekends]
      escalation_policy: p9
receivers:
  - name: default
    fallback: default
  - name: default
"""
    )
    assert "alerts.yaml:11: receivers[1].name: receiver 'default' is defined twice" in found
    assert any(i.startswith("alerts.yaml:10: receivers[0].fallback: fallback chain") for i in found)
    assert "alerts.yaml:3: route.matchers: the root route must match every alert (no matchers)" in found
    assert (
        "alerts.yaml:5: route.routes[0].receiver: receiver 'nobody' is not defined under receivers" in found
    )
    assert (
        "alerts.yaml:6: route.routes[0].mute_time_intervals[0]: time interval 'weekends' is not defined"
        in found
    )
    assert "alerts.yaml:7: route.routes[0].escalation_policy: escalation policy 'p9' is not defined" in found


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        (
            "receivers: [{name: r, email_configs: [{to: a@b}]}]",
            "the email integration is not available in Vitals",
        ),
        (
            "receivers: [{name: r, slack_configs: [{channel: '#a', api_url: x, title: '{{ .X }}'}]}]",
            "templates are not supported",
        ),
        ("receivers: [{name: r, slack_configs: [{channel: '#a'}]}]", "no api_url"),
        (
            "receivers: [{name: r, slack_configs: [{api_url: 'https://slack.com/api/chat.postMessage'}]}]",
            "needs a channel",
        ),
        ("receivers: [{name: r, webhook_configs: [{}]}]", "set exactly one of url, url_file and url_env"),
        ("receivers: [{name: r, console_configs: [{colour: red}]}]", "unknown field"),
        ("receivers: [{name: r}]\ntemplates: ['x.tmpl']", "templates are not supported"),
    ],
)
def test_unsupported_and_invalid_receivers(snippet: str, message: str) -> None:
    found = issues("route: {receiver: r}\n" + snippet)
    assert any(message in i for i in found), found


def test_escalation_policy_references() -> None:
    found = issues(
        """route: {receiver: r, escalation_policy: p}
receivers: [{name: r}]
escalation_policies:
  - name: p
    levels:
      - {receiver: r, timeout: 15m}
      - {receiver: lead, timeout: 15m}
"""
    )
    assert found == ["alerts.yaml:7: escalation_policies[0].levels[1]: receiver 'lead' is not defined"]


def test_missing_file_uses_the_console_default(tmp_path: Path) -> None:
    cfg = config.load_for(tmp_path)
    assert [i.kind for i in cfg.receivers["console"].integrations] == ["console"]


def test_cli_check(tmp_path: Path) -> None:
    good = tmp_path / "good"
    good.mkdir()
    (good / "alerts.yaml").write_text(ALERTMANAGER_EXAMPLE)
    result = CliRunner().invoke(alerts_cli, ["check", "--config", str(good)])
    assert result.exit_code == 0, result.output
    assert "SUCCESS" in result.output and "5 receivers" in result.output
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "alerts.yaml").write_text("route:\n  receiver: nobody\nreceivers:\n  - name: a\n")
    result = CliRunner().invoke(alerts_cli, ["check", "--config", str(bad)])
    assert result.exit_code == 1
    assert "FAILED" in result.output
    assert "alerts.yaml:2: route.receiver: receiver 'nobody' is not defined" in result.output


def test_cli_routes_test_prints_receivers_in_order(tmp_path: Path) -> None:
    (tmp_path / "alerts.yaml").write_text(ALERTMANAGER_EXAMPLE)
    runner = CliRunner()
    result = runner.invoke(
        alerts_cli, ["routes", "test", "--config", str(tmp_path), "service=inhouse-service"]
    )
    assert result.exit_code == 0
    assert result.output == "dev-pager\non-call-pager\n"
    result = runner.invoke(
        alerts_cli, ["routes", "test", "--config", str(tmp_path), "service=mysql", "team=frontend"]
    )
    assert result.output == "database-pager\n"
    result = runner.invoke(alerts_cli, ["routes", "test", "--config", str(tmp_path)])
    assert result.output == "default-receiver\n"
    verify = [
        "routes",
        "test",
        "--config",
        str(tmp_path),
        "--verify-receivers",
        "frontend-pager",
        "team=frontend",
    ]
    assert runner.invoke(alerts_cli, verify).exit_code == 0
    verify[-1] = "team=backend"
    assert runner.invoke(alerts_cli, verify).exit_code == 1
    shown = runner.invoke(alerts_cli, ["routes", "show", "--config", str(tmp_path)]).output
    assert 'service="inhouse-service" -> dev-pager' in shown and "mute: offhours,holidays" in shown
