"""The PHI corpus (``tests.collector.phi_corpus``) sent to a real ``vitals serve`` over OTLP/HTTP
(protobuf and JSON) and OTLP/gRPC, traces and metrics, by the real SDK exporters and as hand-built
requests, on SQLite and PostgreSQL; then the SLA engine, alerting (delivering to a local Slack)
and the dashboard rollups run over what was stored. No form of any planted identifier may be
found in any table of the store, the collector's DEBUG log, its ``/metrics``, the log of the
components, or what Slack received.

The collector runs as a subprocess (its own log, as deployed). The SLA engine, the alert engine
and dispatcher and the dashboard rollups run in this process on the stored rows, through their
real code paths, on a fixed clock: inside ``vitals serve`` they would tick on the wall clock, and
the test would depend on the hour it runs at.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import orjson
import pytest
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    InMemoryMetricReader,
    MetricExporter,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import MetaData, func, select
from sqlalchemy.engine import Engine

from alerts import config as alerts_config
from alerts.engine import AlertEngine
from dashboards.rollup import refresh
from slas.service import engine_from, load_config_dir
from tests.alerts.conftest import SLACK_CONFIG, SlackPipeline
from tests.collector import phi_corpus as corpus
from tests.collector.harness import get, post, served
from tests.collector.test_http_receiver import CountingExporter
from tests.support.fake_slack import FakeSlack
from tests.support.store_dump import table_cells
from vitals.kernel.db import create_engine

pytestmark = pytest.mark.e2e

PROTOCOLS = ("http-protobuf", "http-json", "grpc")
SLA_ID = "phi-corpus-errors"
SLA_FILE = f"""\
evaluation:
  watermark_horizon: 0s
slas:
  - id: {SLA_ID}
    title: Corpus integration messages are processed
    domain: integration
    owner: integration-engineering
    priority: P1
    objective: 99%
    window: 1d
    slice_by: [hc.facility]
    sli:
      ratio:
        total: {{stage: {corpus.STAGE}}}
        bad: {{status: error}}
  - id: phi-corpus-queues
    title: Corpus messages are consumed
    domain: integration
    owner: integration-engineering
    priority: P2
    objective: 99%
    window: 1d
    slice_by: [messaging.destination.name]
    sli:
      ratio:
        total: {{kind: consumer}}
        bad: {{status: ok}}
