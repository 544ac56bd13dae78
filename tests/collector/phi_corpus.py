"""A corpus of synthetic PHI in the shapes integration telemetry really carries, and the OTLP
requests that plant it in every field a sender controls.

Every identifier is invented and unmistakable (no real person has these names, no store holds
these numbers by chance), so finding one of its forms anywhere the collector writes means it
leaked. Each ``Planted`` identifier says how it is written in its document and which forms
betray it: as written, lowercase, digits only, URL-encoded, and the distinctive parts of a name.

The documents are the ones integration engines log: an HL7 v2 ADT message (PID, NK1, IN1, GT1),
a FHIR Patient (compact, and a pretty-printed one, also cut off mid-structure), a SQL statement, a
URL with a query string, a log line, a JSON log line and an exception trace.
Each goes into every field of a span and a metric: names, status message, attribute values and
keys (also allow-listed keys, ``hc.key.*`` keys and ``bytes_value``), resource and scope, events
and exceptions, links, metric names and units, queues (on spans, on a producer/consumer hop and
on the queue gauges engines and brokers push). The same corpus is sent by the real
OpenTelemetry SDK (what it can express) and as hand-built requests (what it cannot: free text in
a metric name, arbitrary scope names per resource).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus

from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Link, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace import Status as SdkStatus
from opentelemetry.trace import StatusCode as SdkStatusCode

from tests.collector.otlp import key_values

NS = 1_000_000_000
#: A prefix that makes bytes not UTF-8: the collector must treat them as opaque.
OPAQUE = b"\xff\xfe\x00"
#: Each document carries one harmless token that must arrive: it proves every searched field
#: was stored and searched (a field dropped whole would make "nothing found" vacuous).
CANARY = "corpus-canary-"
#: The instant the SLA engine and the alerts evaluate at (``tests.alerts.factories.T0``): every
#: corpus span happened in the hour before it, so the error-ratio SLA burns and pages.
NOW_S = 1_780_000_000
#: The stage of every corpus span, kept free of PHI: the SLA selects on it.
STAGE = "phi.corpus"
SERVICE = "phi-corpus"


@dataclass(frozen=True)
class Planted:
    """One identifier: ``kind`` names its shape, ``value`` is what must never be found."""

    kind: str
    value: str
    #: Distinctive pieces that betray a partial leak (a given or family name alone).
    parts: tuple[str, ...] = ()

    def forms(self) -> dict[str, str]:
        """Form name -> text, each searched for case-insensitively."""
        out = {"as written": self.value}
        if self.value.lower() != self.value:
            out["lowercase"] = self.value.lower()
        digits = re.sub(r"\D", "", self.value)
        if len(digits) >= 6 and digits != self.value:
            out["digits-only"] = digits
        for name, encoded in (
            ("url-encoded", quote(self.value, safe="")),
            ("url-encoded+", quote_plus(self.value)),
        ):
            if encoded not in out.values():
                out[name] = encoded
        for part in self.parts:
            out[f"part {part}"] = part
        return out


def _p(kind: str, value: str, *parts: str) -> Planted:
    return Planted(kind, value, parts)


# -- the identifiers -------------------------------------------------------------------------

MRN_DASH = _p("mrn MRN-…", "48213977")
MRN_COLON = _p("mrn MRN:…", "58302146")
MRN_HASH = _p("mrn mrn#…", "69174253")
SQL_MRN = _p("sql WHERE mrn = '…'", "71628394")
SQL_LAST_NAME = _p("sql last_name = '…'", "Drummelow")
SQL_FIRST_NAME = _p("sql first_name = '…'", "Ysoldine")
URL_MRN = _p("url ?patient_mrn=…", "82739165")
URL_NAME_PLUS = _p("url patient_name=A+B", "Ozrielle Pinchbeck", "Ozrielle", "Pinchbeck")
URL_EMAIL_40 = _p("url-encoded e-mail %40", "xandrel.voss@kelmworth.example", "xandrel", "kelmworth")
URL_NAME_20 = _p("url-encoded Patient:%20Name", "Pellinore Gastraw", "Pellinore", "Gastraw")
PHONE_DIGITS = _p("phone digits only", "6178824319")
FORM_FIRST_NAME = _p("form first_name=", "Wendeline")
FORM_LAST_NAME = _p("form last_name=", "Sparrowgast")
LOG_PATIENT_NAME = _p("patient_name=", "Halvard Quennick", "Halvard", "Quennick")
LOG_GIVEN = _p("given=", "Merovia")
LOG_FAMILY = _p("family=", "Stallbrook")
PID_MRN = _p("hl7 PID-3 mrn", "00734219")
PID_NAME = _p("hl7 PID-5 name", "VANTORBURY^QUIXLEIGH", "Vantorbury", "Quixleigh")
PID_DOB = _p("hl7 PID-7 birth date", "19610412")
PID_ADDRESS = _p("hl7 PID-11 address", "4417 Wexcombe Lane", "Wexcombe")
PID_PHONE = _p("hl7 PID-13 phone", "(570)341-2298")
PID_ACCOUNT = _p("hl7 PID-18 account", "ACCT60418237")
PID_SSN = _p("hl7 PID-19 ssn", "529-61-3384")
NK1_NAME = _p("hl7 NK1-2 name", "TRUMBLECLAW^OSWINDE", "Trumbleclaw", "Oswinde")
NK1_PHONE = _p("hl7 NK1-5 phone", "(570)346-7710")
IN1_NAME = _p("hl7 IN1-16 insured name", "XENAKITH^MARVOLIO", "Xenakith", "Marvolio")
IN1_MEMBER = _p("hl7 IN1-36 member id", "W739148260")
GT1_NAME = _p("hl7 GT1-3 guarantor name", "YARDLOWE^BRIXTELLA", "Yardlowe", "Brixtella")
GT1_PHONE = _p("hl7 GT1-6 phone", "(570)963-4471")
FHIR_IDENTIFIER = _p("fhir identifier", "FH93817264")
FHIR_FAMILY = _p("fhir name.family", "Gressingham")
FHIR_GIVEN = _p("fhir name.given", "Elowyn")
FHIR_PHONE = _p("fhir telecom phone", "412-863-9275")
FHIR_EMAIL = _p("fhir telecom email", "elo.gress@torvane.example", "torvane")
FHIR_BIRTH = _p("fhir birthDate", "1974-09-23")
FHIR_ADDRESS = _p("fhir address", "2291 Maplethorn Court", "Maplethorn")
SSN = _p("ssn", "531-72-9846")
EMAIL = _p("e-mail", "zorbelt.quimsy@example.net", "zorbelt", "quimsy")
PHONE = _p("phone with separators", "(724) 318-6650")
DOB = _p("dob", "03/17/1958")
PATIENT_NAME = _p("Patient: Name", "Corvantha Ellingsby", "Corvantha", "Ellingsby")
MEMBER_ID = _p("member id", "ZQH704418265")
TRACE_NAME = _p("exception patient name", "Ignatia Vollbrecht", "Ignatia", "Vollbrecht")
JSON_FIRST_NAME = _p("json log first_name", "Leontyne")
JSON_LAST_NAME = _p("json log last_name", "Brackenridge")
JSON_DOB = _p("json log dob", "1949-11-05")
JSON_MRN = _p("json log mrn", "93026418")
JSON_SSN = _p("json log ssn", "612-40-8873")
JSON_PHONE = _p("json log phone digits", "8143907726")
JSON_EMAIL = _p("json log email", "leontyne.b@quillmere.example", "quillmere")
JSON_MEMBER = _p("json log member_id", "MBR448201937")
PRETTY_FAMILY = _p("fhir pretty name.family", "Ottercombe")
PRETTY_GIVEN = _p("fhir pretty name.given", "Isaura")
PRETTY_PHONE = _p("fhir pretty telecom", "+1 (814) 662-3098")
PRETTY_BIRTH = _p("fhir pretty birthDate", "1983-02-14")
PRETTY_IDENTIFIER = _p("fhir pretty identifier", "RP-55190387")
PRETTY_ADDRESS = _p("fhir pretty address", "17 Harrowgate Close", "Harrowgate")
CUT_IDENTIFIER = _p("fhir cut off after identifier", "RP-66204519")

PLANTED: tuple[Planted, ...] = tuple(
    value for value in list(globals().values()) if isinstance(value, Planted)
)


# -- the documents ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Document:
    """A text an integration engine would put in telemetry, and short snippets of it (each one
    identifier in its context) for the places that hold short text: keys, units, facilities."""

    name: str
    text: str
    snippets: tuple[str, ...]
    planted: tuple[Planted, ...] = field(default=())


HL7 = Document(
    "hl7",
    "\r".join(
        [
            "MSH|^~\\&|EPIC|NORTHHOSP|LAB|NORTHHOSP|20260528091500||ADT^A01|MSG20260528|P|2.5.1",
            f"PID|1||{PID_MRN.value}^^^NORTHHOSP^MR||{PID_NAME.value}^J||{PID_DOB.value}|F|||"
            f"{PID_ADDRESS.value}^^Dunmore^PA^18512||{PID_PHONE.value}|||S||{PID_ACCOUNT.value}|{PID_SSN.value}",
            f"NK1|1|{NK1_NAME.value}|SPO|88 Brindle Row^^Dunmore^PA^18512|{NK1_PHONE.value}",
            f"IN1|1|BCBS01|60054|BLUE CROSS||||GRP7781|||||||{IN1_NAME.value}|01|19580203"
            f"||||||||||||||||||||{IN1_MEMBER.value}",
            f"GT1|1||{GT1_NAME.value}||77 Quillon Rd^^Scranton^PA^18503|{GT1_PHONE.value}",
            "NTE|1||corpus-canary-hl7",
        ]
    ),
    (
        f"PID|1||{PID_MRN.value}^^^NORTHHOSP^MR||{PID_NAME.value}",
        f"NK1|1|{NK1_NAME.value}|SPO",
        f"GT1|1||{GT1_NAME.value}",
        f"IN1|1|BCBS01||||||||||||||{IN1_NAME.value}",
    ),
    (
        PID_MRN,
        PID_NAME,
        PID_DOB,
        PID_ADDRESS,
        PID_PHONE,
        PID_ACCOUNT,
        PID_SSN,
        NK1_NAME,
        NK1_PHONE,
        IN1_NAME,
        IN1_MEMBER,
        GT1_NAME,
        GT1_PHONE,
    ),
)

FHIR = Document(
    "fhir",
    (
        '{"resourceType":"Patient","id":"p1","meta":{"tag":[{"code":"corpus-canary-fhir"}]},"identifier":[{"system":"urn:oid:2.16.840.1.113883.19.5",'
        f'"value":"{FHIR_IDENTIFIER.value}"}}],"name":[{{"family":"{FHIR_FAMILY.value}",'
        f'"given":["{FHIR_GIVEN.value}"]}}],"telecom":[{{"system":"phone","value":"{FHIR_PHONE.value}"}},'
        f'{{"system":"email","value":"{FHIR_EMAIL.value}"}}],"birthDate":"{FHIR_BIRTH.value}",'
        f'"address":[{{"line":["{FHIR_ADDRESS.value}"],"city":"Wexley","postalCode":"15201"}}]}}'
    ),
    (
        f'"family":"{FHIR_FAMILY.value}"',
        f'"given":["{FHIR_GIVEN.value}"]',
        f'"birthDate":"{FHIR_BIRTH.value}"',
        f'"identifier":[{{"value":"{FHIR_IDENTIFIER.value}"}}]',
    ),
    (FHIR_IDENTIFIER, FHIR_FAMILY, FHIR_GIVEN, FHIR_PHONE, FHIR_EMAIL, FHIR_BIRTH, FHIR_ADDRESS),
)

SQL = Document(
    "sql",
    (
        "SELECT /* corpus-canary-sql */ p.id, p.first_name, p.last_name FROM patients p "
        f"WHERE mrn = '{SQL_MRN.value}' OR (last_name = '{SQL_LAST_NAME.value}' "
        f"AND first_name = '{SQL_FIRST_NAME.value}')"
    ),
    (
        f"WHERE mrn = '{SQL_MRN.value}'",
        f"last_name = '{SQL_LAST_NAME.value}'",
        f"first_name = '{SQL_FIRST_NAME.value}'",
    ),
    (SQL_MRN, SQL_LAST_NAME, SQL_FIRST_NAME),
)

URL = Document(
    "url",
    (
        f"https://portal.northhosp.test/api/lookup?patient_mrn={URL_MRN.value}"
        f"&patient_name={quote_plus(URL_NAME_PLUS.value)}&contact={quote(URL_EMAIL_40.value, safe='')}"
        f"&note={quote('Patient: ' + URL_NAME_20.value)}&callback={PHONE_DIGITS.value}"
        f"&first_name={FORM_FIRST_NAME.value}&last_name={FORM_LAST_NAME.value}&tag=corpus-canary-url"
    ),
    (
        f"/lookup?patient_mrn={URL_MRN.value}",
        f"patient_name={quote_plus(URL_NAME_PLUS.value)}",
        f"contact={quote(URL_EMAIL_40.value, safe='')}",
        f"note={quote('Patient: ' + URL_NAME_20.value)}",
        f"callback={PHONE_DIGITS.value}",
        f"first_name={FORM_FIRST_NAME.value}&last_name={FORM_LAST_NAME.value}",
    ),
    (URL_MRN, URL_NAME_PLUS, URL_EMAIL_40, URL_NAME_20, PHONE_DIGITS, FORM_FIRST_NAME, FORM_LAST_NAME),
)

LOG = Document(
    "log",
    (
        f"2026-05-28T09:15:00Z WARN corpus-canary-log admit failed: Patient: {PATIENT_NAME.value} "
        f"MRN-{MRN_DASH.value} "
        f"mrn#{MRN_HASH.value} SSN {SSN.value} DOB: {DOB.value} phone {PHONE.value} "
        f"email {EMAIL.value} Member ID: {MEMBER_ID.value} patient_name={LOG_PATIENT_NAME.value} "
        f"given={LOG_GIVEN.value} family={LOG_FAMILY.value}"
    ),
    (
        f"MRN-{MRN_DASH.value}",
        f"mrn#{MRN_HASH.value}",
        f"SSN {SSN.value}",
        f"DOB: {DOB.value}",
        f"phone {PHONE.value}",
        EMAIL.value,
        f"Member ID: {MEMBER_ID.value}",
        f"Patient: {PATIENT_NAME.value}",
        f"patient_name={LOG_PATIENT_NAME.value}",
        f"given={LOG_GIVEN.value}",
        f"family={LOG_FAMILY.value}",
    ),
    (
        MRN_DASH,
        MRN_HASH,
        SSN,
        DOB,
        PHONE,
        EMAIL,
        MEMBER_ID,
        PATIENT_NAME,
        LOG_PATIENT_NAME,
        LOG_GIVEN,
        LOG_FAMILY,
    ),
)


class CorpusError(Exception):
    """The exception an integration engine records on a failed lookup."""


TRACE_MESSAGE = f"no encounter for MRN:{MRN_COLON.value} (patient {TRACE_NAME.value})"
TRACE = Document(
    "trace",
    (
        "Traceback (most recent call last):\n"
        '  File "/srv/corpus-canary-trace/adt.py", line 88, in route\n'
        f'    encounter = lookup(mrn="MRN:{MRN_COLON.value}", name="{TRACE_NAME.value}")\n'
        '  File "/srv/engine/registry.py", line 12, in lookup\n'
        "    raise CorpusError(message)\n"
        f"tests.collector.phi_corpus.CorpusError: {TRACE_MESSAGE}"
    ),
    (f"MRN:{MRN_COLON.value}", f"patient {TRACE_NAME.value}"),
    (MRN_COLON, TRACE_NAME),
)

JSON_LOG = Document(
    "jsonlog",
    json.dumps(
        {
            "ts": "2026-05-28T09:16:00Z",
            "level": "error",
            "msg": "registration rejected corpus-canary-jsonlog",
            "patient": {
                "first_name": JSON_FIRST_NAME.value,
                "last_name": JSON_LAST_NAME.value,
                "dob": JSON_DOB.value,
                "mrn": JSON_MRN.value,
                "ssn": JSON_SSN.value,
                "phone": JSON_PHONE.value,
                "email": JSON_EMAIL.value,
                "member_id": JSON_MEMBER.value,
            },
        },
        separators=(",", ":"),
    ),
    (
        f'"mrn":"{JSON_MRN.value}"',
        f'"first_name":"{JSON_FIRST_NAME.value}"',
        f'"last_name":"{JSON_LAST_NAME.value}"',
        f'"ssn":"{JSON_SSN.value}"',
        f'"member_id":"{JSON_MEMBER.value}"',
    ),
    (JSON_FIRST_NAME, JSON_LAST_NAME, JSON_DOB, JSON_MRN, JSON_SSN, JSON_PHONE, JSON_EMAIL, JSON_MEMBER),
)

#: A FHIR resource as servers and engines usually log it: pretty-printed, spaces after colons.
FHIR_PRETTY = Document(
    "fhir-pretty",
    json.dumps(
        {
            "resourceType": "RelatedPerson",
            "meta": {"tag": [{"code": "corpus-canary-fhir-pretty"}]},
            "identifier": [{"system": "urn:oid:2.16.840.1.113883.19.7", "value": PRETTY_IDENTIFIER.value}],
            "name": [{"use": "official", "family": PRETTY_FAMILY.value, "given": [PRETTY_GIVEN.value]}],
            "telecom": [{"system": "phone", "value": PRETTY_PHONE.value}],
            "birthDate": PRETTY_BIRTH.value,
            "address": [{"line": [PRETTY_ADDRESS.value], "city": "Altoona"}],
        },
        indent=2,
    ),
    (
        f'"family": "{PRETTY_FAMILY.value}"',
        f'"birthDate": "{PRETTY_BIRTH.value}"',
        # Cut mid-structure, as an attribute length limit cuts a long resource.
        '{\n  "resourceType": "Patient",\n  "identifier": [\n    {\n'
        f'      "system": "urn:oid:2.16.840.1.113883.19.7",\n      "value": "{CUT_IDENTIFIER.value}"',
    ),
    (
        PRETTY_FAMILY,
        PRETTY_GIVEN,
        PRETTY_PHONE,
        PRETTY_BIRTH,
        PRETTY_IDENTIFIER,
        PRETTY_ADDRESS,
        CUT_IDENTIFIER,
    ),
)

DOCUMENTS: tuple[Document, ...] = (HL7, FHIR, SQL, URL, LOG, TRACE, JSON_LOG, FHIR_PRETTY)


def unplanted() -> list[str]:
    """Identifiers no document writes as planned (a corpus typo would make the test pass
    vacuously): each must be in its document's text or snippets, as written or encoded."""
    return [
        p.kind
        for p in PLANTED
        if not any(
            p in d.planted and any(f in text for f in p.forms().values() for text in (d.text, *d.snippets))
            for d in DOCUMENTS
        )
    ]


