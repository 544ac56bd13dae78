"""analytics.yaml: optional, its defaults, and errors that name the file, the line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from analytics import config
from vitals.kernel.configfile import ConfigError
from vitals.kernel.settings import STARTER_CONFIG_DIR
from vitals.shell.config_cli import check_config_dir


def test_absent_or_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    assert config.load(tmp_path) == config.AnalyticsConfig()
    (tmp_path / "analytics.yaml").write_text("# nothing yet\n")
    loaded = config.load(tmp_path)
    assert (loaded.consumer_attributes, loaded.rollup_interval) == (["client.id"], 30.0)


def test_fields_are_read(tmp_path: Path) -> None:
    (tmp_path / "analytics.yaml").write_text(
        "consumer_attributes: [app.client_id, client.id]\nrollup_interval: 1m\n"
    )
    loaded = config.load(tmp_path)
    assert (loaded.consumer_attributes, loaded.rollup_interval) == (["app.client_id", "client.id"], 60.0)


@pytest.mark.parametrize(
    ("text", "line", "field", "words"),
    [
        ("rollup_interval: 30s\nconsumer_attributes: []\n", 2, "consumer_attributes", "at least 1 item"),
        ("consumer_attributes:\n  - client.id\n  - client.id\n", 1, "consumer_attributes", "listed twice"),
        ("consumer_attributes: [client.id]\nrollup_interval: 500ms\n", 2, "rollup_interval", ""),
        ("consumer_attributes: [client.id]\nrollup_interval: 0s\n", 2, "rollup_interval", "at least 1s"),
        ("\nconsumer_atributes: [client.id]\n", 2, "consumer_atributes", "unknown field"),
    ],
)
def test_errors_name_file_line_and_field(
    tmp_path: Path, text: str, line: int, field: str, words: str
) -> None:
    path = tmp_path / "analytics.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        config.load(tmp_path)
    (issue,) = raised.value.issues
    assert (Path(issue.file).name, issue.line, issue.field) == ("analytics.yaml", line, field)
    assert words in issue.message
    assert str(issue).startswith(f"{issue.file}:{line}: {field}: ")


def test_vitals_config_check_validates_it(tmp_path: Path) -> None:
    (tmp_path / "analytics.yaml").write_text("consumer_attributes: client.id\n")
    problems = [p for p in check_config_dir(tmp_path) if "analytics.yaml" in p]
    assert len(problems) == 1 and ":1: consumer_attributes: " in problems[0]


def test_the_starter_file_is_the_defaults() -> None:
    assert config.load(STARTER_CONFIG_DIR) == config.AnalyticsConfig()
