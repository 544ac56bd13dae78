"""OTLP/JSON decoding: hex ids (not base64), int64 as strings, enums as integers."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from collector.otlp_json import JsonDecodeError, metrics_from_json, response_json, traces_from_json

FIXTURES = Path(__file__).parent / "fixtures"


def test_the_specification_example_decodes_with_hex_ids() -> None:
    request = traces_from_json((FIXTURES / "trace.json").read_bytes())
    span = request.resource_spans[0].scope_spans[0].spans[0]
    assert span.trace_id.hex() == "5b8efff798038103d269b633813fc60c"
    assert span.span_id.hex() == "eee19b7ec3c1b174"
    assert span.parent_span_id.hex() == "eee19b7ec3c1b173"
    assert span.start_time_unix_nano == 1544712660000000000
    assert span.kind == 2
    assert span.name == "I'm a server span"


def test_snake_case_keys_links_and_exemplars() -> None:
    body = {
        "resource_spans": [
            {
                "scope_spans": [
                    {
                        "spans": [
                            {
                                "trace_id": "00" * 15 + "01",
                                "span_id": "00" * 7 + "02",
                                "links": [{"traceId": "ab" * 16, "spanId": "cd" * 8}],
                                "start_time_unix_nano": "1",
                                "end_time_unix_nano": 2,
                                "kind": "SPAN_KIND_CLIENT",
                            }
                        ]
                    }
                ]
            }
        ]
    }
    span = traces_from_json(orjson.dumps(body)).resource_spans[0].scope_spans[0].spans[0]
    assert span.trace_id.hex() == "00" * 15 + "01"
    assert span.links[0].trace_id.hex() == "ab" * 16
    assert span.kind == 3
    metrics = {
        "resourceMetrics": [
            {
                "scopeMetrics": [
                    {
                        "metrics": [
                            {
                                "name": "m",
                                "gauge": {
                                    "dataPoints": [
                                        {
                                            "timeUnixNano": "5",
                                            "asInt": "7",
                                            "exemplars": [{"traceId": "ef" * 16, "spanId": "12" * 8}],
                                        }
                                    ]
                                },
                            }
                        ]
                    }
                ]
            }
        ]
    }
    point = metrics_from_json(orjson.dumps(metrics)).resource_metrics[0].scope_metrics[0].metrics[0].gauge
    assert point.data_points[0].exemplars[0].trace_id.hex() == "ef" * 16
    assert point.data_points[0].as_int == 7


@pytest.mark.parametrize("bad_id", ["not-hex", "abc", 42, None])
def test_ids_that_are_not_hex_become_empty_for_the_converter_to_reject(bad_id: object) -> None:
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": bad_id, "spanId": "01" * 8}]}]}]}
    span = traces_from_json(orjson.dumps(body)).resource_spans[0].scope_spans[0].spans[0]
    assert span.trace_id == b""


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"resourceSpans": 5}', "not an OTLP/JSON request"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": 5}]}]}]}', "not an OTLP/JSON request"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}', "not an OTLP"),
    ],
)
def test_undecodable_bodies_are_refused(body: bytes, message: str) -> None:
    with pytest.raises(JsonDecodeError, match=message):
        traces_from_json(body)


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    request = traces_from_json(b'{"resourceSpans": [], "futureField": {"x": 1}}')
    assert len(request.resource_spans) == 0


def test_responses() -> None:
    assert response_json("rejectedSpans", 0, "") == b"{}"
    assert orjson.loads(response_json("rejectedSpans", 3, "why")) == {
        "partialSuccess": {"rejectedSpans": "3", "errorMessage": "why"}
    }
