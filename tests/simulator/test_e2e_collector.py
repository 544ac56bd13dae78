"""The generator's telemetry, sent through the real SDK and OTLP exporters to a running collector,
arrives exactly as its own ground truth says (real sockets, a real ``vitals serve``)."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select, text

from collector.rows import json_object
from collector.tables import HexBytes
from collector.tables import spans as spans_table
from simulator.fakes import PHI_KEYS
from simulator.model import MetricSpec, SpanSpec
from simulator.otlp import Endpoint, otlp_emitter
from simulator.otlp import Protocol as OtlpProtocol
from simulator.runner import RunPlan
from simulator.scenario import load_scenario, parse_scenario
from tests.simulator.conftest import RunningCollector, running_collector, wait_for
from tests.support.services import free_port
from tests.support.store_dump import store_text
from vitals.kernel.units import NS

pytestmark = pytest.mark.e2e

NOW = datetime(2025, 3, 12, 23, 0, tzinfo=UTC)  # Wednesday 18:00 in Chicago
#: ``NOW`` for ``vitals simulate --now``: a simulated history never depends on when the test runs.
FIXED = ["--seed", "34", "--now", "2025-03-12T23:00:00Z"]
SCENARIO = parse_scenario(
    """
incidents:
  - {id: gl, kind: gl-posting-outage, at: -4h, duration: 40m}
  - {id: stall, kind: charge-interface-stall, at: -3h, duration: 1h, drain: 10m}
  - {id: quiet, kind: adt-silence, facility: south-campus, at: -5h, duration: 25m}
""",
    "e2e.yaml",
)


def send(
    collector: RunningCollector, plan: RunPlan, protocol: OtlpProtocol = "http"
) -> list[SpanSpec | MetricSpec]:
    """Generate the plan's history (pure), emit it through OTLP, return what was generated."""
    items = list(plan.generator().items(plan.now_ns))
    url = collector.http if protocol == "http" else f"http://127.0.0.1:{collector.grpc_port}"
    emitter = otlp_emitter(Endpoint.parse(url, protocol), seed=plan.seed)
    emitter.emit_all(items)
    emitter.close()
    assert emitter.stats.spans == sum(1 for i in items if isinstance(i, SpanSpec))
    return items


def charge_lags(spans: list[tuple[str, str, int, bool]]) -> list[int]:
    """Lags (ns) from procedure.documented to a successful charge.posted, by charge key."""
    documented = {key: start for key, stage, start, _ in spans if stage == "procedure.documented"}
    return sorted(
        start - documented[key]
        for key, stage, start, error in spans
        if stage == "charge.posted" and not error and key in documented
    )


