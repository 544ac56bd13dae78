"""OTLP spans -> rows of spans and span_keys."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from collector.redaction import RedactionPolicy, Redactor, hash_key
from collector.rows import (
    SPAN_COLUMNS,
    SPAN_KEY_COLUMNS,
    SPAN_LIFTED_ATTRIBUTES,
    UNREPEATED_ATTRIBUTES,
    lifted_attributes,
)
from collector.spans import ConvertedSpans, convert_spans, occurred_at
from tests.collector.otlp import T0, key_values, span, trace_request

SECRET = b"spans-test-secret-0123456789"
RECEIVED = T0 + 10**9


def convert(
    *spans: Span, service: str = "billing", resource: Mapping[str, Any] | None = None, scope: str = "tests"
) -> tuple[list[dict[str, object]], list[dict[str, object]], ConvertedSpans]:
    request = trace_request(*spans, service=service, resource=resource, scope=scope)
    out = convert_spans(request, Redactor(RedactionPolicy(), SECRET), RECEIVED)
    rows = [dict(zip(SPAN_COLUMNS, row, strict=True)) for row in out.batch.spans]
    keys = [dict(zip(SPAN_KEY_COLUMNS, row, strict=True)) for row in out.batch.span_keys]
    return rows, keys, out


def test_a_span_becomes_a_row_with_hex_ids_and_business_columns() -> None:
    trace_id, span_id, parent = bytes(range(1, 17)), bytes(range(1, 9)), bytes(range(9, 17))
    attributes = {
        "hc.workflow": "patient-to-cash",
        "hc.stage": "charge.posted",
        "hc.system": "billing",
        "hc.message.type": "DFT^P03",
        "hc.facility": "north-campus",
        "hc.service_line": "cardiology",
        "hc.amount": "1843.20",
        "hc.denial.code": "CO-197",
        "messaging.destination.name": "charges-outbound",
        "retries": 2,
    }
    rows, keys, out = convert(
        span(
            "billing.charge.post",
            trace_id=trace_id,
            span_id=span_id,
            parent=parent,
            attributes=attributes,
            kind=Span.SPAN_KIND_CONSUMER,
            status=2,
            message="posting failed",
        ),
        resource={"deployment.environment": "prod"},
        scope="billing.sdk",
    )
    (row,) = rows
    assert row["trace_id"] == "0102030405060708090a0b0c0d0e0f10"
    assert row["span_id"] == "0102030405060708"
    assert row["parent_span_id"] == "090a0b0c0d0e0f10"
    assert row["name"] == "billing.charge.post"
    assert row["service_name"] == "billing"
    assert row["kind"] == "consumer"
    assert row["status_code"] == "error"
    assert row["status_message"] == "posting failed"
    assert row["start_time_unix_nano"] == T0
    assert row["end_time_unix_nano"] == T0 + 5_000_000
    assert row["duration_ns"] == 5_000_000
    assert row["event_time_unix_nano"] == T0
    assert row["received_at_unix_nano"] == RECEIVED
    assert row["scope_name"] == "billing.sdk"
    assert row["hc_workflow"] == "patient-to-cash"
    assert row["hc_stage"] == "charge.posted"
    assert row["hc_system"] == "billing"
    assert row["hc_message_type"] == "DFT^P03"
    assert row["hc_facility"] == "north-campus"
    assert row["hc_service_line"] == "cardiology"
    assert row["hc_amount"] == pytest.approx(1843.20)
    assert row["hc_denial_code"] == "CO-197"
    assert row["messaging_destination"] == "charges-outbound"
    # The hc.* values their columns hold exactly are not repeated in the JSON ("1843.20" is not
    # the text of the float stored, so it stays); readers merge the columns back.
    stored = orjson.loads(str(row["attributes"]))
    assert stored == {
        "hc.amount": "1843.20",
        "messaging.destination.name": "charges-outbound",
        "retries": 2,
    }
    lifted = [row[column] for column in UNREPEATED_ATTRIBUTES]
    assert lifted_attributes(row["attributes"], lifted) == attributes
    assert orjson.loads(str(row["resource_attributes"])) == {
        "service.name": "billing",
        "deployment.environment": "prod",
    }
    assert row["events"] is None and row["links"] is None
    assert keys == []
    assert out.received == 1 and out.accepted == 1


def test_business_keys_are_hashed_and_indexed() -> None:
    rows, keys, _ = convert(
        span(
            attributes={
                "hc.stage": "procedure.documented",
                "hc.key.charge": "CHG-1",
                "hc.key.encounter": "E-9",
            }
        )
    )
    attrs = orjson.loads(str(rows[0]["attributes"]))
    assert attrs["hc.key.charge"] == hash_key(SECRET, "CHG-1")
    assert {(k["key_name"], k["key_hash"]) for k in keys} == {
        ("charge", hash_key(SECRET, "CHG-1")),
        ("encounter", hash_key(SECRET, "E-9")),
    }
    assert {k["hc_stage"] for k in keys} == {"procedure.documented"}
    assert {(k["trace_id"], k["span_id"]) for k in keys} == {(rows[0]["trace_id"], rows[0]["span_id"])}
    assert "CHG-1" not in str(rows) + str(keys)


def test_occurred_at_sets_the_event_time() -> None:
    occurred = T0 - 3600 * 10**9
    rows, keys, _ = convert(span(attributes={"hc.occurred_at": occurred, "hc.key.charge": "C"}))
    assert rows[0]["event_time_unix_nano"] == occurred
    assert keys[0]["event_time_unix_nano"] == occurred
    assert rows[0]["start_time_unix_nano"] == T0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_700_000_000_000_000_000, 1_700_000_000_000_000_000),
        ("1700000000000000000", 1_700_000_000_000_000_000),
        ("2023-11-14T22:13:20Z", 1_700_000_000_000_000_000),
        ("2023-11-14T22:13:20.5+00:00", 1_700_000_000_500_000_000),
        ("2023-11-14T22:13:20", None),  # no time zone: ambiguous
        ("yesterday", None),
        (True, None),
        (-5, None),
        (2**64, None),
    ],
)
def test_occurred_at_formats(value: object, expected: int | None) -> None:
    assert occurred_at(value) == expected


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"trace_id": b"\x01" * 8}, "invalid_trace_id"),
        ({"trace_id": bytes(16)}, "invalid_trace_id"),
        ({"trace_id": b""}, "invalid_trace_id"),
        ({"span_id": b"\x01" * 16}, "invalid_span_id"),
        ({"span_id": bytes(8)}, "invalid_span_id"),
        ({"parent": b"\x01" * 3}, "invalid_parent_span_id"),
        ({"start": 0}, "missing_start_time"),
        ({"start": 2**63 + 5}, "time_out_of_range"),
    ],
)
def test_invalid_spans_are_rejected_with_a_reason(changes: dict[str, object], reason: str) -> None:
    good = span("good")
    bad = span("bad", **changes)  # type: ignore[arg-type]
    rows, _, out = convert(good, bad)
    assert [row["name"] for row in rows] == ["good"]
    rejections = out.rejections
    assert rejections.counts == {reason: 1}
    assert "resource_spans[0].scope_spans[0].spans[1]" in rejections.message("spans")
    assert rejections.message("spans").startswith("1 spans rejected")


def test_end_before_start_and_missing_end_are_rejected() -> None:
    early = span("early")
    early.end_time_unix_nano = early.start_time_unix_nano - 1
    unfinished = span("unfinished")
    unfinished.end_time_unix_nano = 0
    _, _, out = convert(early, unfinished)
    assert out.rejections.counts == {"end_before_start": 1, "missing_end_time": 1}


def test_an_all_zero_parent_means_a_root_span() -> None:
    rows, _, _ = convert(span(parent=bytes(8)))
    assert rows[0]["parent_span_id"] is None


def test_events_and_links_are_kept_as_json_and_redacted() -> None:
    item = span()
    event = item.events.add()
    event.name = "exception"
    event.time_unix_nano = T0 + 1
    event.attributes.add(key="exception.message").value.string_value = "no coverage for SSN 123-45-6789"
    link = item.links.add()
    link.trace_id = bytes(range(16))
    link.span_id = bytes(range(8))
    link.attributes.add(key="patient.email").value.string_value = "x@example.org"
    rows, _, _ = convert(item)
    assert orjson.loads(str(rows[0]["events"])) == [
        {
            "time_unix_nano": T0 + 1,
            "name": "exception",
            "attributes": {"exception.message": "no coverage for SSN [REDACTED:ssn]"},
        }
    ]
    assert orjson.loads(str(rows[0]["links"])) == [
        {
            "trace_id": bytes(range(16)).hex(),
            "span_id": bytes(range(8)).hex(),
            "attributes": {"patient.email": "[REDACTED:email]"},
        }
    ]


def test_nul_characters_cannot_reach_a_text_column() -> None:
    rows, _, _ = convert(span("a\x00b", attributes={"k": "v\x00w", "hc.stage": "s\x00"}), service="svc\x00")
    row = rows[0]
    assert row["name"] == "a\ufffdb"
    assert row["service_name"] == "svc\ufffd"
    assert row["hc_stage"] == "s\ufffd"
    assert "\\u0000" not in str(row["attributes"])
    assert orjson.loads(str(row["attributes"]))["k"] == "v\ufffdw"


def test_the_lifted_attribute_map_names_what_the_converter_lifts() -> None:
    # Benchmarks and the SLA source rely on this map: every lifted column, in column order.
    lifted_columns = [c for c in SPAN_COLUMNS if c.startswith("hc_") or c == "messaging_destination"]
    assert list(SPAN_LIFTED_ATTRIBUTES) == lifted_columns
    attributes: dict[str, object] = {a: f"value of {a}" for a in SPAN_LIFTED_ATTRIBUTES.values()}
    attributes["hc.amount"] = 12.5
    rows, _, _ = convert(span("x", attributes=attributes))
    assert {c: rows[0][c] for c in lifted_columns} == {
        c: attributes[a] for c, a in SPAN_LIFTED_ATTRIBUTES.items()
    }


def test_missing_service_name_and_odd_values() -> None:
    request = trace_request(span(kind=9, status=7, attributes={"hc.amount": "n/a", "bytes": b"\x00\xff"}))
    del request.resource_spans[0].resource.attributes[:]
    out = convert_spans(request, Redactor(RedactionPolicy(), SECRET), RECEIVED)
    row = dict(zip(SPAN_COLUMNS, out.batch.spans[0], strict=True))
    assert row["service_name"] == "unknown_service"
    assert row["kind"] == "unspecified"
    assert row["status_code"] == "unset"
    assert row["hc_amount"] is None
    assert orjson.loads(str(row["attributes"]))["bytes"] == "[REDACTED:bytes]"


def test_redaction_reaches_names_messages_and_resources() -> None:
    rows, _, _ = convert(
        span("admit Patient: Jane Doe", status=2, message="lookup failed for jane@example.org"),
        resource={"patient.ssn": "123-45-6789"},
    )
    row = rows[0]
    assert row["name"] == "admit Patient: [REDACTED:name]"
    assert row["status_message"] == "lookup failed for [REDACTED:email]"
    assert orjson.loads(str(row["resource_attributes"]))["patient.ssn"] == "[REDACTED:ssn]"


def convert_with(policy: RedactionPolicy, *spans: Span, **kwargs: Any) -> dict[str, object]:
    request = trace_request(*spans, **kwargs)
    out = convert_spans(request, Redactor(policy, SECRET), RECEIVED)
    return dict(zip(SPAN_COLUMNS, out.batch.spans[0], strict=True))


def test_every_text_field_of_a_span_is_scanned() -> None:
    item = span("lookup MRN: QZ88421X", status=2, message="no match for 555-867-5309")
    item.attributes.extend(
        key_values(
            {
                "messaging.destination.name": "adt for jane.doe@example.org",
                "hc.facility": "north SSN 123-45-6789",
                "note 123-45-6789": "x",
                "utf8": b"call 555-867-5309",
            }
        )
    )
    event = item.events.add()
    event.name = "retry for DOE^JANE"
    event.time_unix_nano = T0 + 1
    event.attributes.extend(
        key_values(
            {
                "exception.type": "LookupError",
                "exception.message": "Patient: Jane Doe not found",
                "exception.stacktrace": "Traceback:\n  find(DOB: 04/12/1961)",
            }
        )
    )
    link = item.links.add()
    link.trace_id, link.span_id = bytes(range(16)), bytes(range(8))
    link.attributes.extend(key_values({"origin": "mail jane@example.org"}))
    policy = RedactionPolicy(allow_keys=("exception.*",), unscanned_keys=("*.stacktrace",))
    row = convert_with(
        policy,
        item,
        service="billing 555-867-5309",
        scope="scope jane@example.org",
        resource={"host.name": "h MRN: QZ88421X"},
    )
    assert row["name"] == "lookup MRN: [REDACTED:mrn]"
    assert row["status_message"] == "no match for [REDACTED:phone]"
    assert row["service_name"] == "billing [REDACTED:phone]"
    assert row["scope_name"] == "scope [REDACTED:email]"
    assert row["messaging_destination"] == "adt for [REDACTED:email]"
    assert row["hc_facility"] == "north SSN [REDACTED:ssn]"
    attrs = orjson.loads(str(row["attributes"]))
    assert attrs["note [REDACTED:ssn]"] == "[REDACTED:ssn]"
    assert attrs["utf8"] == "call [REDACTED:phone]"
    assert orjson.loads(str(row["resource_attributes"]))["host.name"] == "h MRN: [REDACTED:mrn]"
    (stored_event,) = orjson.loads(str(row["events"]))
    assert stored_event["name"] == "retry for [REDACTED:name]"
    assert stored_event["attributes"] == {
        "exception.type": "LookupError",
        "exception.message": "Patient: [REDACTED:name] not found",
        "exception.stacktrace": "Traceback:\n  find(DOB: [REDACTED:birth_date])",
    }
    (stored_link,) = orjson.loads(str(row["links"]))
    assert stored_link["attributes"] == {"origin": "mail [REDACTED:email]"}
    for planted in ("QZ88421X", "867-5309", "jane", "JANE", "123-45-6789", "1961"):
        assert planted not in str(row)


def test_an_identifier_in_a_business_key_name_never_reaches_span_keys() -> None:
    rows, keys, _ = convert(span(attributes={"hc.key.charge": "C1", "hc.key.mrn MRN: QZ88421X": "E-9"}))
    assert {k["key_name"] for k in keys} == {"charge"}
    attrs = orjson.loads(str(rows[0]["attributes"]))
    assert attrs["hc.key.mrn MRN: [REDACTED:mrn]"] == "[REDACTED:mrn]"
    assert "QZ88421X" not in str(rows) + str(keys)


def test_strict_mode_on_a_span() -> None:
    item = span("GET /patients/48213377", status=2, message="patient 48213377 not found")
    item.attributes.extend(key_values({"http.route": "/patients/48213377", "hc.stage": "lookup", "n": 3}))
    event = item.events.add()
    event.name = "exception"
    event.attributes.extend(key_values({"exception.message": "boom"}))
    row = convert_with(RedactionPolicy(strict=True), item)
    assert row["name"] == "GET /patients/#"
    assert row["status_message"] == "[REDACTED:strict]"
    assert orjson.loads(str(row["attributes"])) == {"http.route": "[REDACTED:strict]", "n": 3}
    assert row["hc_stage"] == "lookup"  # in its column only
    assert orjson.loads(str(row["events"]))[0]["attributes"] == {"exception.message": "[REDACTED:strict]"}
    assert row["hc_stage"] == "lookup"
    assert row["service_name"] == "billing"
