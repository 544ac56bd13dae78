"""A component for ``/readyz`` tests: one readiness field that answers, one that hangs, one that fails."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from vitals.kernel.runtime import ServiceContext

#: The hanging field waits for this (the test sets it when done).
RELEASE = threading.Event()
HANG = threading.Event()


def install(ctx: ServiceContext) -> None:
    def answers() -> Mapping[str, Any]:
        return {"probe": "here", "status": "overwritten?"}

    def hangs() -> Mapping[str, Any]:
        if HANG.is_set():
            RELEASE.wait(60)
        return {}

    def fails() -> Mapping[str, Any]:
        raise RuntimeError("store gone")

    ctx.readiness.extend((answers, hangs, fails))
