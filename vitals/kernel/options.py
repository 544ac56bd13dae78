"""The ``--db`` and ``--config`` options every command that reads the store or config takes."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

from vitals.kernel.settings import ENV_CONFIG, ENV_DB, Settings, default_db_url

F = TypeVar("F", bound=Callable[..., Any])


def settings_options(func: F) -> F:
    """Add ``--db``/``--config`` and hand the command a resolved ``settings: Settings``."""

    @click.option(
        "--db",
        "db",
        envvar=ENV_DB,
        metavar="URL",
        default=None,
        help=f"Store URL (SQLAlchemy). Default: {default_db_url()} (env {ENV_DB}). "
        "PostgreSQL: postgresql://user@host/dbname.",
    )
    @click.option(
        "--config",
        "config",
        envvar=ENV_CONFIG,
        metavar="DIR",
        default=None,
        type=click.Path(file_okay=False, path_type=str),
        help=f"Config directory with collector.yaml, alerts.yaml and slas/*.yaml (env {ENV_CONFIG}). "
        "Default: the starter config shipped with Vitals.",
    )
    @functools.wraps(func)
    def wrapper(*args: Any, db: str | None, config: str | None, **kwargs: Any) -> Any:
        return func(*args, settings=Settings.resolve(db, config), **kwargs)

    return wrapper  # type: ignore[return-value]