def test_the_collector_stores_exactly_the_generated_history(collector: RunningCollector) -> None:
    plan = RunPlan(seed=31, now=NOW, days=0.3, scenario=SCENARIO)
    items = send(collector, plan)
    spans = [i for i in items if isinstance(i, SpanSpec)]
    metrics = [i for i in items if isinstance(i, MetricSpec)]
    engine = collector.engine()
    with engine.connect() as db:
        stored = db.execute(
            text(
                "SELECT trace_id, span_id, hc_workflow, hc_stage, start_time_unix_nano, status_code, name, "
                "hc_facility FROM spans"
            ).columns(trace_id=HexBytes(16), span_id=HexBytes(8))
        ).all()
        keys = db.execute(
            text(
                "SELECT k.key_hash, s.hc_stage, s.start_time_unix_nano, s.status_code FROM span_keys k "
                "JOIN spans s ON s.trace_id = k.trace_id AND s.span_id = k.span_id "
                "WHERE k.key_name = 'charge'"
            )
        ).all()
        depth = db.execute(
            text(
                "SELECT time_unix_nano, value FROM metric_points WHERE name = 'queue.depth' "
                "AND queue = 'charges-outbound' ORDER BY time_unix_nano"
            )
        ).all()
        metric_count = db.execute(text("SELECT COUNT(*) FROM metric_points")).scalar_one()
    engine.dispose()

    # every span, with its own ids
    assert len(stored) == len(spans) > 20_000
    assert {(r.trace_id, r.span_id) for r in stored} == {
        (f"{s.trace_id:032x}", f"{s.span_id:016x}") for s in spans
    }
    # counts by workflow and stage
    expected = Counter((s.attributes.get("hc.workflow"), s.attributes.get("hc.stage")) for s in spans)
    assert Counter((r.hc_workflow, r.hc_stage) for r in stored) == expected
    # the lag distribution, joined by the (hashed) charge key
    truth = charge_lags(
        [
            (
                str(s.attributes["hc.key.charge"]),
                str(s.attributes["hc.stage"]),
                s.start_ns,
                s.error is not None,
            )
            for s in spans
            if "hc.key.charge" in s.attributes
        ]
    )
    assert len(truth) > 1000
    assert (
        charge_lags(
            [(r.key_hash, r.hc_stage, r.start_time_unix_nano, r.status_code == "error") for r in keys]
        )
        == truth
    )
    # the incidents at their scheduled times
    effects = {e.incident: e for e in SCENARIO.expected_effects(NOW)}
    gl = effects["gl"]
    failed = [r for r in stored if r.name == "erp.gl.post" and r.status_code == "error"]
    in_outage = [r for r in failed if gl.start_ns <= r.start_time_unix_nano < gl.end_ns]
    assert len(in_outage) >= 10 and len(in_outage) >= len(failed) - 3  # base errors are rare
    quiet = effects["quiet"]
    assert not [
        r
        for r in stored
        if r.name.startswith("HL7 ADT^")
        and r.hc_facility == "south-campus"
        and quiet.start_ns <= r.start_time_unix_nano < quiet.end_ns
    ]
    assert [r for r in stored if r.name.startswith("HL7 ADT^") and r.hc_facility == "south-campus"]
    # the queue gauges, sample for sample
    assert metric_count == len(metrics)
    truth_depth = [
        (m.time_ns, m.value)
        for m in metrics
        if m.name == "queue.depth" and m.attributes["queue"] == "charges-outbound"
    ]
    assert [(r.time_unix_nano, r.value) for r in depth] == truth_depth
    stall = effects["stall"]
    during = [value for t, value in truth_depth if stall.start_ns < t < stall.end_ns]
    assert during[-1] > during[0] + 50


def test_planted_identifiers_never_reach_the_store(collector: RunningCollector) -> None:
    plan = RunPlan(seed=32, now=NOW, days=0.05)
    items = send(collector, plan)
    planted = {
        str(value)
        for item in items
        if isinstance(item, SpanSpec)
        for key, value in item.attributes.items()
        if key in PHI_KEYS
    }
    assert len(planted) > 100
    engine = collector.engine()
    # Every cell of the store, the packed attributes decoded (a raw scan would see no text there).
    stored = store_text(engine)
    with engine.connect() as db:
        attributes = [json_object(a) for a in db.execute(select(spans_table.c.attributes)).scalars()]
    engine.dispose()
    redacted = sum(1 for a in attributes if "REDACTED" in orjson.dumps(a).decode())
    assert redacted > 0 and "REDACTED" in stored
    leaked = sorted(value for value in planted if value in stored)
    assert not leaked, f"{len(leaked)} planted identifiers stored, e.g. {leaked[:3]}"


def test_grpc_delivers_the_same(collector: RunningCollector) -> None:
    plan = RunPlan(seed=33, now=NOW, days=0.03, rate_scale=0.5)
    items = send(collector, plan, protocol="grpc")
    engine = collector.engine()
    with engine.connect() as db:
        count = db.execute(text("SELECT COUNT(*) FROM spans")).scalar_one()
        points = db.execute(text("SELECT COUNT(*) FROM metric_points")).scalar_one()
    engine.dispose()
    assert count == sum(1 for i in items if isinstance(i, SpanSpec)) > 500
    assert points == sum(1 for i in items if isinstance(i, MetricSpec))


