"""``vitals config``: start a config directory from the starter one, and validate all of it.

Each part validates its own file (the owner knows its rules); this command only runs them all,
so one command answers "will `vitals serve --config DIR` accept this directory?". Then it reads
the files together where one part depends on another: span sampling in collector.yaml against
the SLAs that count those spans (:mod:`vitals.shell.sampling_check`).
"""

from __future__ import annotations

import importlib
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from collector.config import FILE_NAME, load_collector_config
from slas.loading import load_sla_config, sla_files
from vitals.kernel.configfile import ConfigError, ConfigIssue, load_yaml
from vitals.kernel.options import settings_options
from vitals.kernel.settings import STARTER_CONFIG_DIR, Settings
from vitals.shell.sampling_check import sampling_findings

#: (what is checked, "module:function" taking the config directory)
CHECKS: tuple[tuple[str, str], ...] = (
    ("collector.yaml", "collector.config:load_collector_config"),
    ("collector.yaml pollers", "collector.queues.config:load_pollers"),
    ("slas/*.yaml", "slas.loading:load_slas"),
    ("alerts.yaml", "alerts.config:load_for"),
    ("dashboard.yaml", "dashboards.config:load"),
    ("exceptions.yaml", "exceptions.config:load_for"),
    ("capacity.yaml", "capacity.config:load"),
    ("analytics.yaml", "analytics.config:load"),
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


def check_sampling(config_dir: Path) -> tuple[list[str], list[str]]:
    """Problems and warnings where collector.yaml's sampling would make SLA counts estimates.

    Nothing when either file is invalid: its own check reports that.
    """
    try:
        sampling = load_collector_config(config_dir).sampling
        folder = config_dir / "slas"
        slas = load_sla_config(sla_files(folder)) if folder.is_dir() else None
    except ConfigError:
        return [], []
    if slas is None or not sampling.enabled:
        return [], []
    findings = sampling_findings(sampling, slas.slas, slas.places)
    if not findings:
        return [], []
    loaded = load_yaml(config_dir / FILE_NAME)
    out: dict[str, list[str]] = {"error": [], "warning": []}
    for finding in findings:
        field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in finding.field).lstrip(".")
        issue = ConfigIssue(loaded.file, loaded.line_of(finding.field), field, finding.message)
        out[finding.severity].append(str(issue))
    return out["error"], out["warning"]


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
@click.option(
    "--strict", is_flag=True, help="Fail on warnings too (e.g. SLA counts sampling makes estimates)."
)
def check(settings: Settings, strict: bool) -> None:
    """Validate every file in the config directory; exit 1 listing file:line: field: problem.

    Warnings (``warning: file:line: field: message``) name what serve accepts but is likely not
    meant, such as a sampling rule that turns an SLA's counts into estimates; they fail the
    check only with --strict.
    """
    directory = settings.config_dir
    if not directory.is_dir():
        raise click.ClickException(f"config directory {directory} does not exist")
    problems = check_config_dir(directory)
    sampling_problems, warnings = check_sampling(directory)
    problems += sampling_problems
    for line in problems:
        click.echo(line, err=True)
    for line in warnings:
        click.echo(f"warning: {line}", err=True)
    if problems or (strict and warnings):
        raise SystemExit(1)
    labels = [label for label, _ in CHECKS] + ["sampling against SLAs"]
    noted = f", {len(warnings)} warning(s)" if warnings else ""
    click.echo(f"{directory}: OK ({', '.join(labels)}){noted}")
