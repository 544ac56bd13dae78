"""What the API app is built from: the store, tokens, the audit log, a clock and the configuration.

The app reads nothing else from its surroundings (no environment, no wall clock of its own), so
tests build it over SQLite with in-memory tokens and a fixed clock, and ``vitals serve`` over the
real store.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from access.model import AuditLog, TokenStore
from alerts.config import AlertsConfig

Clock = Callable[[], float]
#: Reads one more configuration document for ``/api/v1/config`` from the config directory: its
#: validated model (secrets not read; ``api.masked`` shows where each comes from), or None when
#: the file is absent; a ``ConfigError`` becomes the document's error.
ConfigDocument = Callable[[Path], Any]


@dataclass(frozen=True)
class ApiDeps:
    engine: Engine
    tokens: TokenStore
    audit: AuditLog
    #: The directory of collector.yaml, alerts.yaml and slas/ (``/api/v1/config``, SLA files).
    config_dir: Path
    #: The alerts.yaml in force (``api.routing.RoutingConfig``): routing finds an incident's alerts.
    alerts_config: Callable[[], AlertsConfig]
    clock: Clock = time.time
    #: Whether requests are anonymous (every scope) while no token exists: on loopback, or with
    #: ``--insecure-no-auth``. Beyond loopback a server whose tokens were all revoked refuses
    #: every request rather than opening up.
    anonymous_allowed: bool = True
    #: Configuration documents of components the API may not import (``dashboard.yaml``), by
    #: file name; the shell, which assembles components, supplies them.
    config_documents: Mapping[str, ConfigDocument] = field(default_factory=dict)
