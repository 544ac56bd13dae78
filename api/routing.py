"""The alerts.yaml the API routes by: read without its secrets, again when the file changes.

Acknowledging an incident needs the routing tree (which alerts an incident holds), nothing that
sends: so the API reads alerts.yaml without reading its secrets, and runs even in a
``vitals serve --components none`` whose environment has none of alerting's secrets. A file that
stops loading keeps the last good one (as alerting itself does); alerting audits reloads.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from alerts.config import FILE_NAME, AlertsConfig, load_for
from api.deps import Clock
from vitals.kernel.configfile import ConfigError

log = logging.getLogger(__name__)


class RoutingConfig:
    """Callable returning the alerts config in force; looks at the file at most every ``check_every`` s."""

    def __init__(self, config_dir: Path, clock: Clock, check_every: float = 2.0) -> None:
        self.config_dir = config_dir
        self.clock = clock
        self.check_every = check_every
        self._lock = threading.Lock()
        self._stamp = self._file_stamp()
        self._config = load_for(config_dir, read_secrets=False)  # a broken file stops the start
        self._checked = clock()

    def _file_stamp(self) -> tuple[float, int] | None:
        try:
            stat = (self.config_dir / FILE_NAME).stat()
        except OSError:
            return None
        return (stat.st_mtime, stat.st_size)

    def __call__(self) -> AlertsConfig:
        with self._lock:
            now = self.clock()
            if now - self._checked >= self.check_every:
                self._checked = now
                stamp = self._file_stamp()
                if stamp != self._stamp:
                    self._stamp = stamp
                    try:
                        self._config = load_for(self.config_dir, read_secrets=False)
                    except ConfigError as exc:
                        log.warning(
                            "alerts.yaml does not load; the API keeps routing by the last good one: %s", exc
                        )
            return self._config


__all__ = ["RoutingConfig"]