"""
#: The alert tests' Slack routing, with one notification for all the slices (no pacing waits).
ALERTS_FILE = SLACK_CONFIG.replace("group_by: [sla, slice]", "group_by: [sla]")
#: Hand-built spans per document (besides a producer and consumer), and the SDK's one per document.
COPIES = 2


@dataclass
class Sent:
    spans: int = 0
    metric_requests: int = 0


# -- sending ---------------------------------------------------------------------------------


def _grpc_export(port: int, request: ExportTraceServiceRequest | ExportMetricsServiceRequest) -> str:
    """A raw OTLP/gRPC Export; returns the response (its partial_success) as text."""
    traces = isinstance(request, ExportTraceServiceRequest)
    service = "trace.v1.TraceService" if traces else "metrics.v1.MetricsService"
    answer = ExportTraceServiceResponse if traces else ExportMetricsServiceResponse
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        export = channel.unary_unary(f"/opentelemetry.proto.collector.{service}/Export")
        response = answer.FromString(bytes(export(request.SerializeToString(), timeout=60)))
    return str(response)


def _http_export(
    url: str, request: ExportTraceServiceRequest | ExportMetricsServiceRequest, as_json: bool
) -> str:
    """An OTLP/HTTP POST as protobuf or JSON; returns the response body as text."""
    traces = isinstance(request, ExportTraceServiceRequest)
    path = "/v1/traces" if traces else "/v1/metrics"
    if as_json:
        status, _, body = post(url + path, corpus.otlp_json(request), "application/json")
        text = body.decode(errors="replace")
    else:
        status, _, body = post(url + path, request.SerializeToString())
        answer = ExportTraceServiceResponse if traces else ExportMetricsServiceResponse
        text = str(answer.FromString(body)) if status == 200 else body.decode(errors="replace")
    assert status == 200, text[:200]
    return text


def send_malformed(protocol: str, url: str, grpc_port: int) -> list[str]:
    """Requests that fail to decode, carrying the corpus: the error paths (their answers and what
    they log) must not repeat it. Returns the answers as text."""
    note = corpus.LOG.text.encode()
    bad_field = orjson.dumps(
        {"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": corpus.LOG.text}]}]}]}
    )
    answers: list[str] = []
    if protocol == "grpc":
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
            with pytest.raises(grpc.RpcError) as caught:
                export(b"\xff\xff\xff" + note, timeout=30)
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        answers.append(f"{caught.value.code()} {caught.value.details()}")
        return answers
    for body, content_type in (
        (note, "application/json"),
        (bad_field, "application/json"),
        (note, "application/x-protobuf"),
    ):
        status, _, answer = post(f"{url}/v1/traces", body, content_type)
        assert status == 400
        answers.append(answer.decode(errors="replace"))
    return answers


def send_sdk(protocol: str, url: str, grpc_port: int, answers: list[str]) -> int:
    """The SDK-produced corpus: its OTLP exporters over HTTP/protobuf and gRPC; for OTLP/JSON (no
    SDK exporter speaks it) the SDK's own OTLP encoder, sent as JSON. Returns the spans sent."""
    spans_out: SpanExporter
    metrics_out: MetricExporter | None
    memory = InMemorySpanExporter()
    if protocol == "http-protobuf":
        spans_out, metrics_out = (
            HttpSpanExporter(endpoint=f"{url}/v1/traces"),
            HttpMetricExporter(endpoint=f"{url}/v1/metrics"),
        )
    elif protocol == "grpc":
        endpoint = f"127.0.0.1:{grpc_port}"
        spans_out = GrpcSpanExporter(endpoint=endpoint, insecure=True)
        metrics_out = GrpcMetricExporter(endpoint=endpoint, insecure=True)
    else:
        spans_out, metrics_out = memory, None
    counting = CountingExporter(spans_out)
    resource = Resource.create(dict(corpus.sdk_resource()))
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(counting))
    count = corpus.emit_sdk_spans(tracer_provider)
    tracer_provider.shutdown()
    assert counting.acknowledged == count and not counting.failed

    in_memory = InMemoryMetricReader()
    readers = (
        [in_memory]
        if metrics_out is None
        else [PeriodicExportingMetricReader(metrics_out, export_interval_millis=3_600_000)]
    )
    meter_provider = MeterProvider(resource=resource, metric_readers=readers)
    corpus.emit_sdk_metrics(meter_provider)
    if metrics_out is None:
        data = in_memory.get_metrics_data()
        assert data is not None
        answers.append(_http_export(url, encode_metrics(data), as_json=True))
        answers.append(_http_export(url, encode_spans(memory.get_finished_spans()), as_json=True))
    else:
        assert meter_provider.force_flush()
    meter_provider.shutdown()
    return count


def send_corpus(protocol: str, url: str, grpc_port: int, answers: list[str]) -> int:
    """The whole corpus over one protocol; returns the number of spans sent and adds the
    collector's answers to ``answers``."""
    spans = send_sdk(protocol, url, grpc_port, answers)
    traces = corpus.trace_request(COPIES)
    for request in (traces, corpus.metrics_request()):
        if protocol == "grpc":
            answers.append(_grpc_export(grpc_port, request))
        else:
            answers.append(_http_export(url, request, as_json=protocol == "http-json"))
    answers += send_malformed(protocol, url, grpc_port)
    return spans + sum(
        len(scope.spans) for resource in traces.resource_spans for scope in resource.scope_spans
    )


# -- what runs over the stored rows ----------------------------------------------------------


