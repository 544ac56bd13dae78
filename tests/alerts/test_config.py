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
    assert slack.url is not None
    assert slack.url.reveal() == "https://hooks.slack.com/services/T000/B000/XXXX"  # from global
    assert [r.opts.receiver for r in cfg.route.match({"service": "inhouse-service"})] == [
        "dev-pager",
        "on-call-pager",
    ]


def test_starter_config_is_valid() -> None:
    cfg = config.load(STARTER_CONFIG_DIR / "alerts.yaml")
    assert cfg.receivers and cfg.escalation_policies
    # the demo default delivers to the console, needing no secrets
    kinds = {
        i.kind for name in ("console", "integration-engineering") for i in cfg.receivers[name].integrations
    }
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
        "alerts.yaml:4: route.routes[0].matchers[0]: invalid regular expression '(unclosed': missing )"
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
        ("receivers: [{name: r, webhook_configs: [{}]}]", "set exactly one of url and url_file"),
        ("receivers: [{name: r, console_configs: [{colour: red}]}]", "unknown field"),
        ("receivers: [{name: r}]\ntemplates: ['x.tmpl']", "templates are not supported"),
    ],
)
def test_unsupported_and_invalid_receivers(snippet: str, message: str) -> None:
    found = issues("route: {receiver: r}\n" + snippet)
    assert any(message in i for i in found), found


SECRETS = """\
route: {receiver: r}
global:
  slack_api_url_file: slack-webhook-url
receivers:
  - name: r
    slack_configs:
      - channel: '#oncall'
        api_url: https://slack.com/api/chat.postMessage
        http_config: {authorization: {credentials: {env: BOT_TOKEN}}}
      - {}
    webhook_configs:
      - url: {file: hook-url}
      - url: {env: HOOK_URL}
        http_config: {basic_auth: {username: vitals, password_file: hook-password}}
slack:
  signing_secret: {file: secrets/slack-signing}
"""


def secrets_dir(tmp_path: Path) -> Path:
    (tmp_path / "secrets").mkdir()
    for name, value in {
        "slack-webhook-url": "https://hooks.slack.com/services/T0/B0/X\n",
        "hook-url": "http://127.0.0.1:5001/a\n",
        "hook-password": "pw-from-a-file\n",
        "secrets/slack-signing": "signing-secret-from-a-file\n",
    }.items():
        (tmp_path / name).write_text(value)
    return tmp_path


def test_secrets_are_read_from_env_and_files_beside_the_file(tmp_path: Path) -> None:
    """Every secret in alerts.yaml: ``{env: ...}``, ``{file: ...}`` (relative to the config
    directory) or the value; Alertmanager's ``*_file`` fields read the same way."""
    environ = {"BOT_TOKEN": "xoxb-from-env", "HOOK_URL": "http://127.0.0.1:5001/b"}
    cfg = config.parse(SECRETS, secrets_dir(tmp_path) / "alerts.yaml", environ)
    bot, webhook = cfg.receivers["r"].integrations[:2]
    assert bot.kind == "slack_bot" and bot.token is not None and bot.token.reveal() == "xoxb-from-env"
    assert webhook.kind == "slack_webhook" and webhook.url is not None  # the global URL, from its file
    assert webhook.url.reveal() == "https://hooks.slack.com/services/T0/B0/X"
    first, second = cfg.receivers["r"].integrations[2:]
    assert first.url is not None and first.url.reveal() == "http://127.0.0.1:5001/a"
    assert second.url is not None and second.url.reveal() == "http://127.0.0.1:5001/b"
    assert second.basic_password is not None and second.basic_password.reveal() == "pw-from-a-file"
    assert cfg.signing_secret is not None and cfg.signing_secret.reveal() == "signing-secret-from-a-file"
    shown = repr(cfg)
    assert "xoxb-from-env" not in shown and "pw-from-a-file" not in shown and "T0/B0" not in shown


