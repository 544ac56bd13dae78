"""The layer contracts in pyproject.toml hold today, and each one fails on the import it forbids.

A contract that cannot fail protects nothing, so every forbidden direction the issue names is tried
on a copy of the source tree with one violating module added, and lint-imports must refuse it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("vitals", "collector", "slas", "alerts", "dashboards", "simulator")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    # The copy comes first on the path, ahead of the editable install of the real tree.
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(tree / "pyproject.toml")],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.fixture(scope="module")
def source_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tree = tmp_path_factory.mktemp("tree")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tree / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copyfile(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


def test_the_tree_keeps_every_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("vitals/kernel", "collector.service"),  # the kernel imports no component
        ("vitals/kernel", "vitals.shell.cli"),  # ... nor the shell
        ("collector", "vitals.shell.serve"),  # no component imports the shell
        ("simulator", "vitals.shell.cli"),
        ("collector", "slas.engine"),  # the collector imports none of slas, alerts, dashboards
        ("collector", "alerts.model"),
        ("collector", "dashboards.views"),
        ("slas", "alerts.model"),  # slas imports neither alerts nor dashboards
        ("slas", "dashboards.views"),
        ("alerts", "dashboards.views"),  # alerts does not import dashboards
        ("simulator", "collector.spans"),  # the simulator speaks OTLP and imports no component
        ("simulator", "slas.engine"),
        ("dashboards", "slas.tables"),  # the dashboard reads slas through its read API only
        ("dashboards", "slas.scoring"),
    ],
)
def test_a_forbidden_import_breaks_the_contract(source_copy: Path, importer: str, imported: str) -> None:
    violation = source_copy / importer / "layer_violation.py"
    violation.write_text(f"from __future__ import annotations\n\nimport {imported}\n")
    try:
        result = lint_imports(source_copy)
    finally:
        violation.unlink()
    assert result.returncode != 0, result.stdout
    assert "BROKEN" in result.stdout
    importer_module = importer.replace("/", ".") + ".layer_violation"
    assert importer_module in result.stdout, result.stdout
