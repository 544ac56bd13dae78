"""What every benchmark shares: its common options, its meters, its stores and how it reports.

A benchmark prints progress on stderr while it runs and, at the end, one table on stdout: each
figure it measured beside what that figure is compared with (a reference measured in the same
run, or a goal). ``--out FILE`` writes the same figures as JSON together with the command line
that produced them and the machine it ran on, so a results page can quote both.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Engine

#: The hash secret of every collector and store a benchmark creates (never a real one).
BENCH_SECRET = "vitals-bench-secret-0123456789abcdef"

F = TypeVar("F", bound=Callable[..., Any])


# -- options -------------------------------------------------------------------------------------


def out_option() -> Callable[[F], F]:
    return click.option(
        "--out",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        metavar="FILE",
        help="Also write the figures as JSON, with the command that printed them and the machine.",
    )


def db_option(help_text: str = "") -> Callable[[F], F]:
    return click.option(
        "--db",
        default="sqlite",
        show_default=True,
        metavar="sqlite|URL",
        help="'sqlite' for a fresh SQLite file, or a PostgreSQL URL whose server gets a throwaway "
        "database." + (f" {help_text}" if help_text else ""),
    )


def parse_size(text: str) -> int:
    """``"1M"`` -> 1,000,000; ``"200k"`` -> 200,000; underscores and plain numbers too."""
    part = text.strip().lower().replace("_", "")
    scale = 1
    if part.endswith("m"):
        scale, part = 1_000_000, part[:-1]
    elif part.endswith("k"):
        scale, part = 1_000, part[:-1]
    try:
        return int(float(part) * scale)
    except ValueError as exc:
        raise click.BadParameter(f"expected a size such as 200k or 1M, got {text!r}") from exc


def parse_sizes(text: str) -> list[tuple[str, int]]:
    """``"1M,10M"`` -> [("1M", 1000000), ("10M", 10000000)]: each size with its label."""
    return [(part.strip(), parse_size(part)) for part in text.split(",") if part.strip()]


def say(message: str) -> None:
    """Progress, on stderr: the figures alone go to stdout."""
    click.echo(message, err=True)


# -- meters --------------------------------------------------------------------------------------


class Stopwatch:
    """Wall-clock seconds since it was started (or last restarted), on the performance counter."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started

    def restart(self) -> float:
        """The seconds so far; counting starts again from zero."""
        now = time.perf_counter()
        seconds, self.started = now - self.started, now
        return seconds


def peak_rss_kib(pid: int) -> int:
    """The peak resident set size of a process so far (Linux /proc; 0 where unknown)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0
    for line in lines:
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


# -- stores and collectors -----------------------------------------------------------------------


@contextlib.contextmanager
def scratch_dir() -> Iterator[Path]:
    """A temporary folder for one run's SQLite files, collector config and logs; removed after."""
    workdir = Path(tempfile.mkdtemp(prefix="vitals-bench-"))
    try:
        yield workdir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def migrated_engine(url: str) -> Iterator[Engine]:
    """An engine on the store at ``url`` with every component's tables; disposed after."""
    from vitals.kernel.db import create_engine, migrate

    engine = create_engine(url)
    try:
        migrate(engine)
        yield engine
    finally:
        engine.dispose()


@contextlib.contextmanager
def fresh_store(db: str, workdir: Path, label: str) -> Iterator[str]:
    """The URL of an empty store: a new SQLite file, or a throwaway database on the given server."""
    if db == "sqlite":
        yield f"sqlite:///{workdir / f'{label}.db'}"
        return
    import psycopg
    from sqlalchemy.engine import make_url

    from vitals.kernel.db import normalize_url

    url = make_url(normalize_url(db))
    name = f"vitals_bench_{label}_{uuid.uuid4().hex[:8]}"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def store_kind(url: str | URL) -> str:
    return "PostgreSQL" if str(url).startswith("postgresql") else "SQLite"


@contextlib.contextmanager
def scratch_store(db: str, label: str) -> Iterator[Engine]:
    """An engine on an empty, migrated store for one run (``fresh_store`` in a ``scratch_dir``),
    disposed and removed after."""
    with scratch_dir() as workdir, fresh_store(db, workdir, label) as url, migrated_engine(url) as engine:
        yield engine


@dataclass(frozen=True)
class Collector:
    """A ``vitals serve`` subprocess started by a benchmark."""

    process: subprocess.Popen[bytes]
    http_port: int
    grpc_port: int

    @property
    def http_base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_base(self) -> str:
        return f"http://127.0.0.1:{self.grpc_port}"


#: The benchmarks' collector.yaml unless one is given: acknowledged spans must all be counted.
NO_RETENTION = "retention:\n  spans: null\n  metrics: null\n"


