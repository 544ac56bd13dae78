"""The ``vitals`` command line.

Sub-commands live with the package that owns them and are imported only when used, so
``vitals --help`` stays fast and a broken optional part cannot stop the others from starting.
"""

from __future__ import annotations

import importlib
import logging
import os
from typing import Any

import click

from vitals import __version__

#: command name -> "module:attribute" of the click command or group.
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("vitals.shell.serve:serve", "Run the collector: OTLP receivers, SLA evaluation, alerting."),
    "demo": ("vitals.shell.demo:demo", "Start everything with a synthetic health system (the main job)."),
    "simulate": ("simulator.cli:simulate", "Emit synthetic health-system telemetry over OTLP."),
    "sla": ("slas.cli:sla", "Check, report, back-test and import SLA files."),
    "alerts": ("alerts.cli:alerts", "Alert routing tests, acknowledgements and silences."),
    "dashboard": ("dashboards.cli:dashboard", "Run the Streamlit dashboard."),
    "queues": ("collector.queues.cli:queues", "Poll queue brokers once and print what they hold."),
    "bench": ("vitals.shell.bench:bench", "Benchmarks that print figures."),
    "config": ("vitals.shell.config_cli:config", "Create and validate a config directory."),
    "db": ("vitals.shell.db_cli:db", "Inspect and upgrade the store's schema."),
    "store": ("vitals.shell.store_cli:store", "Rows, bytes and time covered per table of the store."),
    "tokens": ("access.cli:tokens", "Create, list and revoke API and ingest tokens."),
    "audit": ("access.cli:audit", "Who did what, when and from where (the audit log)."),
    "exceptions": ("exceptions.cli:exceptions", "Failed transactions grouped, owned and replayed."),
    "capacity": ("capacity.cli:capacity", "Capacity: forecast peaks, headroom, backlog clear times."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        target, _help = COMMANDS[cmd_name]
        module_name, attribute = target.split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Show one-line help without importing every package.
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(
    cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110}
)
@click.version_option(__version__, prog_name="vitals")
@click.option(
    "--log-level",
    envvar="VITALS_LOG_LEVEL",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    help="Logging level (env VITALS_LOG_LEVEL).",
)
def main(log_level: str) -> None:
    """Vitals: SLA monitoring for healthcare integration.

    Collects OpenTelemetry traces and metrics from the integration estate, measures them against
    business SLAs written in YAML, alerts the right on-call person and shows it all on a dashboard.

    Every command that reads the store or the config takes --db URL and --config DIR
    (env VITALS_DB and VITALS_CONFIG).
    """
    logging.basicConfig(
        level=getattr(logging, log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if log_level.upper() != "DEBUG":
        # Migrations run on every start; their chatter is not news.
        logging.getLogger("alembic").setLevel(logging.WARNING)
        # Scheduled jobs run every few seconds; "Running job ..." lines would drown the log.
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
    os.environ.setdefault("VITALS_LOG_LEVEL", log_level.upper())


def run() -> Any:  # pragma: no cover - console entry for `python -m vitals`
    return main()
