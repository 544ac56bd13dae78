"""The options every simulating command shares (``simulator.options``): parsed once, alike everywhere."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from simulator import options
from simulator.cli import simulate
from simulator.options import now_given, now_option, scenario_option, seed_option
from simulator.scenario import Scenario
from vitals.shell.bench import BENCHMARKS, bench
from vitals.shell.demo import demo

FIXED = datetime(2026, 3, 11, 14, 0, tzinfo=UTC)


@click.command()
@seed_option()
@scenario_option("Scenario.", healthy_flag=True)
@now_option("End of the history.")
@click.pass_context
def _toy(ctx: click.Context, *, seed: int, scenario: Scenario | None, now: datetime) -> None:
    name = scenario.name if scenario else None
    click.echo(f"{seed} {name} {now.isoformat()} {now_given(ctx)}")


def _run(*args: str) -> Any:
    return CliRunner().invoke(_toy, list(args))


def test_now_is_an_aware_time_utc_unless_it_has_an_offset() -> None:
    assert _run("--now", "2026-03-11T14:00:00Z").stdout.split()[2:] == ["2026-03-11T14:00:00+00:00", "True"]
    assert _run("--now", "2026-03-11T14:00:00").stdout.split()[2] == "2026-03-11T14:00:00+00:00"
    east = options.parse_now("2026-03-11T15:00:00+01:00")
    assert east == FIXED and east.utcoffset() == timedelta(hours=1)
    assert east.tzinfo == timezone(timedelta(hours=1))


def test_without_now_the_command_gets_the_current_time_and_knows_it_was_not_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(options, "utc_now", lambda: FIXED)
    assert _run().stdout.split() == ["7", "default", FIXED.isoformat(), "False"]


def test_a_bad_now_is_refused_naming_the_option() -> None:
    result = _run("--now", "yesterday")
    assert result.exit_code == 2
    assert "Invalid value for '--now'" in result.output and "ISO 8601" in result.output


def test_the_scenario_reaches_the_command_loaded_or_none_for_a_healthy_estate(tmp_path: Path) -> None:
    assert _run("--no-incidents", "--now", "2026-03-11T14:00:00Z").stdout.split()[:2] == ["7", "None"]
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\nincidents: [1]\n")
    result = _run("--scenario", str(broken), "--now", "2026-03-11T14:00:00Z")
    assert result.exit_code == 1
    assert "invalid scenario:" in result.output and "broken.yaml:2" in result.output


def _option(command: click.Command, flag: str) -> click.Option:
    (found,) = [p for p in command.params if isinstance(p, click.Option) and flag in p.opts]
    return found


def test_simulate_demo_and_the_benchmarks_declare_seed_and_now_alike() -> None:
    commands = [simulate, demo]
    for name in BENCHMARKS:
        command = bench.get_command(click.Context(bench), name)
        assert command is not None
        commands.append(command)
    seeds = [_option(c, "--seed") for c in commands if any("--seed" in p.opts for p in c.params)]
    assert (
        len(seeds) == 14
    )  # simulate, demo and twelve benchmarks (burst, scale and soak send live traffic: no --now)
    assert all(seed.type == click.INT and seed.show_default for seed in seeds)
    nows = [_option(c, "--now") for c in commands if any("--now" in p.opts for p in c.params)]
    assert len(nows) == 9  # simulate and eight benchmarks; the demo always runs at the real now
    for now in nows:
        assert (
            now.metavar == "TIME" and now.help is not None and now.help.endswith("Default: the current time.")
        )
        assert now.process_value(click.Context(simulate), "2026-03-11T14:00:00Z") == FIXED


def test_the_demo_back_fills_enough_for_every_starter_sla() -> None:
    """A week: every rolling window full, and lag objects past their deadline for days.

    A lag object counts in the minute of its deadline (start + within), so with no more history
    than the longest ``within`` (late-charges' 72 h) nothing would be due and that SLA would show
    no data, honestly.
    """
    from slas.loading import load_slas
    from vitals.kernel.settings import STARTER_CONFIG_DIR
    from vitals.shell.demo import DEMO_DAYS

    assert _option(demo, "--days").default == DEMO_DAYS
    slas = load_slas(STARTER_CONFIG_DIR)
    history_s = DEMO_DAYS * 86400
    assert all(s.window.rolling is None or s.window.rolling <= history_s for s in slas)
    withins = [s.sli.lag.within for s in slas if s.sli.lag is not None]
    assert max(withins) == 72 * 3600  # late-charges
    assert history_s - max(withins) >= 3 * 86400  # days of charges past their 72 h deadline


def test_demo_refuses_more_history_than_the_store_keeps(tmp_path: Path) -> None:
    # with the starter's 14-day retention, the oldest days would be deleted before being read
    config = tmp_path / "config"
    config.mkdir()
    (config / "collector.yaml").write_text("retention: {spans: 5d, metrics: 14d}\n", encoding="utf-8")
    result = CliRunner().invoke(demo, ["--days", "6", "--config", str(config), "--no-live", "--no-dashboard"])
    assert result.exit_code == 2
    said = "6 days of history is longer than the store keeps telemetry (spans 5d, metrics 14d"
    assert said in result.output
    assert "collector.yaml" in result.output