def run_slas_and_alerts(engine: Engine, config_dir: Path, slack: FakeSlack) -> int:
    """The SLA engine over the stored spans at ``NOW_S``, then alerting on its evaluations,
    delivered to the local Slack. Returns the number of evaluations written."""
    now_ns = corpus.NOW_S * corpus.NS
    sla_engine = engine_from(engine, load_config_dir(config_dir), clock=lambda: now_ns)
    sla_engine.catch_up()
    result = sla_engine.tick()
    pipeline = SlackPipeline(engine, slack)
    environ = {"TEST_SLACK_TOKEN": slack.token, "TEST_FALLBACK_WEBHOOK": slack.webhook_url("alerts-fallback")}
    grouped = alerts_config.parse(
        ALERTS_FILE.format(api=slack.api_url, fallback_after=pipeline.fallback_after), environ=environ
    )
    pipeline.config = grouped
    pipeline.clock.now = float(corpus.NOW_S)
    pipeline.alerting = AlertEngine(pipeline.store, lambda: grouped, pipeline.clock)
    pipeline.alerting.evaluate()
    pipeline.alerting.plan()
    pipeline.dispatcher.run_once(budget=30)
    return len(result.evaluations)


def rollup(engine: Engine) -> None:
    refresh(engine, horizon_s=0, clock=lambda: corpus.NOW_S * corpus.NS)


# -- reading everything back -----------------------------------------------------------------


def table_dump(engine: Engine) -> Iterator[tuple[str, object]]:
    """(``table.column``, value) for every cell of every table in the store, the packed JSON
    columns decoded (``REACHED`` proves the corpus's text is seen inside them)."""
    yield from table_cells(engine)


def row_counts(engine: Engine, *names: str) -> dict[str, int]:
    metadata = MetaData()
    metadata.reflect(engine, only=list(names))
    with engine.connect() as conn:
        return {
            name: int(conn.execute(select(func.count()).select_from(metadata.tables[name])).scalar_one())
            for name in names
        }


#: Columns that harmless text of the corpus must reach (else "nothing found" there proves
#: nothing), and that text: each document's canary, the queue's and the facility's plain words.
REACHED: frozenset[tuple[str, str]] = frozenset(
    {
        *(
            (column, corpus.CANARY)
            for column in (
                "spans.name",
                "spans.status_message",
                "spans.attributes",
                "span_resources.attributes",
                "spans.events",
                "spans.links",
                "spans.scope_name",
                "spans.hc_system",
                "metric_points.name",
                "metric_points.scope_name",
                "metric_points.attributes",
                "metric_points.resource_attributes",
                "dashboard_span_rollups.span_name",
                "dashboard_business_rollups.service_line",
            )
        ),
        ("spans.messaging_destination", "adt-inbound"),
        ("dashboard_service_edges.via", "adt-inbound"),
        ("dashboard_metric_rollups.queue", "adt-inbound"),
        ("metric_points.queue", "adt-inbound"),
        ("sla_evaluations.slice", "hc.facility=North Campus"),
        ("sla_evaluations.slice", "messaging.destination.name=adt-inbound"),
    }
)


def search_store(engine: Engine) -> tuple[list[corpus.Leak], set[tuple[str, str]]]:
    """Leaks in every cell of every table, and which of ``REACHED`` arrived."""
    found: set[corpus.Leak] = set()
    reached: set[tuple[str, str]] = set()
    for where, value in table_dump(engine):
        found.update(corpus.find_in_value(value, where))
        reached.update((column, text) for column, text in REACHED if column == where and text in str(value))
    return sorted(found), reached


def slack_text(slack: FakeSlack) -> str:
    calls = [orjson.dumps({"method": c.method, "args": c.args}, default=str).decode() for c in slack.calls]
    messages = [
        orjson.dumps({"text": m.text, "blocks": m.blocks, "metadata": m.metadata}).decode()
        for channel in slack.messages.values()
        for m in channel
    ]
    return "\n".join(calls + messages)


