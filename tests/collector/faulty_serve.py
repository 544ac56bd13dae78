"""``vitals serve`` with faults planted for the shutdown tests, as a subprocess of its own.

``python -m tests.collector.faulty_serve <vitals arguments>`` runs the real command line after
planting, by environment variable:

- ``VITALS_TEST_HOLD_MARK``: a request whose body contains these bytes is held for ever on the
  Ingest's worker thread, in the middle of its decoding (a huge request that never finishes);
- the component ``stuck`` (``--components stuck``): with ``VITALS_TEST_STUCK=hook`` its stop hook
  never returns.

Each fault logs a line when it starts holding, so the test waits for that state, not for time.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from tests.collector.harness import SECRET, Served, _ready, config_dir, wait_until
from tests.support.services import free_port

log = logging.getLogger("tests.faults")

#: Log lines the faults write when they start holding.
HOLDING_REQUEST = "test fault: holding a request in the ingest worker"
HOLDING_HOOK = "test fault: the stop hook holds"


def _plant_held_decode(mark: bytes) -> None:
    import collector.ingest as ingest

    original = ingest.decode

    def decode(signal: Any, body: bytes, encoding: Any) -> Any:
        if mark in body:
            log.warning(HOLDING_REQUEST)
            threading.Event().wait()  # never set: the worker is busy for ever
        return original(signal, body, encoding)

    ingest.decode = decode


def main() -> None:
    from vitals.shell import serve

    serve.COMPONENTS["stuck"] = "tests.collector.component_stuck"
    mark = os.environ.get("VITALS_TEST_HOLD_MARK")
    if mark:
        _plant_held_decode(mark.encode())
    from vitals.shell.cli import main as vitals_main

    vitals_main()


@contextmanager
def faulty_served(
    db_url: str,
    tmp_path: Path,
    collector_yaml: str | None = None,
    *,
    extra_args: Sequence[str] = (),
    environ: dict[str, str] | None = None,
) -> Iterator[Served]:
    """As ``harness.served``, through this module; the test sends the signal and waits itself."""
    http_port, grpc_port = free_port(), free_port()
    directory = config_dir(tmp_path, collector_yaml)
    log_path = tmp_path / f"serve-{http_port}.log"
    env = {**os.environ, "VITALS_HASH_SECRET": SECRET, "VITALS_COMPONENTS": "none", **(environ or {})}
    command = [
        sys.executable, "-m", "tests.collector.faulty_serve", "--log-level", "INFO", "serve",
        "--db", db_url, "--config", str(directory),
        "--http-port", str(http_port), "--grpc-port", str(grpc_port), *extra_args,
    ]  # fmt: skip
    log_file: IO[bytes] = log_path.open("wb")
    process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=env)
    try:
        wait_until(
            lambda: _ready(http_port) or process.poll() is not None, timeout=90, message="collector ready"
        )
        if process.poll() is not None:
            raise AssertionError(f"vitals serve exited with {process.returncode}:\n{log_path.read_text()}")
        yield Served(process, http_port, grpc_port, log_path)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log_file.close()


if __name__ == "__main__":
    main()