# -- where a document goes -------------------------------------------------------------------


def facility(doc: Document) -> str:
    """The ``hc.facility`` of a document's spans: short, with an identifier in it (as a careless
    integration that puts the sending system's free text there would send it). The SLA is sliced
    by it, so it reaches the SLA state, the evaluations and the alert labels."""
    return f"North Campus {doc.snippets[0]}"


def key_attributes(doc: Document) -> dict[str, Any]:
    """Identifiers inside attribute keys: plain keys, keys an allow-list glob matches
    (``telemetry.sdk.*``, ``deployment.environment*``) and ``hc.key.*`` keys."""
    out: dict[str, Any] = {}
    for snippet in doc.snippets:
        out[f"lookup {snippet}"] = "miss"
        out[f"telemetry.sdk.{snippet}"] = "1"
        out[f"deployment.environment {snippet}"] = "prod"
        out[f"hc.key.{snippet}"] = "correlate"
    return out


def span_attributes(doc: Document) -> dict[str, Any]:
    """Every attribute shape: plain keys, semantic-convention keys, allow-listed business keys
    (their columns too), a queue, nested arrays and maps, bytes, and identifiers in keys."""
    text = doc.text
    return {
        "hc.stage": STAGE,
        "hc.facility": facility(doc),
        "hc.system": text,
        "hc.workflow": text,
        "hc.message.type": text,
        "hc.service_line": text,
        "hc.denial.code": text,
        "hc.supply.category": text,
        "messaging.system": "rabbitmq",
        "messaging.destination.name": f"adt-inbound {doc.snippets[0]}",
        "messaging.operation.name": text,
        "rpc.method": text,
        "db.statement": text,
        "db.query.text": text,
        "url.full": text,
        "url.query": text,
        "http.route": text,
        "log.message": text,
        "integration.payload": text,
        "integration.snippets": list(doc.snippets),
        "integration.detail": {"document": text, "snippet": doc.snippets[0]},
        "integration.bytes": text.encode(),
        "integration.opaque": OPAQUE + text.encode(),
        **key_attributes(doc),
    }