def test_simulate_command_backfills_and_a_rerun_duplicates_nothing(
    collector: RunningCollector, tmp_path: Path
) -> None:
    argv = [
        sys.executable,
        "-m",
        "vitals",
        "simulate",
        "--endpoint",
        collector.http,
        "--days",
        "0.02",
        *FIXED,
        "--rate-scale",
        "0.5",
    ]
    first = subprocess.run(argv, capture_output=True, text=True, timeout=100, cwd=tmp_path, check=False)
    assert first.returncode == 0, first.stderr
    assert "back-filled 0.02 day(s)" in first.stderr and "acknowledged by the collector" in first.stderr
    plan = RunPlan(seed=34, now=NOW, days=0.02, scenario=load_scenario(), rate_scale=0.5)
    expected = sum(1 for i in plan.generator().items(plan.now_ns) if isinstance(i, SpanSpec))
    second = subprocess.run(argv, capture_output=True, text=True, timeout=100, cwd=tmp_path, check=False)
    assert second.returncode == 0, second.stderr
    engine = collector.engine()
    with engine.connect() as db:
        assert db.execute(text("SELECT COUNT(*) FROM spans")).scalar_one() == expected
    engine.dispose()


def test_simulate_explains_an_unreachable_collector(tmp_path: Path) -> None:
    port = free_port()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "vitals",
            "simulate",
            "--endpoint",
            f"http://127.0.0.1:{port}",
            "--days",
            "1",
            *FIXED,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 1
    assert f"cannot reach the collector at http://127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_collector_with_tokens_needs_the_token_over_http_and_grpc(tmp_path: Path) -> None:
    token = "simulator-token-0123456789"
    config = tmp_path / "config"
    config.mkdir()
    (config / "collector.yaml").write_text(f"tokens:\n  - name: simulator\n    token: {token}\n")
    with running_collector(tmp_path, config) as collector:
        base = [
            sys.executable,
            "-m",
            "vitals",
            "simulate",
            "--days",
            "0.01",
            "--rate-scale",
            "0.3",
            *FIXED,
            "--quiet",
        ]
        denied = subprocess.run(
            [*base, "--endpoint", collector.http], capture_output=True, text=True, timeout=100, check=False
        )
        assert denied.returncode == 1
        assert "requires authentication (401): pass its token with --token" in denied.stderr
        for protocol, url in (("http", collector.http), ("grpc", f"http://127.0.0.1:{collector.grpc_port}")):
            sent = subprocess.run(
                [*base, "--endpoint", url, "--protocol", protocol, "--token", token],
                capture_output=True, text=True, timeout=100, check=False,
            )  # fmt: skip
            assert sent.returncode == 0, sent.stderr
        plan = RunPlan(seed=34, now=NOW, days=0.01, scenario=load_scenario(), rate_scale=0.3)
        expected = sum(1 for i in plan.generator().items(plan.now_ns) if isinstance(i, SpanSpec))
        engine = collector.engine()
        with engine.connect() as db:  # both protocols sent the same spans: stored once
            assert db.execute(text("SELECT COUNT(*) FROM spans")).scalar_one() == expected > 100
        engine.dispose()


def test_live_simulation_follows_the_pretended_clock_and_stops_cleanly_on_ctrl_c(
    collector: RunningCollector, tmp_path: Path
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "vitals", "simulate", "--endpoint", collector.http, "--days", "0.01",
         "--rate-scale", "0.3", *FIXED, "--live", "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert process.stderr is not None
    lines: list[str] = []
    for line in process.stderr:  # blocks until the back-fill is done and live mode announced
        lines.append(line)
        if "live: following the clock" in line:
            break
    now_ns = int(NOW.timestamp()) * NS
    engine = collector.engine()

    def newest_span_ns() -> int:
        with engine.connect() as db:
            return int(db.execute(text("SELECT MAX(start_time_unix_nano) FROM spans")).scalar_one() or 0)

    try:
        wait_for(lambda: newest_span_ns() >= now_ns, 60, "a live span at or after --now")
    finally:
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=60)
    assert process.returncode == 0, "".join(lines) + (rest or "")
    assert "stopped:" in (rest or "") and "acknowledged by the collector" in (rest or "")
    # Live traffic continued the history from --now, a minute or so of it, instead of racing to
    # catch up with the real clock.
    assert now_ns <= newest_span_ns() < now_ns + 10 * 60 * NS
    engine.dispose()
