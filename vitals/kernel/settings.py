"""Where Vitals finds its store and its config, shared by every command.

One resolution order everywhere (flag, then environment variable, then default) so that
`vitals serve`, `vitals sla report` and `vitals dashboard` always agree on which store and
which config directory they mean.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DB_PATH = Path(".vitals") / "vitals.db"
STARTER_CONFIG_DIR = Path(__file__).resolve().parent.parent / "starter"

ENV_DB = "VITALS_DB"
ENV_CONFIG = "VITALS_CONFIG"


def default_db_url() -> str:
    """The embedded store: a SQLite file under ./.vitals/ of the working directory."""
    return f"sqlite:///{DEFAULT_DB_PATH}"


def default_config_dir() -> Path:
    """The starter config directory that ships inside the package (see `vitals config init`)."""
    return STARTER_CONFIG_DIR


@dataclass(frozen=True)
class Settings:
    """The two things every command that reads the store or the config needs."""

    db_url: str
    config_dir: Path

    @classmethod
    def resolve(cls, db: str | None = None, config: str | Path | None = None) -> Settings:
        db_url = db or os.environ.get(ENV_DB) or default_db_url()
        config_value = config or os.environ.get(ENV_CONFIG)
        config_dir = Path(config_value) if config_value else default_config_dir()
        return cls(db_url=db_url, config_dir=config_dir)