def malformed_business(doc: Document) -> dict[str, Any]:
    """Business attributes whose value is not what they hold (a time, an amount): the span is
    kept, and ``partial_success`` names the attribute; neither may repeat the value."""
    return {"hc.occurred_at": doc.snippets[0], "hc.amount": doc.snippets[-1]}


def resource_attributes() -> dict[str, Any]:
    """One resource for the SDK's provider: every document in values and keys."""
    out: dict[str, Any] = {"service.name": SERVICE, "service.instance.id": LOG.snippets[0]}
    for doc in DOCUMENTS:
        out[f"integration.{doc.name}"] = doc.text
        out[f"deployment.environment.{doc.name}"] = doc.snippets[0]
    out.update(key_attributes(LOG))
    return out


def document_resource(doc: Document) -> dict[str, Any]:
    """The resource of one document's spans in the hand-built requests."""
    return {
        # A sender may put anything in service.name too: one document's spans do.
        "service.name": f"{SERVICE} {doc.snippets[0]}" if doc is LOG else SERVICE,
        "service.namespace": doc.snippets[-1],
        "service.instance.id": doc.snippets[0],
        "service.version": doc.text,
        "host.name": doc.text,
        "integration.bytes": doc.text.encode(),
        **key_attributes(doc),
    }


def span_times(doc_index: int, copy: int) -> tuple[int, int]:
    """Start and end of a corpus span: minutes apart, all in the hour before ``NOW_S``."""
    start = (NOW_S - 55 * 60 + (doc_index * 6 + copy) * 60) * NS
    return start, start + 250_000_000


