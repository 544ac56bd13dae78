"""The documentation site builds strictly, and its generated references cover everything.

The command reference (mkdocs-click) and the config reference (docs/hooks/config_reference.py)
are generated, so they cannot say something false; what they can do is leave something out (a
lazy command group that the generator cannot open, a nested model the hook does not reach). These
tests build the real site and look for every command, option and config field in its HTML,
walking the click tree and the pydantic models independently of the generators.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import click
import pytest
from pydantic import BaseModel

from alerts.schema import AlertsFileModel
from collector.config import CollectorConfig
from collector.queues.config import AnyPoller
from dashboards.config import DashboardConfig
from slas.spec import SLA, EvaluationSettings, SlaFile
from vitals.kernel.db import load_all_tables
from vitals.kernel.timeintervals import IntervalSet, NamedInterval
from vitals.shell.cli import main

ROOT = Path(__file__).resolve().parents[2]
MKDOCS = Path(sys.executable).parent / "mkdocs"

#: The models that validate each config file (or a section kept raw by its file's model).
CONFIG_ROOTS: tuple[Any, ...] = (
    CollectorConfig,
    AnyPoller,
    AlertsFileModel,
    SlaFile,
    SLA,
    NamedInterval,
    EvaluationSettings,
    DashboardConfig,
)
#: ``during:`` is written as a name or an inline interval, never in IntervalSet's own shape; the
#: interval itself is documented under ``time_intervals``.
NOT_WRITTEN_AS_FIELDS = {IntervalSet}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [str(MKDOCS), "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return out


def page(site: Path, path: str) -> str:
    return (site / path / "index.html").read_text(encoding="utf-8")


def commands(command: click.Command, ctx: click.Context) -> Iterator[tuple[click.Context, click.Command]]:
    """Every command under ``command`` (itself included), each with its context."""
    yield ctx, command
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, f"{ctx.command_path} {name} cannot be loaded"
            yield from commands(sub, click.Context(sub, info_name=name, parent=ctx))


def sections(html: str) -> dict[str, str]:
    """Heading id -> the HTML from that heading to the next one."""
    starts = [(m.start(), m["id"]) for m in re.finditer(r'<h[1-6] id="(?P<id>[^"]+)"', html)]
    ends = [start for start, _ in starts[1:]] + [len(html)]
    return {anchor: html[start:end] for (start, anchor), end in zip(starts, ends, strict=True)}


def test_every_command_and_option_is_in_the_command_reference(site: Path) -> None:
    by_heading = sections(page(site, "reference/commands"))
    seen = 0
    for ctx, command in commands(main, click.Context(main, info_name="vitals")):
        anchor = ctx.command_path.replace(" ", "-")
        assert anchor in by_heading, f"`{ctx.command_path}` has no section in the command reference"
        for param in command.get_params(ctx):
            if isinstance(param, click.Option) and not param.hidden:
                for opt in param.opts:
                    assert f"<code>{opt}</code>" in by_heading[anchor], f"{ctx.command_path} {opt}"
        seen += 1
    # The root group is lazy: a generator that could not open it would document one command.
    assert seen > 30


def models(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation not in NOT_WRITTEN_AS_FIELDS:
            yield annotation
        return
    for arg in get_args(annotation):
        yield from models(arg)


def config_models() -> dict[type[BaseModel], set[str]]:
    """Every model reachable from the config roots -> the YAML names of its fields."""
    found: dict[type[BaseModel], set[str]] = {}
    pending = [model for root in CONFIG_ROOTS for model in models(root)]
    while pending:
        model = pending.pop()
        if model in found:
            continue
        # Fields excluded from dumps are retired spellings, refused with how to write them now.
        fields = {name: info for name, info in model.model_fields.items() if not info.exclude}
        found[model] = {info.alias or name for name, info in fields.items()}
        for info in fields.values():
            pending.extend(models(info.annotation))
            for meta in info.metadata:
                pending.extend(models(meta))
    return found


def field_tables(html: str) -> list[set[str]]:
    """The first column of every table in a page: the field names of a generated table."""
    return [
        set(re.findall(r"<tr>\s*<td><code>([^<]+)</code></td>", table))
        for table in re.findall(r"<table>.*?</table>", html, flags=re.DOTALL)
    ]


def test_every_config_field_is_in_the_config_reference(site: Path) -> None:
    tables = [
        table
        for name in ("collector", "alerts", "slas", "dashboard")
        for table in field_tables(page(site, f"reference/config/{name}"))
    ]
    found = config_models()
    assert len(found) > 40  # the walk reaches the nested models, not only the roots
    for model, fields in found.items():
        assert fields in tables, f"{model.__module__}.{model.__qualname__} has no table of its fields"


def test_every_config_field_is_described(site: Path) -> None:
    undescribed = [
        f"{page_name}: {field}"
        for page_name in ("collector", "alerts", "slas", "dashboard")
        for field in re.findall(
            r"<tr>\s*<td><code>([^<]+)</code></td>(?:\s*<td>(?:(?!</td>).)*</td>){2}\s*<td></td>\s*</tr>",
            page(site, f"reference/config/{page_name}"),
            flags=re.DOTALL,
        )
    ]
    assert not undescribed, (
        "give these fields a description (Field(description=...) or a #: comment above them): "
        + ", ".join(undescribed)
    )


def test_every_table_and_column_of_the_store_is_documented(site: Path) -> None:
    html = page(site, "reference/store")
    for table in load_all_tables().sorted_tables:
        assert f"<code>{table.name}</code>" in html, f"table {table.name}"
        for column in table.columns:
            assert f"<code>{column.name}</code>" in html, f"{table.name}.{column.name}"


def test_nothing_is_loaded_from_the_internet(site: Path) -> None:
    external = re.compile(r'<(?:script|link|img)\b[^>]*\b(?:src|href)="(?:https?:)?//', re.IGNORECASE)
    for html_file in site.rglob("*.html"):
        text = html_file.read_text(encoding="utf-8")
        assert not external.search(text), f"{html_file.relative_to(site)} loads an external resource"
        assert "fonts.googleapis" not in text and "fonts.gstatic" not in text