def test_the_signing_secret_defaults_to_its_variable_and_the_api_token_is_not_read(tmp_path: Path) -> None:
    text = "route: {receiver: r}\nreceivers: [{name: r}]\n"
    cfg = config.parse(text, tmp_path / "alerts.yaml", {})
    assert cfg.signing_secret is None
    environ = {"VITALS_SLACK_SIGNING_SECRET": "s1", "VITALS_ALERTS_API_TOKEN": "t1"}
    cfg = config.parse(text, tmp_path / "alerts.yaml", environ)
    assert cfg.signing_secret is not None and cfg.signing_secret.reveal() == "s1"
    assert not hasattr(cfg, "api_token")
    assert config.parse(text + "api: {}\n", tmp_path / "alerts.yaml", {}).source.endswith("alerts.yaml")


@pytest.mark.parametrize(
    "field", ["token: {env: VITALS_ALERTS_API_TOKEN}", "token: inline-value", "token_env: X"]
)
def test_the_retired_api_token_is_a_config_error_with_its_replacement(tmp_path: Path, field: str) -> None:
    text = "route: {receiver: r}\nreceivers: [{name: r}]\napi:\n  " + field + "\n"
    with pytest.raises(ConfigError) as caught:
        config.parse(text, tmp_path / "alerts.yaml", {"VITALS_ALERTS_API_TOKEN": "t1"})
    name = field.split(":", maxsplit=1)[0]
    assert str(caught.value) == (
        f"{tmp_path / 'alerts.yaml'}:4: api.{name}: api.{name} is no longer read: API tokens are "
        "created with `vitals tokens create NAME --scope read`; see docs/how-to/tokens.md"
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("{env: BOT_TOKEN}", "{env: NO_BOT_TOKEN}"),
            "alerts.yaml:9: receivers[0].slack_configs[0].http_config.authorization.credentials: "
            "environment variable NO_BOT_TOKEN is not set",
        ),
        (("secrets/slack-signing", "secrets/gone"), "alerts.yaml:16: slack.signing_secret: file "),
        (
            ("- url: {file: hook-url}", "- url: {file: hook-url}\n        url_file: hook-url"),
            "alerts.yaml:12: receivers[0].webhook_configs[0]: set exactly one of url and url_file",
        ),
        (
            ("credentials: {env: BOT_TOKEN}", "credentials_env: BOT_TOKEN"),
            "alerts.yaml:9: receivers[0].slack_configs[0].http_config.authorization.credentials_env: "
            "credentials_env is no longer read: write credentials: {env: BOT_TOKEN}",
        ),
        (
            ("url: {env: HOOK_URL}", "url_env: HOOK_URL"),
            "alerts.yaml:13: receivers[0].webhook_configs[1].url_env: url_env is no longer read: "
            "write url: {env: HOOK_URL}",
        ),
        (
            ("signing_secret: {file: secrets/slack-signing}", "signing_secret_env: SLACK_SIGNING"),
            "alerts.yaml:16: slack.signing_secret_env: signing_secret_env is no longer read: "
            "write signing_secret: {env: SLACK_SIGNING}",
        ),
        (
            ("signing_secret: {file: secrets/slack-signing}", "max_request_age: 5m"),
            "alerts.yaml:15: slack: max_request_age: no longer read",
        ),
        (
            ("password_file: hook-password", "password_file: hook-password, password: x"),
            "alerts.yaml:14: receivers[0].webhook_configs[1].http_config.basic_auth: "
            "set only one of password and password_file",
        ),
    ],
)
def test_secret_errors_name_file_line_and_field(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    environ = {"BOT_TOKEN": "xoxb-from-env", "HOOK_URL": "http://127.0.0.1:5001/b"}
    text = SECRETS.replace(*change)
    with pytest.raises(ConfigError) as info:
        config.parse(text, secrets_dir(tmp_path) / "alerts.yaml", environ)
    assert expected in str(info.value), str(info.value)


def test_routing_commands_run_without_the_secrets(tmp_path: Path) -> None:
    """``routes test`` answers in CI where the bot token is not set; ``check`` insists on it."""
    (secrets_dir(tmp_path) / "alerts.yaml").write_text(SECRETS)
    runner = CliRunner()
    routed = runner.invoke(alerts_cli, ["routes", "test", "--config", str(tmp_path), "sla=x"], env={})
    assert routed.exit_code == 0 and routed.output == "r\n", routed.output
    checked = runner.invoke(alerts_cli, ["check", "--config", str(tmp_path)])
    assert checked.exit_code == 1 and "environment variable BOT_TOKEN is not set" in checked.output


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