# -- hand-built requests ---------------------------------------------------------------------

_TRACE_FILL = bytes.fromhex("7c1e")


def _ids(doc_index: int, copy: int, salt: int) -> tuple[bytes, bytes]:
    """Fixed, valid ids (never all zero) that no planted digit run can appear in."""
    seed = bytes([0xA0 + salt, 0xB0 + doc_index, 0xC0 + copy])
    return (_TRACE_FILL + seed) * 3 + _TRACE_FILL[:1], seed + _TRACE_FILL + seed[:3]


def _span(doc: Document, doc_index: int, copy: int) -> Span:
    start, end = span_times(doc_index, copy)
    trace_id, span_id = _ids(doc_index, copy, 1)
    link_trace, link_span = _ids(doc_index, copy, 2)
    out = Span(
        trace_id=trace_id,
        span_id=span_id,
        name=doc.text,
        kind=Span.SPAN_KIND_SERVER,
        start_time_unix_nano=start,
        end_time_unix_nano=end,
    )
    out.attributes.extend(key_values({**span_attributes(doc), **malformed_business(doc)}))
    out.status.code = Status.STATUS_CODE_ERROR
    out.status.message = doc.text
    event = out.events.add(time_unix_nano=start + 1, name=doc.text)
    event.attributes.extend(key_values({"log.message": doc.text, **key_attributes(doc)}))
    exception = out.events.add(time_unix_nano=start + 2, name="exception")
    exception.attributes.extend(
        key_values(
            {
                "exception.type": "tests.collector.phi_corpus.CorpusError",
                "exception.message": doc.text,
                "exception.stacktrace": TRACE.text + "\n" + doc.text,
            }
        )
    )
    link = out.links.add(trace_id=link_trace, span_id=link_span)
    link.attributes.extend(key_values({"link.reason": doc.text, "integration.bytes": doc.text.encode()}))
    return out


