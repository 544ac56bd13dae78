"""``vitals bench``: every benchmark of Vitals, one module each, all of one shape.

Each benchmark is a click command with the same common options (``--seed`` and ``--now`` where it
generates data, as every simulating command declares them in :mod:`simulator.options`; ``--out``
for a JSON copy of its figures, see :mod:`vitals.shell.bench.common`) and prints a table of what
it measured beside its references. Benchmarks print figures; tests run them on tiny sizes and
never assert a speed.
"""

from __future__ import annotations

import importlib

import click

#: benchmark name -> one-line help; the command is ``vitals.shell.bench.<name>:<name>``.
BENCHMARKS: dict[str, str] = {
    "ingest": "OTLP/HTTP ingest: end-to-end spans/s and peak RSS vs references.",
    "simulate": "Back-fill the synthetic estate into a collector: time and spans/s.",
    "sla": "One SLA evaluation tick with 1M and 10M stored spans.",
    "queues": "Trace-derived queue latency: spans/s read and joined.",
    "alerts": "Alert routing, one evaluate+plan cycle at scale, outbox delivery rate.",
    "incidents": "The demo's incidents replayed: posts per incident, out-of-hours pages, latency.",
    "dashboard": "Server-side render time of every dashboard page.",
    "redaction": "PHI redactor scan rate (MiB/s) on adversarial strings, one per detector.",
    "fuzz": "Decode+convert+redact time per MiB of adversarial requests at growing sizes; random fuzzing.",
    "attacks": "The collector's peak RSS under hostile load (large, unauthenticated, long keys).",
    "scale": "Ingest into PostgreSQL with 1, 2, 4 collector processes beside SQLite, vs insert-only.",
    "soak": "Minutes at half the maximum rate, components on: RSS and latency at start and end, flat?",
    "burst": "Month-end burst through the JetStream ingest buffer: refused requests, lag, drain time.",
    "capacity": "Back-test of the capacity forecast on simulated history: MAPE vs seasonal naive.",
    "apis": "The APIs page's query (per API, per consumer) over API rollups of 10M spans; the fold's rate.",
}


class _LazyBench(click.Group):
    """Imports a benchmark's module only when that benchmark runs (or shows its help)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(BENCHMARKS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in BENCHMARKS:
            return None
        command = getattr(importlib.import_module(f"{__name__}.{cmd_name}"), cmd_name)
        if not isinstance(command, click.Command):
            raise TypeError(f"{__name__}.{cmd_name}:{cmd_name} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Benchmarks"):
            formatter.write_dl([(name, BENCHMARKS[name]) for name in self.list_commands(ctx)])


@click.group(cls=_LazyBench)
def bench() -> None:
    """Benchmarks that print figures; run them on a quiet machine.

    Each prints what it measured beside its references, and --out FILE keeps the figures as JSON.
    """


__all__ = ["BENCHMARKS", "bench"]
