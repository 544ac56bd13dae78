"""``vitals queues``: look at the brokers the way the collector's pollers do."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

import click
import orjson

from collector.queues import names
from collector.queues.config import PollersConfig, load_pollers
from collector.queues.poller import Poller, PollResult
from collector.queues.service import build_pollers
from vitals.kernel.configfile import ConfigError
from vitals.kernel.options import settings_options
from vitals.kernel.settings import Settings
from vitals.kernel.units import format_duration

COLUMNS = (
    ("depth", names.DEPTH),
    ("unacked", names.UNACKED),
    ("consumers", names.CONSUMERS),
    ("publish/s", names.PUBLISH_RATE),
    ("deliver/s", names.DELIVER_RATE),
    ("oldest", names.OLDEST_AGE),
    ("stuck", names.STUCK),
    ("length", names.STREAM_LENGTH),
)


def _load(settings: Settings) -> PollersConfig:
    try:
        return load_pollers(settings.config_dir)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)


def _cell(name: str, value: float | None) -> str:
    if value is None:
        return "-"
    if name == names.OLDEST_AGE:
        return format_duration(value) if value >= 1 else f"{value:.1f}s"
    if name == names.STUCK:
        return "STUCK" if value else "no"
    if name in (names.PUBLISH_RATE, names.DELIVER_RATE):
        return f"{value:.2f}"
    return f"{value:g}"


def render(result: PollResult) -> str:
    """A human-readable table of one poll."""
    head = f"{result.poller} ({result.broker}): "
    if not result.ok:
        return head + f"DOWN - {result.error}"
    lines = [head + f"{len(result.samples)} queue(s) in {result.duration_s * 1000:.0f} ms"]
    rows = []
    for sample in sorted(result.samples, key=lambda s: (s.queue, s.labels)):
        label = sample.queue + "".join(f" {k}={v}" for k, v in sample.labels)
        rows.append([label, *(_cell(metric, sample.values.get(metric)) for _, metric in COLUMNS)])
    if rows:
        header = ["queue", *(title for title, _ in COLUMNS)]
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            lines.append(
                "  "
                + "  ".join(
                    cell.ljust(w) if i == 0 else cell.rjust(w)
                    for i, (cell, w) in enumerate(zip(row, widths, strict=True))
                )
            )
    for queue in result.missing:
        lines.append(f"  {queue}: configured but the broker does not have it")
    for queue in result.disappeared:
        lines.append(f"  {queue}: disappeared since the last poll")
    return "\n".join(lines)


def as_json(result: PollResult) -> dict[str, Any]:
    return {
        "poller": result.poller,
        "broker": result.broker,
        "ok": result.ok,
        "error": result.error,
        "time": result.time_s,
        "queues": [{"queue": s.queue, **dict(s.labels), "values": dict(s.values)} for s in result.samples],
        "missing": list(result.missing),
        "disappeared": list(result.disappeared),
    }


@click.group()
def queues() -> None:
    """Queue brokers and message stores watched by the collector's pollers.

    Pollers are configured under `pollers:` in collector.yaml of the config directory; see
    `vitals queues check` and docs/how-to/queues.md.
    """


@queues.command()
@settings_options
def check(settings: Settings) -> None:
    """Validate the pollers section of collector.yaml and list what would run."""
    config = _load(settings)
    if config.file is None:
        click.echo(f"no collector.yaml in {settings.config_dir}: no broker pollers (trace latency runs)")
        return
    brokers = config.brokers
    click.echo(f"{config.file}: {len(brokers)} broker poller(s)")
    for p in brokers:
        state = "" if p.enabled else " (disabled)"
        click.echo(
            f"  {p.name}: {p.type} every {format_duration(p.interval)}, stuck after "
            f"{format_duration(p.stuck_after)}{state}"
        )
    tl = config.trace_latency
    click.echo(
        f"  {tl.name}: latency from traces every {format_duration(tl.interval)}"
        + ("" if tl.enabled else " (disabled)")
    )
    click.echo(
        f"  {config.otlp.name}: stuck detection for pushed gauges every "
        f"{format_duration(config.otlp.interval)}" + ("" if config.otlp.enabled else " (disabled)")
    )


def _selected(pollers: Sequence[Poller], wanted: Sequence[str]) -> list[Poller]:
    if not wanted:
        return list(pollers)
    known = {p.name for p in pollers}
    unknown = [w for w in wanted if w not in known]
    if unknown:
        raise click.BadParameter(
            f"no enabled poller named {', '.join(unknown)} (known: {', '.join(sorted(known)) or 'none'})",
            param_hint="--poller",
        )
    return [p for p in pollers if p.name in wanted]


@queues.command()
@settings_options
@click.option("--once", is_flag=True, help="Poll every broker once, print, and exit (exit 1 if one is down).")
@click.option("--poller", "wanted", multiple=True, metavar="NAME", help="Only this poller (repeatable).")
@click.option("--json", "as_json_output", is_flag=True, help="One JSON object per poll, one per line.")
@click.option(
    "--every",
    type=float,
    default=None,
    metavar="SECONDS",
    help="Seconds between rounds without --once. Default: the shortest configured interval.",
)
def poll(
    settings: Settings, once: bool, wanted: tuple[str, ...], as_json_output: bool, every: float | None
) -> None:
    """Print what each configured broker holds, as the collector would sample it.

    Without --once it polls again every interval (rates and stuck detection need more than one
    round) until Ctrl-C. Nothing is written to the store.
    """
    config = _load(settings)
    pollers = _selected(build_pollers(config), wanted)
    if not pollers:
        click.echo("no broker pollers configured (add a pollers: section to collector.yaml)", err=True)
        sys.exit(2)
    interval = every if every is not None else min(p.config.interval for p in pollers)
    try:
        while True:
            failed = False
            for poller in pollers:
                result = poller.poll()
                failed = failed or not result.ok
                if as_json_output:
                    click.echo(orjson.dumps(as_json(result)).decode())
                else:
                    click.echo(render(result))
            if once:
                sys.exit(1 if failed else 0)
            click.echo("") if not as_json_output else None
            time.sleep(interval)
    except KeyboardInterrupt:
        pass
    finally:
        for poller in pollers:
            poller.close()
