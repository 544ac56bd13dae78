"""Value detectors on the shapes integration telemetry really carries (issue #12): identifiers
after separators and prefixes, in SQL, URL query strings and percent-encoded text, digits-only
phone numbers, names next to form and column names, HL7 v2 segments however they are split,
FHIR JSON carried as a string; and ordinary telemetry left alone."""

from __future__ import annotations

import json

import pytest

from collector.phi import ALL_VALUE_DETECTORS, ValueScanner
from collector.phi_keys import KEY_DETECTORS, TEXT_KEYS, key_stems, normalize_key, text_key_kind

SCANNER = ValueScanner(ALL_VALUE_DETECTORS)


def redact(text: str) -> str:
    return SCANNER.redact(text)[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # identifiers with separators or prefixes
        ("MRN-12345678", "MRN-[REDACTED:mrn]"),
        ("MRN:12345678", "MRN:[REDACTED:mrn]"),
        ("mrn#12345678", "mrn#[REDACTED:mrn]"),
        ("MRN 12345678", "MRN [REDACTED:mrn]"),
        ("MRN12345678", "MRN[REDACTED:mrn]"),
        ("mrn: 00123456", "mrn: [REDACTED:mrn]"),
        ("Med Rec # 00123456", "Med Rec # [REDACTED:mrn]"),
        ("dob: 1961-04-12", "dob: [REDACTED:birth_date]"),
        ("patient dob: March 4, 1961", "patient dob: [REDACTED:birth_date]"),
        ("Member ID: ZQH704418265", "Member ID: [REDACTED:member_id]"),
        # SQL
        ("SELECT * FROM p WHERE mrn = '00123456'", "SELECT * FROM p WHERE mrn = '[REDACTED:mrn]'"),
        ("WHERE last_name = 'Smith'", "WHERE last_name = '[REDACTED:name]'"),
        ("WHERE p.last_name LIKE 'Smi%'", "WHERE p.last_name LIKE '[REDACTED:name]'"),
        ("WHERE lower(last_name) = 'smith'", "WHERE lower(last_name) = '[REDACTED:name]'"),
        ("first_name='Jane'", "first_name='[REDACTED:name]'"),
        ("patient_name = 'Doe, Jane'", "patient_name = '[REDACTED:name]'"),
        ("ssn = '123456789'", "ssn = '[REDACTED:ssn]'"),
        ("ssn = 123456789", "ssn = [REDACTED:ssn]"),
        ("dob = '1961-04-12'", "dob = '[REDACTED:birth_date]'"),
        ("WHERE \"birthDate\" = '1961-04-12'", "WHERE \"birthDate\" = '[REDACTED:birth_date]'"),
        (
            "INSERT INTO patients (mrn, last_name) VALUES ('00123456', 'Smith'), ('00123457', 'Doe')",
            "INSERT INTO patients (mrn, last_name) VALUES [REDACTED:mrn]",
        ),
        # URL query strings and percent-encoded text
        ("GET /x?patient_mrn=00123456&x=1", "GET /x?patient_mrn=[REDACTED:mrn]&x=1"),
        ("/lookup?patient_name=Jane+Doe", "/lookup?patient_name=[REDACTED:name]"),
        ("?a=1&dob=1961-04-12", "?a=1&dob=[REDACTED:birth_date]"),
        ("?email=jane%40example.org&x=1", "?email=[REDACTED:email]&x=1"),
        ("reply to jane.doe%40example.org", "reply to [REDACTED:email]"),
        ("q=Patient%3A%20Doe", "q=Patient%3A%20[REDACTED:name]"),
        ("q=Jane%20Doe&page=2", "q=[REDACTED:name]&page=2"),
        (
            "note=Patient%3A+Jane+Doe%2C+DOB%3A+04%2F12%2F1961",
            "note=Patient%3A+[REDACTED:name]%2C+DOB%3A+[REDACTED:birth_date]",
        ),
        # segments of dotted or slashed names (instrument names, routes)
        ("patient_name.Jane.Doe.visits", "patient_name.[REDACTED:name].visits"),
        ("patient_name.jane.doe.visits.duration", "patient_name.[REDACTED:name].duration"),
        ("member_id/ZQH704418265/claims", "member_id/[REDACTED:member_id]/claims"),
        ("GET /api/mrn/00123456/encounters", "GET /api/mrn/[REDACTED:mrn]/encounters"),
        # digits-only phone numbers
        ("phone=5558675309", "phone=[REDACTED:phone]"),
        ("tel:5558675309", "tel:[REDACTED:phone]"),
        ("tel:+15558675309", "tel:[REDACTED:phone]"),
        ("phone 5558675309", "phone [REDACTED:phone]"),
        ("fax# 555.867.5309", "fax# [REDACTED:phone]"),
        ("call back 5558675309", "call back [REDACTED:phone]"),
        ("call back 15558675309", "call back [REDACTED:phone]"),
        ("call back +15558675309", "call back [REDACTED:phone]"),
        ("?callback=6178824319&x=1", "?callback=[REDACTED:phone]&x=1"),
        # names next to form and column names
        ("first_name=Jane", "first_name=[REDACTED:name]"),
        ("first_name=jane&last_name=doe", "first_name=[REDACTED:name]&last_name=[REDACTED:name]"),
        ('"family": "Doe"', '"family": "[REDACTED:name]"'),
        ("given: Jane", "given: [REDACTED:name]"),
        ("given=Jane family=Doe", "given=[REDACTED:name] family=[REDACTED:name]"),
        ("Name: Jane Doe", "Name: [REDACTED:name]"),
        ("lookup failed Name: Jane Doe", "lookup failed Name: [REDACTED:name]"),
        ("patient_name: Jane Q Doe status: ok", "patient_name: [REDACTED:name] status: ok"),
        (
            "first_name=Jane last_name=Doe status=ok",
            "first_name=[REDACTED:name] last_name=[REDACTED:name] status=ok",
        ),
        (
            'lookup(mrn="MRN:58302146", name="Ignatia Vollbrecht")',
            'lookup(mrn="[REDACTED:mrn]", name="[REDACTED:name]")',
        ),
        ("no encounter (patient Ignatia Vollbrecht)", "no encounter (patient [REDACTED:name])"),
        ("home_address: 1 Main St city: Springfield", "home_address: [REDACTED:address] city: Springfield"),
        # HL7 v2, however the segments are separated
        ("error processing PID|1||00123456^^^MRN||DOE^JANE", "error processing PID|[REDACTED:hl7_segment]"),
        (
            "MSH|^~\\&|A|B\rPID|1||00123456||DOE^JANE\rPV1|1|I",
            "MSH|^~\\&|A|B\rPID|[REDACTED:hl7_segment]\rPV1|1|I",
        ),
        ("MSH|^~\\&|A|B\nNK1|1|DOE^JOHN|SPO\nPV1|1|I", "MSH|^~\\&|A|B\nNK1|[REDACTED:hl7_segment]\nPV1|1|I"),
        (
            "MSH|^~\\&|A|B\r\nGT1|1||DOE^JOHN\r\nPV1|1|I",
            "MSH|^~\\&|A|B\r\nGT1|[REDACTED:hl7_segment]\r\nPV1|1|I",
        ),
        ("MSH|^~\\&|A|B\\rIN1|1|BC||DOE^J\\rPV1|1|I", "MSH|^~\\&|A|B\\rIN1|[REDACTED:hl7_segment]\\rPV1|1|I"),
        (
            "MSH|^~\\&|A|B<CR>PID|1||00123456<CR>PV1|1|I",
            "MSH|^~\\&|A|B<CR>PID|[REDACTED:hl7_segment]<CR>PV1|1|I",
        ),
        (
            "MSH#^~\\&#A#B\rPID#1##00123456##DOE^JANE\rPV1#1",
            "MSH#^~\\&#A#B\rPID#[REDACTED:hl7_segment]\rPV1#1",
        ),
        ("PID|1||00123456||O\\S\\BRIEN^PAT", "PID|[REDACTED:hl7_segment]"),
    ],
)
def test_identifiers_in_the_shapes_telemetry_carries_are_replaced(text: str, expected: str) -> None:
    assert redact(text) == expected


