"""The options of every command that simulates the estate, declared once.

``vitals simulate``, ``vitals demo`` and the benchmarks that generate data take the same
``--seed``, ``--now``, ``--days``, ``--scenario``, ``--rate-scale`` and ``--live``: their spelling,
type and parsing live here, and each command gives only what differs for it (a default, a range,
its help). ``--now`` reaches a command as an aware datetime and ``--scenario`` as the loaded
scenario, so no command parses either itself.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import click

from simulator.runner import utc_now
from simulator.scenario import Scenario, load_scenario
from vitals.kernel.configfile import ConfigError

F = TypeVar("F", bound=Callable[..., Any])

#: The seed of every command that does not say otherwise.
DEFAULT_SEED = 7


def parse_now(value: str | None) -> datetime:
    """An ISO 8601 time (UTC unless it has an offset); the current time when none is given."""
    if not value:
        return utc_now()
    text = value.strip().replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise click.BadParameter(
            f"expected an ISO 8601 time such as 2025-03-12T15:00:00Z, got {value!r}"
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def now_given(ctx: click.Context) -> bool:
    """Whether ``--now`` was given, rather than defaulting to the current time."""
    return ctx.get_parameter_source("now") not in (None, click.core.ParameterSource.DEFAULT)


def seed_option(
    default: int = DEFAULT_SEED,
    help: str = "Seed of the generated data: the same seed and --now give the same data.",
) -> Callable[[F], F]:
    """``--seed N``, handed to the command as ``seed: int``."""
    return click.option("--seed", type=int, default=default, show_default=True, help=help)


def now_option(help: str) -> Callable[[F], F]:
    """``--now TIME``, handed to the command as ``now: datetime`` (the current time when not given)."""
    return click.option(
        "--now",
        default=None,
        metavar="TIME",
        callback=lambda _ctx, _param, value: parse_now(value),
        help=f"{help} Default: the current time.",
    )


def days_option(*, default: float, help: str, min: float = 0, max: float | None = None) -> Callable[[F], F]:
    """``--days N`` of history to back-fill (fractions allowed), handed to the command as ``days: float``."""
    return click.option(
        "--days", type=click.FloatRange(min=min, max=max), default=default, show_default=True, help=help
    )


def rate_scale_option(*, help: str, min: float, max: float) -> Callable[[F], F]:
    """``--rate-scale X``: every simulated volume times X, handed to the command as ``rate_scale: float``."""
    return click.option(
        "--rate-scale", type=click.FloatRange(min=min, max=max), default=1.0, show_default=True, help=help
    )


def live_option(*, default: bool, help: str) -> Callable[[F], F]:
    """``--live/--no-live``: keep emitting in real time after the back-fill (``live: bool``)."""
    return click.option("--live/--no-live", default=default, show_default=True, help=help)


def resolve_scenario(path: str | None, no_incidents: bool = False) -> Scenario | None:
    """The scenario at ``path`` (the shipped default without one); None for a healthy estate."""
    if no_incidents:
        return None
    try:
        return load_scenario(path)
    except ConfigError as exc:
        raise click.ClickException(f"invalid scenario:\n{exc}") from exc


def scenario_option(help: str, *, healthy_flag: bool = False) -> Callable[[F], F]:
    """``--scenario FILE`` (and, with ``healthy_flag``, ``--no-incidents``), handed to the command
    as the loaded ``scenario: Scenario | None``: an invalid file stops the command before it starts."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, scenario_path: str | None, no_incidents: bool = False, **kwargs: Any) -> Any:
            return func(*args, scenario=resolve_scenario(scenario_path, no_incidents), **kwargs)

        command: Any = wrapper
        if healthy_flag:
            command = click.option(
                "--no-incidents", is_flag=True, help="A healthy estate: ignore the scenario's incidents."
            )(command)
        command = click.option(
            "--scenario",
            "scenario_path",
            type=click.Path(exists=True, dir_okay=False),
            default=None,
            help=help,
        )(command)
        return command  # type: ignore[no-any-return]

    return decorate


__all__ = [
    "DEFAULT_SEED",
    "days_option",
    "live_option",
    "now_given",
    "now_option",
    "parse_now",
    "rate_scale_option",
    "resolve_scenario",
    "scenario_option",
    "seed_option",
]
