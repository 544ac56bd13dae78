#!/usr/bin/env python3
"""Set-up and run Vitals from a fresh clone with nothing but Python 3.11+ and pip.

    python3 dev.py demo     # the main job: collector + SLA engine + alerts + synthetic estate + dashboard
    python3 dev.py test     # the whole test suite
    python3 dev.py check    # ruff, mypy, layer contracts (lint-imports), docs (mkdocs build --strict)
    python3 dev.py vitals ARGS   # any `vitals` command, run inside the environment

Each command creates ./.venv and installs the project into it on first use (and again whenever
pyproject.toml changes), then runs. Extra arguments go to the underlying command (demo, test,
vitals). The documentation site builds from docs/ and mkdocs.yml: `.venv/bin/mkdocs serve`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
STAMP = VENV / ".vitals-installed"


def say(message: str) -> None:
    print(f"[dev] {message}", flush=True)


def ensure_venv() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py must explain itself on old Pythons
        sys.exit(f"Vitals needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if PYTHON.exists() and STAMP.exists() and STAMP.read_text().strip() == digest:
        return
    if not PYTHON.exists():
        say(f"creating virtual environment in {VENV}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    say("installing Vitals and its dependencies (first run only; about a minute)")
    pip = [str(PYTHON), "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "install", "--quiet", "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "install", "--quiet", "-e", f"{ROOT}[dev]"], check=True)
    STAMP.write_text(digest)


def ensure_chromium() -> None:
    """The browser tests drive Debian's Chromium; install it when we may (root with apt-get)."""
    if shutil.which("chromium") or os.environ.get("VITALS_SKIP_BROWSER_INSTALL"):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        say("chromium is not installed: the browser tests will be skipped (apt-get install chromium)")
        return
    say("installing Debian's chromium for the browser tests (apt-get install chromium)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    ok = subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=False, env=env).returncode == 0
    if not ok:
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=False, env=env)


def run(argv: list[str], env: dict[str, str] | None = None) -> int:
    os.chdir(ROOT)
    return subprocess.run(argv, check=False, env={**os.environ, **(env or {})}).returncode


def build_docs() -> int:
    """Build the documentation site the way a reader gets it; --strict fails on a broken link,
    anchor or page, and on a command or config model the generated reference cannot load."""
    with tempfile.TemporaryDirectory(prefix="vitals-site-") as site:
        argv = [str(BIN / "mkdocs"), "build", "--strict", "--site-dir", site]
        # Material prints a banner about MkDocs 2.0 on every build; it is not about this site.
        return run(argv, env={"NO_MKDOCS_2_WARNING": "1"})


def replace_with(argv: list[str]) -> int:
    """Become the command, so that Ctrl-C, SIGTERM and the exit code reach it and come from it
    directly, with no Python parent in between that could swallow a signal."""
    os.chdir(ROOT)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)


def main() -> int:
    args = sys.argv[1:]
    if not args or args[0] in {"-h", "--help", "help"}:
        print(__doc__)
        return 0
    command, rest = args[0], args[1:]
    if command not in {"demo", "test", "check", "vitals"}:
        print(__doc__)
        return 2
    ensure_venv()
    if command == "demo":
        return replace_with([str(BIN / "vitals"), "demo", *rest])
    if command == "vitals":
        return replace_with([str(BIN / "vitals"), *rest])
    if command == "check":
        codes = [
            run([str(BIN / "ruff"), "check", "."]),
            run([str(BIN / "ruff"), "format", "--check", "."]),
            run([str(BIN / "mypy")]),
            run([str(BIN / "mypy"), "docs/hooks"]),  # the MkDocs hooks live outside the packages
            run([str(BIN / "lint-imports")]),
            build_docs(),
        ]
        return max(codes)
    ensure_chromium()
    return replace_with([str(PYTHON), "-m", "pytest", *rest])


if __name__ == "__main__":
    sys.exit(main())