PATIENT = {
    "resourceType": "Patient",
    "id": "p1",
    "name": [{"family": "Doe", "given": ["Jane"]}],
    "telecom": [{"system": "phone", "value": "555-867-5309"}, {"system": "email", "value": "jd@example.org"}],
    "identifier": [{"system": "urn:mrn", "type": {"coding": [{"code": "MR"}]}, "value": "00123456"}],
    "birthDate": "1961-04-12",
    "gender": "female",
    "address": [{"line": ["1 Main St"], "city": "Springfield", "postalCode": "62701"}],
}
FHIR_PLANTED = [
    "Doe",
    "Jane",
    "555-867-5309",
    "jd@example.org",
    "00123456",
    "1961-04-12",
    "1 Main St",
    "62701",
]


@pytest.mark.parametrize(
    "document",
    [
        json.dumps(PATIENT, separators=(",", ":")),
        json.dumps(PATIENT, indent=2),
        json.dumps({"body": json.dumps(PATIENT)}),  # escaped quotes inside another JSON string
        json.dumps(PATIENT, indent=2)[:-60],  # cut off by a log line limit
    ],
    ids=["compact", "pretty", "escaped", "cut-off"],
)
def test_fhir_json_carried_as_a_string_loses_every_identifier(document: str) -> None:
    out = redact(document)
    for value in FHIR_PLANTED:
        assert value not in out
    assert '"resourceType"' in out.replace("\\", "")
    assert "Patient" in out


