"""A PostgreSQL server of the test's own, to stop, kill and restart without touching the shared one.

The machine's PostgreSQL on 5432 serves every test at once; a fault test that restarts the
database needs a server nobody else uses. ``private_postgres()`` runs ``initdb`` and ``pg_ctl``
(from ``/usr/lib/postgresql/<version>/bin``, or ``VITALS_TEST_PG_BIN``) on a free loopback port,
in a fresh directory; as root it runs them as the ``postgres`` user, which must own the data
directory (so the directory is made under the system temp folder, not under pytest's private one).

Missing binaries skip the test on a laptop and fail it under CI, like ``services.require``.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.services import free_port, port_open

__all__ = ["PrivatePostgres", "pg_bin", "private_postgres"]

USER = "vitals"
DATABASE = "vitals"


def pg_bin() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl`` (the newest installed version), or None."""
    chosen = os.environ.get("VITALS_TEST_PG_BIN")
    if chosen:
        return Path(chosen)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


@dataclass
class PrivatePostgres:
    """One server: its folder, port and the URL of its ``vitals`` database."""

    bin: Path
    folder: Path
    port: int

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def log(self) -> Path:
        return self.folder / "server.log"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{DATABASE}"

    def _run(self, *command: str, timeout: float = 60) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        result = subprocess.run(
            [*prefix, *command], capture_output=True, text=True, timeout=timeout, cwd=self.folder, check=False
        )
        if result.returncode != 0:
            raise AssertionError(
                f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}\n{self.server_log()}"
            )

    def server_log(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def init(self) -> None:
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            USER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )

    def start(self) -> None:
        """Start and wait until it accepts connections (``pg_ctl -w``)."""
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} "
            # fsync off is safe against a killed server (the OS keeps what was written); commits
            # stay synchronous, so an immediate stop loses nothing that was acknowledged.
            "-c fsync=off -c full_page_writes=off -c max_connections=100"
        )
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start"
        )

    def stop(self, mode: str = "fast") -> None:
        """``fast`` (a clean restart: sessions cut, a checkpoint) or ``immediate`` (a crash)."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")
        deadline = time.monotonic() + 30
        while port_open("127.0.0.1", self.port, timeout=0.2):
            if time.monotonic() > deadline:
                raise AssertionError(f"PostgreSQL still listening on {self.port} after stop")
            time.sleep(0.05)

    def create_database(self) -> None:
        import psycopg

        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user={USER} dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A started server with an empty ``vitals`` database; stopped and deleted afterwards."""
    binaries = pg_bin()
    if binaries is None or not (binaries / "initdb").exists():
        message = "PostgreSQL server binaries (initdb, pg_ctl) are not installed"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; under CI a service test must run, not skip", pytrace=False)
        pytest.skip(message)
    folder = Path(tempfile.mkdtemp(prefix="vitals-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    server = PrivatePostgres(binaries, folder, free_port())
    try:
        server.init()
        server.start()
        server.create_database()
        yield server
    finally:
        if server.data.exists() and port_open("127.0.0.1", server.port, timeout=0.2):
            with suppress(AssertionError):
                server.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)