@contextlib.contextmanager
def collector_process(
    url: str,
    workdir: Path,
    *,
    workers: int = 1,
    components: str = "none",
    collector_yaml: str | None = None,
) -> Iterator[Collector]:
    """A fresh collector on free ports over ``url``; stopped after. By default the receivers and
    the store writer only; ``workers`` > 1 is ``vitals serve --workers N`` (ready once every
    worker has answered), ``components`` its --components, ``collector_yaml`` its config."""
    from simulator.supervisor import free_port, http_ok, wait_until

    http_port, grpc_port = free_port("127.0.0.1"), free_port("127.0.0.1")
    config = workdir / "config"
    config.mkdir(exist_ok=True)
    # The load's spans are dated June 2025 (the same bytes every run): without a collector.yaml of
    # its own, retention must not delete them under a run that lasts past its first minute.
    (config / "collector.yaml").write_text(NO_RETENTION if collector_yaml is None else collector_yaml)
    command = [
        sys.executable, "-m", "vitals", "serve", "--db", url, "--config", str(config),
        "--http-port", str(http_port), "--grpc-port", str(grpc_port), "--components", components,
        "--workers", str(workers), "--api-port", "0",  # never the default 8502 another serve holds
    ]  # fmt: skip
    env = {**os.environ, "VITALS_HASH_SECRET": BENCH_SECRET, "VITALS_LOG_LEVEL": "WARNING"}
    log = workdir / "collector.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=workdir, env=env)
    try:
        ready = f"http://127.0.0.1:{http_port}/readyz"
        answered: set[str] = set()

        def all_ready() -> bool:
            if workers == 1:
                return http_ok(ready)
            answered.add(_worker_of(ready))
            return len(answered - {""}) == workers

        if not wait_until(all_ready, 90, lambda: process.poll() is None):
            raise click.ClickException(f"the collector did not start:\n{log.read_text()[-2000:]}")
        yield Collector(process, http_port, grpc_port)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()


def _worker_of(url: str) -> str:
    """The ``Vitals-Worker`` that answered a GET on a new connection ("" if none did)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.headers.get("Vitals-Worker", ""))
    except (OSError, urllib.error.URLError):
        return ""


def tree_pids(pid: int) -> list[int]:
    """A process and all its descendants (Linux /proc; those that ended meanwhile left out)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        try:
            pending += children(current)
        except OSError:
            continue
        found.append(current)
    return found


def rss_kib(pid: int) -> int:
    """The resident set size of a process now (Linux /proc; 0 where unknown)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0
    for line in lines:
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def stored_spans(url: str) -> int:
    from vitals.kernel.db import create_engine

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql("SELECT count(*) FROM spans").scalar_one())
    finally:
        engine.dispose()


# -- figures -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One measured figure and what it is compared with (a reference of the same run, or a goal)."""

    measure: str
    value: float
    unit: str
    digits: int = 0
    detail: str = ""
    reference: str = ""

    def text(self) -> str:
        shown = f"{self.value:,.{self.digits}f} {self.unit}".rstrip()
        return f"{shown} ({self.detail})" if self.detail else shown


def command_line(ctx: click.Context) -> str:
    """The command as typed, with the options that were given (defaults left out)."""
    words = [ctx.command_path]
    for param in ctx.command.params:
        if param.name is None or not isinstance(param, click.Option):
            continue
        source = ctx.get_parameter_source(param.name)
        if source in (None, click.core.ParameterSource.DEFAULT):
            continue
        value = ctx.params.get(param.name)
        flag = param.opts[0]
        if param.is_flag:
            if value:
                words.append(flag)
            continue
        shown = value.isoformat() if isinstance(value, datetime) else str(value)
        words += [flag, shown]
    return " ".join(words)


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "load_average": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def table(figures: Sequence[Figure]) -> list[str]:
    """The figures as aligned rows: measure, figure, reference."""
    rows = [("measure", "figure", "reference")] + [(f.measure, f.text(), f.reference) for f in figures]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    return [f"{m:<{widths[0]}}  {t:<{widths[1]}}  {r}".rstrip() for m, t, r in rows]


def report(figures: Sequence[Figure], out: Path | None, parameters: Mapping[str, Any] | None = None) -> None:
    """Print the figures as a table (stdout) and, with ``out``, write them as JSON."""
    ctx = click.get_current_context()
    command = command_line(ctx)
    host = machine()
    click.echo(f"{command}  ({host['cpus']} CPUs, load average {host['load_average']:.1f})")
    for line in table(figures):
        click.echo(f"  {line}")
    if out is not None:
        params = parameters if parameters is not None else ctx.params
        document = {
            "benchmark": ctx.info_name,
            "command": command,
            "parameters": {k: _jsonable(v) for k, v in params.items() if k != "out"},
            "machine": host,
            "figures": [asdict(f) for f in figures],
        }
        out.write_text(json.dumps(document, indent=2) + "\n")
        say(f"figures written to {out}")


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    return value


__all__ = [
    "BENCH_SECRET",
    "Collector",
    "Figure",
    "Stopwatch",
    "children",
    "collector_process",
    "command_line",
    "cpu_seconds",
    "db_option",
    "fresh_store",
    "migrated_engine",
    "out_option",
    "parse_size",
    "parse_sizes",
    "peak_rss_kib",
    "report",
    "rss_kib",
    "say",
    "scratch_dir",
    "scratch_store",
    "store_kind",
    "stored_spans",
    "table",
    "tree_pids",
]
