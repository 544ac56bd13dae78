from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from vitals.kernel.settings import STARTER_CONFIG_DIR
from vitals.shell.cli import main
from vitals.shell.config_cli import check_config_dir


def test_the_starter_config_is_valid() -> None:
    assert check_config_dir(STARTER_CONFIG_DIR) == []


def test_init_copies_the_starter_and_check_names_file_line_and_field(tmp_path: Path) -> None:
    runner = CliRunner()
    target = tmp_path / "cfg"
    result = runner.invoke(main, ["config", "init", str(target)])
    assert result.exit_code == 0, result.output
    assert (target / "collector.yaml").is_file()
    assert (target / "alerts.yaml").is_file()
    assert sorted(p.name for p in (target / "slas").glob("*.yaml")) == sorted(
        p.name for p in (STARTER_CONFIG_DIR / "slas").glob("*.yaml")
    )
    assert runner.invoke(main, ["config", "check", "--config", str(target)]).exit_code == 0

    (target / "slas" / "broken.yaml").write_text("slas:\n  - id: x\n    titel: typo\n")
    result = runner.invoke(main, ["config", "check", "--config", str(target)])
    assert result.exit_code == 1
    assert f"{target / 'slas' / 'broken.yaml'}:3: slas[0].titel: unknown field" in result.output


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["config", "init", str(tmp_path)]).exit_code == 0
    again = runner.invoke(main, ["config", "init", str(tmp_path)])
    assert again.exit_code != 0
    assert "--force" in again.output
    assert runner.invoke(main, ["config", "init", "--force", str(tmp_path)]).exit_code == 0
