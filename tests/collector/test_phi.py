"""Planted identifiers in every place the collector redacts never reach the store's bytes or the log."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import Link, Status, StatusCode
from sqlalchemy import text

from collector.redaction import hash_key
from tests.collector.harness import SECRET, post, served
from tests.collector.test_http_receiver import CountingExporter
from tests.support.store_dump import store_text
from vitals.kernel.db import create_engine

pytestmark = pytest.mark.e2e

NAME = "Zelphina Quarrington"
MRN = "QZ88421X"
SSN = "123-45-6789"
DOB = "04/12/1961"
PHONE = "(555) 867-5309"
EMAIL = "zelphina.q@example.org"

#: What must never be found, and the shorter fragments that would betray a partial leak.
PLANTED = [NAME, "Zelphina", "Quarrington", MRN, SSN, DOB, "867-5309", EMAIL]

NOTE = f"Patient: {NAME} MRN: {MRN} DOB: {DOB} SSN {SSN} call {PHONE} mail {EMAIL}"
BY_KEY = {
    "patient.name": NAME,
    "patient.mrn": MRN,
    "patient.ssn": SSN,
    "patient.dob": DOB,
    "patient.phone": PHONE,
    "patient.email": EMAIL,
}
PLACES = {**BY_KEY, "note": NOTE, "hc.key.patient": MRN, "hc.stage": "encounter.admitted"}


def emit(exporter: SpanExporter) -> CountingExporter:
    counting = CountingExporter(exporter)
    provider = TracerProvider(resource=Resource.create({"service.name": "ehr", **BY_KEY, "note": NOTE}))
    provider.add_span_processor(SimpleSpanProcessor(counting))
    tracer = provider.get_tracer(f"ehr.adt for {EMAIL}")
    with tracer.start_as_current_span("linked") as first:
        pass
    with tracer.start_as_current_span(
        NOTE, attributes=PLACES, links=[Link(first.get_span_context(), dict(BY_KEY))]
    ) as item:
        item.add_event(NOTE, {**BY_KEY, "exception.message": NOTE})
        item.set_status(Status(StatusCode.ERROR, NOTE))
    provider.shutdown()
    return counting


def json_request() -> bytes:
    def attrs(values: dict[str, str]) -> list[dict[str, object]]:
        return [{"key": key, "value": {"stringValue": value}} for key, value in values.items()]

    span = {
        "traceId": "0af7651916cd43dd8448eb211c80319c",
        "spanId": "b7ad6b7169203331",
        "name": NOTE,
        "startTimeUnixNano": "1750000000000000000",
        "endTimeUnixNano": "1750000000100000000",
        "kind": 2,
        "attributes": attrs(PLACES),
        "events": [{"timeUnixNano": "1750000000000000001", "name": NOTE, "attributes": attrs(BY_KEY)}],
        "status": {"code": 2, "message": NOTE},
    }
    body = {
        "resourceSpans": [
            {
                "resource": {"attributes": attrs({"service.name": "ehr", **BY_KEY})},
                "scopeSpans": [{"scope": {"name": NOTE}, "spans": [span]}],
            }
        ]
    }
    return orjson.dumps(body)


def assert_absent(data: bytes, where: str) -> None:
    for value in PLANTED:
        assert value.encode() not in data, f"{value!r} found in {where}"


def test_planted_identifiers_reach_neither_the_store_nor_the_log(store_url: str, tmp_path: Path) -> None:
    with served(store_url, tmp_path, log_level="DEBUG") as server:
        assert emit(HttpSpanExporter(endpoint=f"{server.url}/v1/traces")).acknowledged == 2
        assert (
            emit(GrpcSpanExporter(endpoint=f"127.0.0.1:{server.grpc_port}", insecure=True)).acknowledged == 2
        )
        assert post(f"{server.url}/v1/traces", json_request(), "application/json")[0] == 200
        # An undecodable request and a malformed one go through the error paths (and their logging).
        assert post(f"{server.url}/v1/traces", NOTE.encode(), "application/json")[0] == 400
        assert post(f"{server.url}/v1/traces", NOTE.encode(), "application/x-protobuf")[0] == 400
        reader = PeriodicExportingMetricReader(
            OTLPMetricExporter(endpoint=f"{server.url}/v1/metrics"), export_interval_millis=3_600_000
        )
        meters = MeterProvider(
            metric_readers=[reader], resource=Resource.create({"service.name": "ehr", **BY_KEY})
        )
        meters.get_meter("ehr").create_counter("admissions").add(1, {**BY_KEY, "note": NOTE})
        assert meters.force_flush()
        meters.shutdown()

        if store_url.startswith("sqlite"):
            database = Path(store_url.removeprefix("sqlite:///"))
            # While the collector runs, recent commits live in the WAL: read every file of the store.
            for path in database.parent.glob(database.name + "*"):
                assert_absent(path.read_bytes(), path.name)
        server.process.terminate()
        assert server.process.wait(60) == 0
        log = server.log()

    assert "DEBUG" in log  # the log was as verbose as it gets
    assert_absent(log.encode(), "the collector's log")
    engine = create_engine(store_url)
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            for path in Path(engine.url.database or "").parent.glob("*.db*"):
                assert_absent(path.read_bytes(), path.name)
        spans_stored = conn.execute(text("SELECT count(*) FROM spans")).scalar_one()
        keys = {bytes(h).hex() for h in conn.execute(text("SELECT key_hash FROM span_keys")).scalars()}
    # Every cell of every table as text, on either database, the packed JSON columns decoded
    # (the file scan above cannot see inside them; the [REDACTED:...] checks below prove this can).
    dump = store_text(engine).encode()
    engine.dispose()
    assert_absent(dump, "the tables")
    assert spans_stored == 5
    assert b"[REDACTED:name]" in dump and b"[REDACTED:mrn]" in dump and b"[REDACTED:ssn]" in dump
    # The business key still correlates: stored as its HMAC, the same from every transport.
    assert keys == {hash_key(SECRET, MRN)}