def trace_request(copies: int = 2) -> ExportTraceServiceRequest:
    """Each document as its own resource and scope (named by the document), ``copies`` spans each."""
    request = ExportTraceServiceRequest()
    for index, doc in enumerate(DOCUMENTS):
        resource_spans = request.resource_spans.add()
        resource_spans.resource.attributes.extend(key_values(document_resource(doc)))
        scope_spans = resource_spans.scope_spans.add()
        scope_spans.scope.name = doc.text
        scope_spans.scope.version = doc.snippets[0]
        scope_spans.scope.attributes.extend(key_values({"scope.note": doc.text}))
        scope_spans.spans.extend(_span(doc, index, copy) for copy in range(copies))
        scope_spans.spans.extend(_queue_hop(request, doc, index))
    return request


#: The service that sends each document's message over the queue, for the dependency graph.
SENDER = "phi-corpus-sender"


def _queue_hop(request: ExportTraceServiceRequest, doc: Document, doc_index: int) -> list[Span]:
    """A producer (another service, its own resource) and the consumer that links to it, both
    naming the queue: the dashboard's dependency fold joins them into an edge *via* that queue.
    Adds the producer's resource to ``request``; returns the consumer."""
    queue = {"messaging.system": "rabbitmq", "messaging.destination.name": f"adt-inbound {doc.snippets[0]}"}
    start, end = span_times(doc_index, 3)
    trace_id, producer_id = _ids(doc_index, 3, 4)
    _, consumer_id = _ids(doc_index, 4, 4)
    producer = Span(
        trace_id=trace_id,
        span_id=producer_id,
        name=f"publish {doc.snippets[0]}",
        kind=Span.SPAN_KIND_PRODUCER,
        start_time_unix_nano=start,
        end_time_unix_nano=end,
    )
    producer.attributes.extend(key_values({**queue, "messaging.message.id": doc.snippets[-1]}))
    sender = request.resource_spans.add()
    sender.resource.attributes.extend(key_values({"service.name": SENDER}))
    sender.scope_spans.add().spans.append(producer)
    consumer = Span(
        trace_id=_ids(doc_index, 4, 5)[0],
        span_id=consumer_id,
        name=f"process {doc.snippets[0]}",
        kind=Span.SPAN_KIND_CONSUMER,
        start_time_unix_nano=end + NS,
        end_time_unix_nano=end + 2 * NS,
    )
    consumer.attributes.extend(key_values({**queue, "hc.facility": facility(doc)}))
    link = consumer.links.add(trace_id=trace_id, span_id=producer_id)
    link.attributes.extend(key_values({"messaging.destination.name": queue["messaging.destination.name"]}))
    return [consumer]


