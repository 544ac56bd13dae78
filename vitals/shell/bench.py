"""``vitals bench``: benchmarks that print figures (never timed assertions in tests)."""

from __future__ import annotations

import importlib

import click

#: benchmark name -> ("module:attribute", one-line help)
BENCHMARKS: dict[str, tuple[str, str]] = {
    "ingest": ("collector.bench:ingest", "OTLP/HTTP ingest: end-to-end spans/s and peak RSS vs references."),
    "simulate": ("simulator.bench:simulate", "Back-fill one day of the synthetic estate: time and spans/s."),
    "sla": ("slas.bench:sla", "One SLA evaluation tick with 1M and 10M stored spans."),
    "queues": ("collector.queues.bench:queues", "Trace-derived queue latency: spans/s read and joined."),
    "alerts": (
        "alerts.bench:alerts",
        "Alert routing, one evaluate+plan cycle at scale, outbox delivery rate.",
    ),
    "dashboard": ("dashboards.bench:dashboard", "Server-side render time of every dashboard page."),
}


class _LazyBench(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(BENCHMARKS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in BENCHMARKS:
            return None
        module_name, attribute = BENCHMARKS[cmd_name][0].split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Benchmarks"):
            formatter.write_dl([(name, BENCHMARKS[name][1]) for name in self.list_commands(ctx)])


@click.group(cls=_LazyBench)
def bench() -> None:
    """Benchmarks that print figures. Run them on a quiet machine; each prints what it measured."""
