"""A component for ``vitals serve`` tests: uses every part of ``ServiceContext`` the contract offers."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from prometheus_client import Counter

from vitals.kernel.runtime import ServiceContext

#: When the probe's points say they were measured: a fixed instant, never the wall clock.
AT_NS = 1_780_000_000_000_000_000


def rename(row: dict[str, Any]) -> dict[str, Any] | None:
    if row["name"] == "probe.raw":
        return {**row, "name": "probe.renamed"}
    return None


def install(ctx: ServiceContext) -> None:
    runs = Counter("probe_runs", "Probe job runs.", registry=ctx.registry)

    async def probe(request: web.Request) -> web.Response:
        return web.Response(text=f"engine={ctx.engine.dialect.name}")

    def write(name: str) -> None:
        ctx.write_metric_points(
            [{"name": name, "value": 1.0, "time_unix_nano": AT_NS, "attributes": {"queue": "q"}}]
        )

    def job() -> None:
        runs.inc()
        write("probe.value")

    def on_stop() -> None:
        assert not ctx.scheduler.running, "stop hooks run once the scheduler has stopped"
        write("probe.stopped")  # the writer is still open: this is committed before exit

    ctx.http_app.router.add_get("/probe", probe)
    ctx.metric_transforms.append(rename)
    ctx.scheduler.add_job(job, "date")  # once, as soon as the scheduler starts
    ctx.on_stop.append(on_stop)
    ctx.status["probe"] = "installed"