def metrics_request() -> ExportMetricsServiceRequest:
    """Per document: free text in the metric's name, unit, scope, resource, attributes and queue,
    as a gauge, a sum and a histogram."""
    request = ExportMetricsServiceRequest()
    for index, doc in enumerate(DOCUMENTS):
        resource_metrics = request.resource_metrics.add()
        resource_metrics.resource.attributes.extend(key_values(document_resource(doc)))
        scope_metrics = resource_metrics.scope_metrics.add()
        scope_metrics.scope.name = doc.text
        time_ns, _ = span_times(index, 0)
        attrs = key_values(span_attributes(doc))
        gauge = scope_metrics.metrics.add(name=doc.text, unit=doc.snippets[0], description=doc.text)
        point = gauge.gauge.data_points.add(time_unix_nano=time_ns, as_double=1.0)
        point.attributes.extend(attrs)
        total = scope_metrics.metrics.add(name=f"admissions {doc.snippets[-1]}", unit=doc.snippets[-1])
        total.sum.aggregation_temporality = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
        total.sum.is_monotonic = True
        point = total.sum.data_points.add(time_unix_nano=time_ns, start_time_unix_nano=time_ns - NS, as_int=3)
        point.attributes.extend(attrs)
        histogram = scope_metrics.metrics.add(name=f"queue.depth {doc.snippets[0]}", unit="{message}")
        histogram.histogram.aggregation_temporality = (
            AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
        )
        bucket = histogram.histogram.data_points.add(
            time_unix_nano=time_ns, start_time_unix_nano=time_ns - NS, count=2, sum=3.0
        )
        bucket.explicit_bounds.extend([1.0, 5.0])
        bucket.bucket_counts.extend([1, 1, 0])
        bucket.attributes.extend(attrs)
        for name, queue_attrs in queue_metrics(doc).items():
            queue_gauge = scope_metrics.metrics.add(name=name)
            point = queue_gauge.gauge.data_points.add(time_unix_nano=time_ns, as_int=7)
            point.attributes.extend(key_values(queue_attrs))
    return request


