"""The live alerts.yaml: loaded at start, reloaded when the file changes or on request.

A reload that fails validation keeps the running config (as Alertmanager does) and is logged
and audited with the errors; a successful one is audited with the old and new digests.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from access.model import AuditEntry
from alerts.config import FILE_NAME, AlertsConfig, load_for
from alerts.model import Clock
from alerts.store import AlertStore
from vitals.kernel.configfile import ConfigError

log = logging.getLogger(__name__)

DIGEST_STATE = "config_digest"


class ConfigHolder:
    """Callable returning the current config; checks the file at most every ``check_every`` s."""

    def __init__(
        self,
        config_dir: str | Path,
        store: AlertStore | None = None,
        clock: Clock = time.time,
        check_every: float = 2.0,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        """``environ``: where ``{env: ...}`` secrets are read (default: the process environment)."""
        self.config_dir = Path(config_dir)
        self.environ = environ
        self.path = self.config_dir / FILE_NAME
        self.store = store
        self.clock = clock
        self.check_every = check_every
        self._lock = threading.Lock()
        # A broken file (or an unreadable secret) stops the start, with file:line.
        self._config = load_for(self.config_dir, environ)
        self._stamp = self._file_stamp()
        self._checked = clock()
        self.last_error: str | None = None
        if store is not None and store.get_state(DIGEST_STATE) != self._config.digest:
            store.add_audit(
                AuditEntry(
                    clock(),
                    "vitals",
                    "config.load",
                    self._config.source,
                    "system",
                    detail={
                        "digest": self._config.digest,
                        "previous_digest": store.get_state(DIGEST_STATE),
                        **self._config.summary(),
                    },
                )
            )
            store.set_state(DIGEST_STATE, self._config.digest, clock())

    def _file_stamp(self) -> tuple[float, int] | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return (stat.st_mtime, stat.st_size)

    def __call__(self) -> AlertsConfig:
        now = self.clock()
        if now - self._checked >= self.check_every:
            self._checked = now
            if self._file_stamp() != self._stamp:
                self.reload("vitals (file changed)", "system")
        return self._config

    @property
    def current(self) -> AlertsConfig:
        return self._config

    def reload(self, actor: str, source: str) -> tuple[bool, str]:
        """Load the file again; returns (applied, message)."""
        with self._lock:
            self._stamp = self._file_stamp()
            old = self._config
            try:
                new = load_for(self.config_dir, self.environ)
            except ConfigError as exc:
                self.last_error = str(exc)
                log.error("alerts.yaml reload failed; keeping the running config:\n%s", exc)
                if self.store is not None:
                    self.store.add_audit(
                        AuditEntry(
                            self.clock(),
                            actor,
                            "config.reload_failed",
                            str(self.path),
                            source,
                            detail={"errors": [str(i) for i in exc.issues], "running_digest": old.digest},
                        )
                    )
                return False, str(exc)
            self.last_error = None
            if new.digest == old.digest:
                return True, "unchanged"
            self._config = new
            log.info("alerts.yaml reloaded (%s -> %s): %s", old.digest, new.digest, new.summary())
            if self.store is not None:
                self.store.add_audit(
                    AuditEntry(
                        self.clock(),
                        actor,
                        "config.reload",
                        new.source,
                        source,
                        detail={"digest": new.digest, "previous_digest": old.digest, **new.summary()},
                    )
                )
                self.store.set_state(DIGEST_STATE, new.digest, self.clock())
            return True, f"reloaded ({old.digest} -> {new.digest})"
