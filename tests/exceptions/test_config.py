"""exceptions.yaml: defaults, secrets from the environment, errors naming file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from exceptions.config import MirthTarget, load_for, parse
from vitals.kernel.configfile import ConfigError
from vitals.shell.cli import main

GOOD = """\
interfaces:
  - name: charges-to-erp
    stage: charge.post
    system: erp
    labels: {owner: finance-systems}
    target:
      kind: mirth
      url: https://mirth.example.org:8443/api
      channel_id: 5f1c2d4e
      username: vitals
      password: {env: MIRTH_PASSWORD}
  - name: claims
    stage: claim.submit
    target: {kind: webhook, url: 'https://hooks.example.org/replay'}
"""


def test_a_valid_file(tmp_path: Path) -> None:
    config = parse(GOOD, tmp_path / "exceptions.yaml", {"MIRTH_PASSWORD": "pw"})
    charges = config.by_name["charges-to-erp"]
    assert isinstance(charges.target, MirthTarget) and charges.target.password.reveal() == "pw"
    assert (charges.rate.per_minute, charges.rate.burst) == (60.0, 10)
    assert config.interface_for("charge.post", "erp") is charges
    assert config.interface_for("charge.post", "other") is None
    assert config.interface_for("claim.submit", "any") is config.by_name["claims"]
    assert load_for(tmp_path).interfaces == ()  # no file: nothing replayable


@pytest.mark.parametrize(
    ("text", "line", "field", "words"),
    [
        (
            GOOD.replace("kind: mirth", "kind: ftp"),
            6,
            "interfaces[0].target",
            "does not match any of the expected tags",
        ),
        (
            GOOD.replace("url: https://mirth", "url: mirth"),
            8,
            "interfaces[0].target.url",
            "should match pattern",
        ),
        (GOOD.replace("    stage: claim.submit\n", ""), 12, "interfaces[1].stage", "Field required"),
        (GOOD.replace("name: claims", "name: charges-to-erp"), 1, "", "interface names must be unique"),
        (GOOD + "retries: 3\n", 15, "retries", "unknown field"),
    ],
)
def test_errors_name_file_line_and_field(
    tmp_path: Path, text: str, line: int, field: str, words: str
) -> None:
    path = tmp_path / "exceptions.yaml"
    with pytest.raises(ConfigError) as caught:
        parse(text, path, {"MIRTH_PASSWORD": "pw"})
    (issue,) = caught.value.issues
    assert (issue.file, issue.line, issue.field) == (str(path), line, field), issue
    assert words in issue.message


def test_a_missing_secret_is_an_error_of_its_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(GOOD, tmp_path / "exceptions.yaml", {})
    (issue,) = caught.value.issues
    assert issue.field == "interfaces[0].target.password" and "MIRTH_PASSWORD is not set" in issue.message


def test_vitals_config_check_checks_it(tmp_path: Path) -> None:
    (tmp_path / "exceptions.yaml").write_text(
        "interfaces:\n  - name: x\n    stage: s\n    target: {kind: webhook}\n"
    )
    result = CliRunner().invoke(main, ["config", "check", "--config", str(tmp_path)])
    assert result.exit_code == 1
    assert f"{tmp_path / 'exceptions.yaml'}:4" in result.output and "url" in result.output


def test_a_target_url_reads_the_environment_with_a_default(tmp_path: Path) -> None:
    text = (
        "interfaces:\n"
        "  - name: gl\n"
        "    stage: gl.posted\n"
        "    target: {kind: webhook, url: '${STANDIN_URL:-http://127.0.0.1:8590}/webhook'}\n"
    )
    file = tmp_path / "exceptions.yaml"
    assert parse(text, file, {}).by_name["gl"].target.url == "http://127.0.0.1:8590/webhook"
    moved = parse(text, file, {"STANDIN_URL": "http://127.0.0.1:40123"})
    assert moved.by_name["gl"].target.url == "http://127.0.0.1:40123/webhook"
    with pytest.raises(
        ConfigError, match=r"exceptions.yaml:4: .*target.url: environment variable NOPE is not set"
    ):
        parse(text.replace("STANDIN_URL:-http://127.0.0.1:8590", "NOPE"), file, {})
    with pytest.raises(ConfigError, match=r"target\.url"):
        parse(text.replace("http://127.0.0.1:8590", "ftp://x"), file, {})