def queue_metrics(doc: Document) -> dict[str, dict[str, Any]]:
    """Queue gauges as engines and brokers push them: the queues component maps their queue,
    topic and consumer-group labels into the ``queue`` column and its own attributes."""
    queue = f"adt-inbound {doc.snippets[0]}"
    return {
        "queue.depth": {"messaging.destination.name": queue, "messaging.system": "rabbitmq"},
        "rabbitmq_queue_messages_ready": {"queue": queue, "vhost": doc.snippets[-1]},
        "kafka_consumergroup_lag_sum": {"topic": queue, "consumergroup": doc.snippets[-1]},
    }


def otlp_json(request: Message) -> bytes:
    """OTLP/JSON of a request: protobuf's JSON mapping with integer enums and hex ids."""
    import orjson

    data = json_format.MessageToDict(request, use_integers_for_enums=True)

    def fix(node: Any) -> None:
        if isinstance(node, dict):
            for name in ("traceId", "spanId", "parentSpanId"):
                if isinstance(node.get(name), str):
                    node[name] = base64.b64decode(node[name]).hex()
            for value in node.values():
                fix(value)
        elif isinstance(node, list):
            for value in node:
                fix(value)

    fix(data)
    return orjson.dumps(data)


# -- through the real SDK --------------------------------------------------------------------


def emit_sdk_spans(provider: TracerProvider) -> int:
    """The corpus through the SDK's API: one tracer per document (its scope name is the
    document), span name, attributes, an event, a recorded exception with its real stack trace,
    a link and an error status. Returns the number of spans."""
    count = 0
    for index, doc in enumerate(DOCUMENTS):
        tracer = provider.get_tracer(doc.text, doc.snippets[0])
        start, end = span_times(index, 5)
        link_trace, link_span = _ids(index, 5, 3)
        linked = SpanContext(
            int.from_bytes(link_trace), int.from_bytes(link_span), is_remote=True, trace_flags=TraceFlags(1)
        )
        span = tracer.start_span(
            doc.text,
            kind=SpanKind.SERVER,
            attributes=span_attributes(doc),
            links=[Link(linked, {"link.reason": doc.text, **key_attributes(doc)})],
            start_time=start,
        )
        span.add_event(doc.text, {"log.message": doc.text, **key_attributes(doc)}, timestamp=start + 1)
        try:
            _raise(doc.text)
        except CorpusError as exc:
            span.record_exception(exc, {"integration.payload": doc.text}, timestamp=start + 2)
        span.set_status(SdkStatus(SdkStatusCode.ERROR, doc.text))
        span.end(end_time=end)
        count += 1
    return count


