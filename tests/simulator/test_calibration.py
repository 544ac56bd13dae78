"""The default scenario against the starter SLAs' minimum event counts, in the worst week position.

The demo back-fills 3 days and the SLA windows are 7 days, so an incident must come after enough
history for its SLA to have data at all. The worst start is late on a Monday: "yesterday" is a
Sunday and the history before it is a weekend.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from simulator.generator import Generator
from simulator.incidents import compile_effects
from simulator.model import SpanSpec
from simulator.scenario import load_scenario
from simulator.workflows import STREAM_BY_NAME
from vitals.kernel.settings import STARTER_CONFIG_DIR
from vitals.kernel.units import NS

CHICAGO = ZoneInfo("America/Chicago")


def starter_min_events() -> dict[str, int]:
    out = {}
    for path in Path(STARTER_CONFIG_DIR, "slas").glob("*.yaml"):
        for sla in (yaml.safe_load(path.read_text()) or {}).get("slas", []):
            out[sla["id"]] = int(sla.get("min_events", 1))
    return out


@pytest.mark.parametrize("now_local", [datetime(2026, 11, 23, 23, 30), datetime(2026, 11, 22, 23, 30)])
def test_each_incident_comes_after_enough_history_for_its_sla(now_local: datetime) -> None:
    minimum = starter_min_events()
    assert {"gl-posting-errors", "initial-denial-rate", "implant-inventory-sync-lag"} <= set(minimum)
    now = now_local.replace(tzinfo=CHICAGO).astimezone(UTC)
    scenario = load_scenario()
    effects = {e.kind: e for e in scenario.expected_effects(now)}
    streams = tuple(
        STREAM_BY_NAME[n] for n in ("claim", "patient-payment", "requisition", "labor", "journal", "supply")
    )
    start = int(now.timestamp()) * NS - 3 * 86400 * NS
    generator = Generator(
        seed=7, start_ns=start, effects=compile_effects(scenario, now), streams=streams, queue_metrics=False
    )
    spans = [s for s in generator.items(int(now.timestamp()) * NS) if isinstance(s, SpanSpec)]

    def before(name: str, kind: str) -> list[SpanSpec]:
        return [s for s in spans if s.name == name and s.start_ns < effects[kind].end_ns]

    gl = before("erp.gl.post", "gl-posting-outage")
    failed = [s for s in gl if s.error and s.start_ns >= effects["gl-posting-outage"].start_ns]
    assert len(gl) >= 1.1 * minimum["gl-posting-errors"]
    assert len(failed) > 0.01 * len(gl)  # twice the 0.5% the SLA allows

    remits = before("payer.remit.receive", "denial-spike")
    spike = [s for s in remits if s.start_ns >= effects["denial-spike"].start_ns]
    assert len(remits) >= 1.1 * minimum["initial-denial-rate"]
    assert sum(1 for s in spike if "hc.denial.code" in s.attributes) > 0.15 * len(spike)  # above 13% (1.3x)

    implants = [
        s
        for s in before("ehr.supply.consume", "inventory-sync-delay")
        if s.attributes["hc.supply.category"] == "implant"
    ]
    delayed = [s for s in implants if s.start_ns >= effects["inventory-sync-delay"].start_ns]
    assert len(implants) >= minimum["implant-inventory-sync-lag"]
    assert len(delayed) > 0.05 * len(implants)  # five times the 1% the SLA allows
