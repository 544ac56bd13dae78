"""A component whose stop hook never returns (``VITALS_TEST_STUCK=hook``), for the shutdown tests."""

from __future__ import annotations

import logging
import os
import threading

from vitals.kernel.runtime import ServiceContext

log = logging.getLogger("tests.faults")


def install(ctx: ServiceContext) -> None:
    def hold() -> None:
        from tests.collector.faulty_serve import HOLDING_HOOK

        log.warning(HOLDING_HOOK)
        threading.Event().wait()  # never set

    if os.environ.get("VITALS_TEST_STUCK") == "hook":
        ctx.on_stop.append(hold)
    ctx.status["stuck"] = "installed"