def report(leaks: list[corpus.Leak]) -> str:
    """Every leak, one line per place and kind with the forms found there, then the kinds."""
    forms: dict[tuple[str, str], list[str]] = {}
    for leak in sorted(set(leaks)):
        forms.setdefault((leak.where, leak.kind), []).append(f"{leak.form} {leak.text!r}")
    lines = [f"planted identifiers found in {len({w for w, _ in forms})} places:"]
    lines += [f"  {where}: {kind}: {'; '.join(found)}" for (where, kind), found in forms.items()]
    kinds = sorted({leak.kind for leak in leaks})
    lines.append(f"{len(kinds)} of {len(corpus.PLANTED)} kinds leak: {', '.join(kinds)}")
    return "\n".join(lines)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_no_planted_identifier_reaches_the_store_the_log_metrics_or_alerts(
    protocol: str, store_url: str, tmp_path: Path, slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    assert corpus.unplanted() == []
    config_dir = tmp_path / "config" / "slas"
    config_dir.mkdir(parents=True)
    (config_dir / "corpus.yaml").write_text(SLA_FILE)
    caplog.set_level(logging.DEBUG)

    answers: list[str] = []
    # The queues component maps pushed queue gauges at ingest; the other components run below.
    with served(store_url, tmp_path, log_level="DEBUG", extra_args=["--components", "queues"]) as server:
        sent = send_corpus(protocol, server.url, server.grpc_port, answers)
        status, own_metrics = get(f"{server.url}/metrics")
        assert status == 200
        server.process.terminate()
        assert server.process.wait(60) == 0
        log = server.log()
    assert "DEBUG" in log  # the log was as verbose as it gets

    caplog.clear()  # from here on, only what the SLA engine, alerting and the rollups log
    engine = create_engine(store_url)
    try:
        evaluations = run_slas_and_alerts(engine, tmp_path / "config", slack)
        rollup(engine)
        counts = row_counts(engine, "spans", "metric_points", "sla_evaluations")
        store_leaks, reached = search_store(engine)
    finally:
        engine.dispose()

    # The corpus went all the way: every span stored, the SLA evaluated its slices and paged,
    # Slack got the notification, the rollups folded the rows.
    assert counts["spans"] == sent
    assert counts["metric_points"] > 0
    assert evaluations > 1 and counts["sla_evaluations"] == evaluations
    assert slack.calls_to("chat.postMessage"), "no alert reached Slack"
    assert sorted(REACHED - reached) == [], "columns the corpus did not reach: nothing to search there"

    leaks = store_leaks
    leaks += corpus.find_in_text(log, "collector log (DEBUG)")
    leaks += corpus.find_in_text(own_metrics.decode(errors="replace"), "/metrics")
    leaks += corpus.find_in_text(caplog.text, "SLA/alerts/rollup log (DEBUG)")
    leaks += corpus.find_in_text(slack_text(slack), "Slack payloads")
    leaks += corpus.find_in_text("\n".join(answers), "OTLP responses")
    assert not leaks, report(sorted(set(leaks)))


def test_the_search_finds_every_form_of_every_planted_identifier_wherever_it_hides() -> None:
    """The finder itself: in JSON values, in keys, in any case, and in bytes kept as base64
    (so the corpus test's silence means absence, not a blind search)."""
    assert corpus.unplanted() == []
    for planted in corpus.PLANTED:
        for name, form in planted.forms().items():
            hidden = {
                "value": [{"text": f"seen {form.upper()} here"}],
                f"key {form}": 1,
                "bytes": base64.b64encode(f"opaque:{form}".encode()).decode(),
            }
            found = {
                (leak.where, leak.kind, leak.form) for leak in corpus.find_in_value(orjson.dumps(hidden), "t")
            }
            for where in ("t['value'][]['text']", "t{key}", "t['bytes'] (base64)"):
                assert (where, planted.kind, name) in found, (where, planted.kind, name)
