"""A component for ``vitals serve`` tests: uses every part of ``ServiceContext`` the contract offers."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web
from prometheus_client import Counter

from vitals.runtime import ServiceContext


def rename(row: dict[str, Any]) -> dict[str, Any] | None:
    if row["name"] == "probe.raw":
        return {**row, "name": "probe.renamed"}
    return None


def install(ctx: ServiceContext) -> None:
    runs = Counter("probe_runs", "Probe job runs.", registry=ctx.registry)

    async def probe(request: web.Request) -> web.Response:
        return web.Response(text=f"engine={ctx.engine.dialect.name}")

    def job() -> None:
        runs.inc()
        ctx.write_metric_points(
            [
                {
                    "name": "probe.value",
                    "value": 1.0,
                    "time_unix_nano": time.time_ns(),
                    "attributes": {"queue": "q"},
                }
            ]
        )

    ctx.http_app.router.add_get("/probe", probe)
    ctx.metric_transforms.append(rename)
    ctx.scheduler.add_job(job, "date")  # once, as soon as the scheduler starts
    ctx.status["probe"] = "installed"
