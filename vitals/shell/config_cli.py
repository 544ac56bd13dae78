"""``vitals config``: start a config directory from the starter one, and validate all of it.

Each part validates its own file (the owner knows its rules); this command only runs them all,
so one command answers "will `vitals serve --config DIR` accept this directory?".
"""

from __future__ import annotations

import importlib
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from vitals.kernel.configfile import ConfigError
from vitals.kernel.options import settings_options
from vitals.kernel.settings import STARTER_CONFIG_DIR, Settings

#: (what is checked, "module:function" taking the config directory)
CHECKS: tuple[tuple[str, str], ...] = (
    ("collector.yaml", "collector.config:load_collector_config"),
    ("collector.yaml pollers", "collector.queues.config:load_pollers"),
    ("slas/*.yaml", "slas.loading:load_slas"),
    ("alerts.yaml", "alerts.config:load_for"),
    ("dashboard.yaml", "dashboards.config:load"),
)


def _loader(target: str) -> Callable[[Path], Any]:
    module_name, attribute = target.split(":")
    function: Callable[[Path], Any] = getattr(importlib.import_module(module_name), attribute)
    return function


def check_config_dir(config_dir: Path) -> list[str]:
    """Every problem in the directory, one line each (file:line: field: message)."""
    problems: list[str] = []
    for _label, target in CHECKS:
        try:
            _loader(target)(config_dir)
        except ConfigError as exc:
            problems.extend(str(issue) for issue in exc.issues)
    return problems


@click.group()
def config() -> None:
    """Create and validate a config directory (collector.yaml, alerts.yaml, slas/, dashboard.yaml)."""


@config.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite files that already exist in DIRECTORY.")
def init(directory: Path, force: bool) -> None:
    """Copy the starter config (shipped with Vitals) into DIRECTORY to edit and version.

    Then run services with --config DIRECTORY (or VITALS_CONFIG=DIRECTORY).
    """
    existing = [p for p in STARTER_CONFIG_DIR.rglob("*") if p.is_file()]
    clashes = [directory / p.relative_to(STARTER_CONFIG_DIR) for p in existing]
    clashes = [p for p in clashes if p.exists()]
    if clashes and not force:
        raise click.ClickException(
            f"{len(clashes)} file(s) already exist, e.g. {clashes[0]}; pass --force to overwrite them"
        )
    for source in existing:
        if "__pycache__" in source.parts:
            continue
        target = directory / source.relative_to(STARTER_CONFIG_DIR)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        click.echo(f"wrote {target}")
    click.echo(f"\nnext: vitals config check --config {directory}")


@config.command()
@settings_options
def check(settings: Settings) -> None:
    """Validate every file in the config directory; exit 1 listing file:line: field: problem."""
    directory = settings.config_dir
    if not directory.is_dir():
        raise click.ClickException(f"config directory {directory} does not exist")
    problems = check_config_dir(directory)
    if problems:
        for line in problems:
            click.echo(line, err=True)
        raise SystemExit(1)
    click.echo(f"{directory}: OK ({', '.join(label for label, _ in CHECKS)})")
