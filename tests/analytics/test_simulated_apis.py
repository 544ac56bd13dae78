"""The demo estate's APIs: server spans with route templates and consumers, folded into API rows."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime

from analytics.fold import Fold, SpanFacts
from simulator.estate import FHIR_SERVER, PAYER_GATEWAY, SCHEDULING_API
from simulator.generator import Generator
from simulator.model import SpanSpec
from simulator.workflows import STREAM_BY_NAME

NS = 1_000_000_000
NOW_NS = int(datetime(2025, 3, 12, 15, 0, tzinfo=UTC).timestamp()) * NS  # a Wednesday, 10:00 Chicago
HOUR = 3600 * NS


def _api_spans(seed: int) -> list[SpanSpec]:
    generator = Generator(seed=seed, start_ns=NOW_NS - 6 * HOUR, streams=(STREAM_BY_NAME["api.request"],))
    return [item for item in generator.items(NOW_NS) if isinstance(item, SpanSpec)]


def test_the_estate_serves_apis_with_templates_consumers_and_errors() -> None:
    spans = _api_spans(7)
    assert spans == _api_spans(7)
    assert len(spans) > 300
    assert {s.service for s in spans} == {FHIR_SERVER, PAYER_GATEWAY, SCHEDULING_API}
    for span in spans:
        route = str(span.attributes["http.route"])
        assert not re.search(r"\d{4,}", route), route  # templates, never concrete ids
        assert span.attributes["client.id"]
    statuses = Counter(int(s.attributes["http.response.status_code"]) for s in spans)
    assert statuses[200] > 0 and sum(n for code, n in statuses.items() if code >= 400) > 0

    fold = Fold()
    for span in spans:
        assert fold.add(
            SpanFacts(
                span.service,
                span.kind,
                span.start_ns,
                span.end_ns - span.start_ns,
                span.error is not None,
                span.error,
                span.attributes,
                1,
                f"{span.trace_id:032x}",
            )
        )
    minute_keys = {key.api for key in fold.finished() if key.width_s == 60 and "*" not in key.api}
    interactions = {(k.interaction, k.resource_type) for k in minute_keys if k.service == FHIR_SERVER}
    assert {("read", "Patient"), ("search", "Encounter"), ("create", "Observation")} <= interactions
    assert {k.consumer for k in minute_keys} >= {"patient-portal", "billing", "call-center"}