def _raise(message: str) -> None:
    raise CorpusError(message)


#: Metric names the SDK accepts (``[A-Za-z][-_./A-Za-z0-9]*``) and units (ASCII, 63 characters)
#: with identifiers in them, as an engine that names instruments after the record would.
SDK_METRIC_NAMES = (
    f"mrn-{MRN_DASH.value}.admissions",
    f"patient_name.{PATIENT_NAME.parts[0]}.{PATIENT_NAME.parts[1]}.visits",
    f"member_id/{MEMBER_ID.value}/claims",
)
SDK_UNITS = (f"MRN:{MRN_COLON.value}", f"SSN {SSN.value}", f"mrn#{MRN_HASH.value}")


def emit_sdk_metrics(provider: MeterProvider) -> None:
    """A counter and a histogram per name above, with every document's attributes; one meter
    per document (the scope name is the document)."""
    for doc in DOCUMENTS:
        meter = provider.get_meter(doc.text, doc.snippets[0])
        attrs = span_attributes(doc)
        for name, unit in zip(SDK_METRIC_NAMES, SDK_UNITS, strict=True):
            meter.create_counter(name, unit=unit, description=doc.text).add(1, attrs)
            meter.create_histogram(f"{name}.duration", unit=unit).record(0.5, attrs)


def sdk_resource() -> Mapping[str, Any]:
    return resource_attributes()


# -- finding what leaked ---------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Leak:
    where: str  # "spans.attributes['db.statement']", "log", "/metrics", "slack chat.postMessage"
    kind: str
    form: str
    text: str

    def __str__(self) -> str:
        return f"{self.kind!r} {self.form} {self.text!r} in {self.where}"


def _forms() -> list[tuple[Planted, str, str]]:
    return [(p, name, text.lower()) for p in PLANTED for name, text in p.forms().items()]


FORMS = _forms()


def find_in_text(text: str, where: str) -> Iterator[Leak]:
    lowered = text.lower()
    for planted, name, form in FORMS:
        if form in lowered:
            yield Leak(where, planted.kind, name, form)


def find_in_value(value: Any, where: str) -> Iterator[Leak]:
    """Leaks in a stored value: JSON documents are walked, so a leak names its path, keys
    included (``attributes{key}`` for an identifier in a key)."""
    if value is None or isinstance(value, bool | int | float):
        return
    if isinstance(value, bytes | bytearray | memoryview):
        value = bytes(value).decode("utf-8", "replace")
    if isinstance(value, str):
        stripped = value.strip()
        if stripped[:1] in ("{", "[") and stripped[-1:] in ("}", "]"):
            try:
                import orjson

                yield from find_in_value(orjson.loads(stripped), where)
                return
            except ValueError:
                pass
        yield from find_in_text(value, where)
        if _BASE64.fullmatch(stripped):
            decoded = base64.b64decode(stripped).decode("utf-8", "replace")
            yield from find_in_text(decoded, f"{where} (base64)")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from find_in_text(str(key), f"{where}{{key}}")
            yield from find_in_value(item, f"{where}[{_short(str(key))}]")
    elif isinstance(value, list | tuple):
        for item in value:
            yield from find_in_value(item, f"{where}[]")
    else:
        yield from find_in_text(str(value), where)


#: Text that may be bytes kept as base64 (``opaque_bytes: base64``): decoded and searched too.
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4}){4,}(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


def _short(key: str) -> str:
    """An attribute key for a leak's location: short keys as they are, long ones cut, and
    identifiers inside keys masked so the location itself does not repeat the finding."""
    masked = key
    for _, _, form in FORMS:
        masked = re.sub(re.escape(form), "…", masked, flags=re.IGNORECASE)
    return repr(masked if len(masked) <= 48 else masked[:45] + "...")


__all__ = [
    "DOCUMENTS",
    "FORMS",
    "NOW_S",
    "PLANTED",
    "SERVICE",
    "STAGE",
    "Document",
    "Leak",
    "Planted",
    "emit_sdk_metrics",
    "emit_sdk_spans",
    "find_in_text",
    "find_in_value",
    "metrics_request",
    "otlp_json",
    "sdk_resource",
    "trace_request",
    "unplanted",
]
