"""``vitals sla``: check, report, back-test and import SLA files."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click
import orjson
import yaml

from slas.loading import SlaConfig, load_sla_path, sla_files
from slas.report import parse_time, replay_json, replay_text, report_json, report_table
from vitals.kernel.configfile import ConfigError
from vitals.kernel.options import settings_options
from vitals.kernel.settings import Settings
from vitals.kernel.units import NS, parse_duration

if TYPE_CHECKING:
    from slas.engine import SlaEngine
    from slas.model import Evaluation

__all__ = ["sla"]


def _fail(message: str) -> None:
    click.echo(message, err=True)
    sys.exit(1)


def _config(path: Path) -> SlaConfig:
    try:
        return load_sla_path(path)
    except ConfigError as exc:
        _fail(f"{exc}\n{len(exc.issues)} problem(s) in the SLA files")
        raise  # unreachable


def _time(value: str, now_ns: int, option: str) -> int:
    try:
        return parse_time(value, now_ns)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from exc


@click.group()
def sla() -> None:
    """Check, report, back-test and import SLA files.

    SLA files are YAML under slas/ in the config directory (--config); every field is in
    docs/reference/config/slas.md.
    """


@sla.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
@settings_options
def check(settings: Settings, path: Path | None) -> None:
    """Validate SLA files without running them.

    PATH is one file, a directory of SLA files, or a config directory holding slas/ (default: the
    --config directory). Every problem is listed with its file, line and field; exit status 1 if any.
    """
    target = path or settings.config_dir
    if path is None and not (target / "slas").is_dir():
        _fail(f"{target} has no slas/ directory")
    config = _config(target)
    ids = ", ".join(s.id for s in config.slas) or "none"
    click.echo(f"OK: {len(config.slas)} SLA(s) in {len(config.files)} file(s): {ids}")


@contextmanager
def _open(settings: Settings) -> Iterator[tuple[SlaConfig, SlaEngine]]:
    from slas.service import engine_from
    from vitals.kernel.db import create_engine, migrate

    folder = settings.config_dir / "slas"
    if not folder.is_dir():
        _fail(f"{settings.config_dir} has no slas/ directory (give --config DIR)")
    config = _config(settings.config_dir)
    db = create_engine(settings.db_url)
    try:
        migrate(db)
        yield config, engine_from(db, config)
    finally:
        db.dispose()


@sla.command()
@settings_options
@click.option(
    "--at",
    "at",
    default="now",
    show_default=True,
    help="Evaluate at TIME: now, -2h, ISO 8601 (UTC unless an offset is given).",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print JSON: {at, slas: [{id, slice, sli, status, ...}]}."
)
@click.option("--sla", "only", multiple=True, metavar="ID", help="Only this SLA (repeatable).")
def report(settings: Settings, at: str, as_json: bool, only: tuple[str, ...]) -> None:
    """Evaluate every SLA now (or --at TIME) from the store and print the result.

    Needs no running service: it first reads the telemetry the engine has not seen yet (and
    back-fills SLAs that are new or changed), keeping the engine's state in the store up to date.
    Run it with the same --config as `vitals serve`. One row per SLA and slice.
    """

    now = time.time_ns()
    at_ns = _time(at, now, "--at")
    if at_ns > now + 60 * NS:
        raise click.BadParameter("cannot evaluate in the future", param_hint="--at")
    with _open(settings) as (config, engine):
        unknown = sorted(set(only) - {s.id for s in config.slas})
        if unknown:
            _fail(f"unknown SLA id(s): {', '.join(unknown)}")
        evaluations = _catch_up_and_evaluate(engine, min(at_ns, now), list(only) or None)
    if as_json:
        click.echo(orjson.dumps(report_json(at_ns, evaluations), option=orjson.OPT_INDENT_2).decode())
    elif evaluations:
        click.echo(report_table(evaluations))
    else:
        click.echo("no SLAs configured")


def _catch_up_and_evaluate(engine: SlaEngine, at_ns: int, ids: list[str] | None) -> list[Evaluation]:
    from slas.engine import StepResult

    read = 0

    def progress(step: StepResult, left: dict[str, int]) -> None:
        nonlocal read
        read += step.spans_read + step.points_read + step.backfilled
        if step.more or left:
            click.echo(
                f"catching up: {read:,} telemetry rows read; back-filling {', '.join(sorted(left)) or '-'}",
                err=True,
            )

    engine.catch_up(progress)
    return engine.evaluate(at_ns, only_ready=True, ids=ids)


@sla.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@settings_options
@click.option("--from", "start", required=True, help="Start: ISO 8601, -7d, or Unix seconds.")
@click.option("--to", "end", default="now", show_default=True, help="End: ISO 8601, -1h, now.")
@click.option(
    "--step", default="5m", show_default=True, help="Evaluate every STEP (a duration such as 1m or 5m)."
)
@click.option("--sla", "only", multiple=True, metavar="ID", help="Only this SLA of PATH (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print transitions and alerts as JSON.")
def backtest(  # noqa: PLR0917 - click passes options by keyword anyway
    settings: Settings, path: Path, start: str, end: str, step: str, only: tuple[str, ...], as_json: bool
) -> None:
    """Replay the SLAs in PATH over stored history: when they would have breached and alerted.

    PATH is a file or directory of SLA files, which need not be configured yet (time intervals
    may come from the --config directory). Nothing is written to the store.
    """
    from slas.backtest import replay
    from slas.source import SqlTelemetrySource
    from vitals.kernel.db import create_engine

    interval_files = (
        sla_files(settings.config_dir / "slas") if (settings.config_dir / "slas").is_dir() else []
    )
    try:
        config = load_sla_path(path, interval_files)
    except ConfigError as exc:
        _fail(f"{exc}\n{len(exc.issues)} problem(s) in the SLA files")
        return
    now = time.time_ns()
    from_ns, to_ns = _time(start, now, "--from"), _time(end, now, "--to")
    if to_ns <= from_ns:
        raise click.BadParameter("--to must be after --from", param_hint="--to")
    try:
        step_ns = int(parse_duration(step) * NS)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--step") from exc
    if step_ns < 60 * NS:
        raise click.BadParameter("must be at least 1m", param_hint="--step")
    chosen = [s for s in config.slas if not only or s.id in only]
    if not chosen:
        _fail("no SLAs to back-test in PATH" + (f" matching {', '.join(only)}" if only else ""))
    db = create_engine(settings.db_url)
    source = SqlTelemetrySource(db)
    documents = []
    try:
        for sla_spec in chosen:
            click.echo(f"replaying {sla_spec.id} ...", err=True)
            replays = replay(sla_spec, source, from_ns=from_ns, to_ns=to_ns, step_ns=step_ns)
            if as_json:
                documents.append(replay_json(sla_spec.id, replays))
            else:
                click.echo(replay_text(sla_spec.id, from_ns, to_ns, step_ns, replays))
                click.echo("")
    finally:
        db.dispose()
    if as_json:
        click.echo(orjson.dumps({"slas": documents}, option=orjson.OPT_INDENT_2).decode())


@sla.command(name="import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@settings_options
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the SLA file here instead of printing it.",
)
@click.option("--force", is_flag=True, help="Overwrite --output if it exists.")
def import_(settings: Settings, file: Path, output: Path | None, force: bool) -> None:
    """Convert OpenSLO v1 SLO/SLI documents with metricSource type Vitals to a native SLA file."""
    from slas.openslo import convert_openslo

    try:
        conversion = convert_openslo(file)
    except ConfigError as exc:
        _fail(f"{exc}\ncannot import {file}: {len(exc.issues)} problem(s)")
        return
    for note in conversion.notes:
        click.echo(f"note: {note}", err=True)
    text = f"# Imported from {file.name} (OpenSLO v1) by vitals sla import\n" + yaml.safe_dump(
        {"slas": conversion.slas}, sort_keys=False, allow_unicode=True
    )
    if output is None:
        click.echo(text, nl=False)
        return
    if output.exists() and not force:
        _fail(f"{output} exists (use --force to overwrite)")
    output.write_text(text, encoding="utf-8")
    click.echo(f"wrote {len(conversion.slas)} SLA(s) to {output}", err=True)
