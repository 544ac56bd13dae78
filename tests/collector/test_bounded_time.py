"""No request can stall the collector: detectors run in linear time, off the event loop, with
bounded caches. No timings are asserted; a quadratic detector makes these tests run for minutes."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from collector.body import Encoding
from collector.ingest import Ingest, Signal
from collector.redaction import RedactionPolicy, Redactor
from collector.rows import SPAN_INDEX
from collector.self_metrics import CollectorMetrics
from collector.sink import InMemorySink
from collector.writer import GroupCommitWriter
from tests.collector.otlp import span, trace_request

SECRET = b"bounded-time-secret-0123456789"
SIZE = 512 * 1024


def long(shape: str) -> str:
    return (shape * (SIZE // len(shape) + 1))[:SIZE]


@pytest.mark.parametrize(
    ("shape", "planted", "kind"),
    [
        ("a", "jane.doe@example.org", "email"),
        ("a@", "jane.doe@example.org", "email"),
        ("a.", "jane.doe@example.org", "email"),
        ("1-", "123-45-6789", "ssn"),
        ("123-45-6789-", "123-45-6789", "ssn"),
        ("1", "(555) 867-5309", "phone"),
        ("555-867-5309x ", "555-867-5309", "phone"),
        (".", "04/12/2023", "date"),
        ("2024-05-01T10:", "04/12/2023", "date"),
        ("a-", "DOE^JANE", "name"),
        ("a'^1 ", "DOE^JANE", "name"),
        ("mrn ", "MRN: QZ88421X", "mrn"),
        ("PID", "PID|1||QZ88421X", "hl7_segment"),
        ("dob ", "DOB: 04/12/1961", "birth_date"),
        # The detectors of issue #12's shapes: keys and columns, SQL, JSON, URLs, phones, HL7.
        ("a=a=", "mrn=00123456", "mrn"),
        ("mrn=x ", "mrn=00123456", "mrn"),
        ("Name: ab ", "Name: Jane Doe", "name"),
        ("q=Ab+", "q=Jane+Doe", "name"),
        ("patient Ab ", "patient Jane Doe", "name"),
        ("'", "last_name = 'Smith'", "name"),
        ('\\"', '\\"family\\":\\"Doe\\"', "name"),
        ("[{", '"given":["Jane"]', "name"),
        ('{"a":[', '"telecom":[{"value":"5558675309"}]', "phone"),
        ("insert into t (a) values (", "INSERT INTO p (mrn) VALUES ('00123456')", "mrn"),
        ("x5558675309 ", "call 5558675309", "phone"),
        ("id=5558675309 ", "tel:5558675309", "phone"),
        ("%41", "jane.doe%40example.org", "email"),
        ("%4", "jane.doe%40example.org", "email"),
        ("\\rPID", "\\rPID|1||QZ88421X", "hl7_segment"),
        ("<C", "<CR>PID|1||QZ88421X", "hl7_segment"),
    ],
)
def test_half_a_megabyte_of_an_adversarial_shape_is_scanned_and_the_identifier_after_it_found(
    shape: str, planted: str, kind: str
) -> None:
    red = Redactor(RedactionPolicy(), SECRET)
    text = long(shape)
    assert red.text(text) == text
    redacted = red.text(f"{text} {planted}")
    assert redacted.startswith(text)
    assert f"[REDACTED:{kind}]" in redacted[len(text) :]
    assert planted not in redacted[len(text) :]


def test_half_a_megabyte_of_one_letter_in_a_key_and_a_value() -> None:
    red = Redactor(RedactionPolicy(), SECRET)
    key, value = long("k"), long("v") + " mail a@example.org"
    assert red.attributes({key: value}) == {key: long("v") + " mail [REDACTED:email]"}


def test_the_key_cache_stays_bounded_after_many_distinct_huge_keys() -> None:
    red = Redactor(RedactionPolicy(), SECRET, cache_size=8)
    for i in range(40):
        key = f"{i}" + "k" * (1 << 20)
        assert red.attributes({key: "x"}) == {key: "x"}
        red.text(f"{i}" + "v" * (1 << 20))
    assert red._key_actions == {} and red._texts == {} and red._clean == {"x"}
    for i in range(40):
        red.attributes({f"key{i}": "x"})
    assert 0 < len(red._key_actions) <= 8


class _Gate(Redactor):
    """Holds each request's redaction until the test lets it go, and notes on which thread it ran."""

    def __init__(self) -> None:
        super().__init__(RedactionPolicy(), SECRET)
        self.entered = threading.Event()
        self.release = threading.Event()
        self.threads: list[threading.Thread] = []

    def take_counts(self) -> dict[str, int]:
        self.threads.append(threading.current_thread())
        self.entered.set()
        # Bounded only so that a regression fails instead of hanging: the test sets it at once.
        assert self.release.wait(60)
        return super().take_counts()


@pytest.fixture
def gated() -> Iterator[tuple[Ingest, _Gate, InMemorySink]]:
    sink = InMemorySink()
    metrics = CollectorMetrics(CollectorRegistry())
    writer = GroupCommitWriter(sink, max_in_flight_bytes=1 << 24, on_commit=metrics.committed)
    writer.start()
    gate = _Gate()
    yield Ingest(gate, writer, metrics), gate, sink
    writer.close(10)


def test_redaction_runs_off_the_event_loop_which_answers_meanwhile(
    gated: tuple[Ingest, _Gate, InMemorySink],
) -> None:
    ingest, gate, sink = gated
    body = trace_request(span("big", attributes={"note": long("a@")})).SerializeToString()

    async def scenario() -> list[str]:
        assert ingest.writer.try_reserve(len(body))
        export = asyncio.create_task(ingest.export(Signal.TRACES, body, Encoding.PROTOBUF, len(body)))
        # The loop waits for the worker to hold the request, then serves another coroutine (what
        # /healthz is) while the request is still held: this cannot happen if redaction blocks it.
        entered = await asyncio.get_running_loop().run_in_executor(None, gate.entered.wait, 60)
        order = ["redaction held" if entered else "never entered"]
        await asyncio.sleep(0)
        order.append("loop answered" if not export.done() else "request already done")
        gate.release.set()
        await export
        order.append("request done")
        return order

    assert asyncio.run(scenario()) == ["redaction held", "loop answered", "request done"]
    assert gate.threads and gate.threads[0] is not threading.main_thread()
    assert [row[SPAN_INDEX["name"]] for row in sink.spans.values()] == ["big"]