def test_fhir_keeps_what_is_not_an_identifier() -> None:
    out = redact(json.dumps(PATIENT, separators=(",", ":")))
    assert out == (
        '{"resourceType":"Patient","id":"p1","name":[REDACTED:name],"telecom":[REDACTED:phone],'
        '"identifier":[REDACTED:mrn],"birthDate":"[REDACTED:birth_date]","gender":"female",'
        '"address":[REDACTED:address]}'
    )


@pytest.mark.parametrize(
    "text",
    [
        "GET /fhir/Patient/{id}",
        "GET /fhir/Patient/12345",
        "member_id/{id}/claims",
        "patient.name.length",
        "phone.count",
        "SELECT * FROM charges WHERE id = ?",
        "UPDATE charges SET amount = $1 WHERE mrn = :mrn AND ssn = %s AND dob = @dob",
        "INSERT INTO charges (id, amount) VALUES (1, 20.5)",
        "2024-05-01T10:00:00Z",
        "HL7 ADT^A01 process",
        "ORU^R01",
        "http.route=/fhir/Patient/{id}",
        "https://example.org:8443/api?b=c&page=2",
        "trace 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7",
        "MRN lookup failed",
        "phone: missing",
        "email: required",
        "address family: inet",
        "queue name: adt-inbound",
        "Queue Name: adt-inbound",
        '{"name":"erp.gl.post","kind":"SERVER"}',
        '{"name":"HL7 ADT^A01 process","attributes":[{"key":"hc.stage"}]}',
        "process PID: 4242 exited",
        "posted 1843.20 to GL 4000-100",
        # bare ten-digit numbers that are not phone numbers
        "order_id=5558675309",
        "orderId: 5558675309",
        "claim # 5558675309",
        "id: 5558675309",
        "took 2147483648 bytes",
        "elapsed 2500000000 ns",
        "at 1750000000",
        "amount 5558675309.00",
        "start_ns=1750000000000000000",
        "version 3.5558675309",
    ],
)
def test_ordinary_telemetry_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_a_percent_encoded_identifier_is_replaced_in_the_encoded_text() -> None:
    text = "GET /search?contact=xandrel.voss%40kelmworth.example&sort=asc"
    assert redact(text) == "GET /search?contact=[REDACTED:email]&sort=asc"
    found = SCANNER.find(text.encode())
    assert [(item.kind, text[item.context_end : item.end]) for item in found] == [
        ("email", "xandrel.voss%40kelmworth.example")
    ]


def test_multibyte_text_around_percent_escapes_maps_back_to_character_boundaries() -> None:
    text = "caf\u00e9 \u2013 mail jane.doe%40example.org, n\u00e9"
    assert redact(text) == "caf\u00e9 \u2013 mail [REDACTED:email], n\u00e9"


def test_every_key_the_key_detectors_flag_is_a_context_in_free_text() -> None:
    keys = ["patient_mrn", "birthDate", "member_id", "phone", "subscriber.ssn", "zip_code", "emailAddress"]
    for key in keys:
        kind = text_key_kind(key)
        assert kind is not None and kind[0] in KEY_DETECTORS
        assert redact(f"{key}=x7@example.org") == f"{key}=[REDACTED:{kind[0]}]"


def test_the_stems_cover_every_key_the_vocabulary_flags() -> None:
    """The RE2 pattern only looks at keys holding a stem: a flagged key without one would be missed."""
    stems = key_stems()
    keys = [
        "patient.name", "first_name", "subscriber.last-name", "hl7.pid.5", "patient.mrn",
        "medical_record_number", "patient.id", "chart_no", "ssn", "social_security_no", "pid.19",
        "dob", "birth_date", "date_of_birth", "birthday", "address_line1", "home_address", "zip_code",
        "postal_code", "postcode", "pid.11", "phone", "mobile", "fax", "pager", "tel_no", "email",
        "e_mail", "member.id", "subscriberId", "insurance.policy.number", "mbi", "hicn", "in1.36",
        "account_number", "acct.no", "credit_card", "iban", "routing_number", "drivers_license",
        "cert_no", "dl_number", "vin", "license_plate", "implant.serial_number", "udi", "fingerprint",
        "photo", "nk1.2", "nok_name",
    ]  # fmt: skip
    for key in [*keys, *TEXT_KEYS]:
        assert text_key_kind(key) is not None, key
        assert any(stem in normalize_key(key) for stem in stems), key
