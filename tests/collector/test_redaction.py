"""PHI redaction rules, as plain values in and out."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.phi import ALL_KEY_DETECTORS, ALL_VALUE_DETECTORS, normalize_key
from collector.redaction import (
    STRICT_MARKER,
    KeyHasher,
    RedactionPolicy,
    Redactor,
    SiteDetector,
    SiteKeyDetector,
    compile_pattern,
    hash_key,
)

SECRET = b"unit-test-secret-0123456789"


def redactor(policy: RedactionPolicy | None = None) -> Redactor:
    return Redactor(policy or RedactionPolicy(), SECRET)


def test_hash_key_is_hmac_sha256_of_the_rfc_4231_vector() -> None:
    # RFC 4231, test case 2.
    expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert hash_key(b"Jefe", "what do ya want for nothing?") == expected
    assert hash_key("Jefe", "what do ya want for nothing?") == expected


@settings(deadline=None)
@given(secret=st.binary(min_size=1, max_size=200), value=st.text(max_size=80))
def test_the_fast_hasher_equals_hmac(secret: bytes, value: str) -> None:
    assert KeyHasher(secret)(value) == hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()


def test_business_keys_are_hashed_so_equal_inputs_correlate() -> None:
    red = redactor()
    first = red.attributes({"hc.key.charge": "CHG-0042", "hc.key.claim": 12345})
    second = red.attributes({"hc.key.charge": "CHG-0042"})
    assert first["hc.key.charge"] == second["hc.key.charge"] == hash_key(SECRET, "CHG-0042")
    assert first["hc.key.claim"] == hash_key(SECRET, "12345")
    assert red.take_counts() == {"hash_key": 3}
    assert red.take_counts() == {}


def test_another_secret_gives_other_hashes() -> None:
    other = Redactor(RedactionPolicy(), b"another-secret-9876543210")
    value = "ENC-1"
    assert other.attributes({"hc.key.encounter": value}) != redactor().attributes({"hc.key.encounter": value})


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        ("patient.name", "name"),
        ("patientName", "name"),
        ("patient.first_name", "name"),
        ("subscriber.last-name", "name"),
        ("hl7.pid.5", "name"),
        ("patient.mrn", "mrn"),
        ("medical_record_number", "mrn"),
        ("patient.id", "mrn"),
        ("ssn", "ssn"),
        ("patient.SocialSecurityNumber", "ssn"),
        ("hl7.pid.19", "ssn"),
        ("patient.dob", "birth_date"),
        ("patient.birthDate", "birth_date"),
        ("date_of_birth", "birth_date"),
        ("patient.address.line1", "address"),
        ("homeAddress", "address"),
        ("zip_code", "address"),
        ("patient.phone", "phone"),
        ("contact.phoneNumber", "phone"),
        ("fax", "phone"),
        ("user.email", "email"),
        ("emailAddress", "email"),
        ("member.id", "member_id"),
        ("subscriberId", "member_id"),
        ("insurance.policy.number", "member_id"),
        ("guarantor.account_number", "account_number"),
        ("acct.no", "account_number"),
        ("drivers_license", "license_number"),
        ("vehicle.vin", "vehicle_id"),
        ("implant.serial_number", "device_id"),
        ("patient.photo", "biometric"),
    ],
)
def test_key_detectors_replace_the_value(key: str, kind: str) -> None:
    red = redactor()
    assert red.attributes({key: "anything at all"}) == {key: f"[REDACTED:{kind}]"}
    assert red.take_counts() == {f"key.{kind}": 1}


@pytest.mark.parametrize(
    "key",
    [
        "service.name",
        "host.name",
        "server.address",
        "network.peer.address",
        "messaging.destination.name",
        "db.name",
        "telemetry.sdk.name",
        "cloud.account.id",
        "http.route",
        "hc.facility",
        "k8s.pod.name",
        "rpc.method",
    ],
)
def test_opentelemetry_conventions_are_not_mistaken_for_identifiers(key: str) -> None:
    red = redactor()
    assert red.attributes({key: "billing-01"}) == {key: "billing-01"}
    assert red.take_counts() == {}


@pytest.mark.parametrize(
    ("text", "expected", "rules"),
    [
        ("SSN 123-45-6789 on file", "SSN [REDACTED:ssn] on file", ["value.ssn"]),
        ("ssn: 123456789", "ssn: [REDACTED:ssn]", ["value.ssn"]),
        ("call (555) 867-5309 now", "call [REDACTED:phone] now", ["value.phone"]),
        ("call +15558675309", "call [REDACTED:phone]", ["value.phone"]),
        ("mail jane.doe@example.org", "mail [REDACTED:email]", ["value.email"]),
        ("DOB: 04/12/1961", "DOB: [REDACTED:birth_date]", ["value.birth_date"]),
        ("born 1961-04-12", "born [REDACTED:birth_date]", ["value.birth_date"]),
        ("Date of birth March 4, 1961", "Date of birth [REDACTED:birth_date]", ["value.birth_date"]),
        ("seen 04/12/2023", "seen [REDACTED:date]", ["value.date"]),
        ("MRN: QZ88421X", "MRN: [REDACTED:mrn]", ["value.mrn"]),
        ("Patient: Jane Q Doe", "Patient: [REDACTED:name]", ["value.name"]),
        ("PID|1||QZ88421X||DOE^JANE||19610412", "PID|[REDACTED:hl7_segment]", ["value.hl7_segment"]),
        ("ack for DOE^JANE", "ack for [REDACTED:name]", ["value.name"]),
    ],
)
def test_value_detectors_replace_only_the_identifier(text: str, expected: str, rules: list[str]) -> None:
    red = redactor()
    assert red.text(text) == expected
    assert red.take_counts() == dict.fromkeys(rules, 1)


@pytest.mark.parametrize(
    "text",
    [
        "HL7 ADT^A01 process",
        "claim CLM-555-123-4567 accepted",
        "timeout after 2024-05-01T10:00:00Z",
        "posted 1843.20 to GL 4000-100",
        "queue name: adt-inbound",
        "erp.gl.post",
        "CO-197",
    ],
)
def test_ordinary_integration_text_is_left_alone(text: str) -> None:
    red = redactor()
    assert red.text(text) == text
    assert red.take_counts() == {}


def test_a_name_stops_before_the_next_identifier() -> None:
    text = "admit Patient: Jane Doe MRN: QZ88421X DOB 04/12/1961"
    assert redactor().text(text) == (
        "admit Patient: [REDACTED:name] MRN: [REDACTED:mrn] DOB [REDACTED:birth_date]"
    )


def test_deny_wins_over_allow_and_hashing() -> None:
    red = redactor(RedactionPolicy(deny_keys=("hc.key.legacy*", "internal.*"), allow_keys=("internal.safe",)))
    out = red.attributes({"internal.safe": "x", "internal.other": "y", "hc.key.legacy_id": "L1"})
    assert out == {
        "internal.safe": "[REDACTED:deny]",
        "internal.other": "[REDACTED:deny]",
        "hc.key.legacy_id": "[REDACTED:deny]",
    }
    assert red.take_counts() == {"deny_keys": 3}


def test_allow_keys_skip_key_detectors_but_are_still_scanned() -> None:
    red = redactor(RedactionPolicy(allow_keys=("app.contact_phone",)))
    assert red.attributes({"app.contact_phone": "desk 555-867-5309"}) == {
        "app.contact_phone": "desk [REDACTED:phone]"
    }
    assert red.attributes({"app.contact_phone": "front desk"}) == {"app.contact_phone": "front desk"}
    assert redactor().attributes({"app.contact_phone": "front desk"}) == {
        "app.contact_phone": "[REDACTED:phone]"
    }


@pytest.mark.parametrize(
    "key",
    [
        "service.name",
        "hc.facility",
        "hc.stage",
        "messaging.destination.name",
        "telemetry.sdk.name",
        "rpc.method",
    ],
)
def test_built_in_allow_listed_keys_are_scanned(key: str) -> None:
    red = redactor()
    assert red.attributes({key: "adt for jane.doe@example.org"}) == {key: "adt for [REDACTED:email]"}
    assert red.take_counts() == {"value.email": 1}


def test_unscanned_keys_are_stored_as_sent() -> None:
    red = redactor(RedactionPolicy(unscanned_keys=("app.build_*",), allow_keys=("app.*",)))
    assert red.attributes({"app.build_note": "SSN 123-45-6789", "app.other": "SSN 123-45-6789"}) == {
        "app.build_note": "SSN 123-45-6789",
        "app.other": "SSN [REDACTED:ssn]",
    }


@pytest.mark.parametrize(
    "policy", [RedactionPolicy(unscanned_keys=("*",)), RedactionPolicy(allow_keys=("*",))]
)
def test_no_allow_list_or_opt_out_exempts_exception_attributes(policy: RedactionPolicy) -> None:
    red = redactor(policy)
    out = red.attributes(
        {
            "exception.message": "no coverage for SSN 123-45-6789",
            "exception.stacktrace": 'File "adt.py", line 3\n  lookup("MRN: QZ88421X")',
        }
    )
    assert out["exception.message"] == "no coverage for SSN [REDACTED:ssn]"
    assert out["exception.stacktrace"].startswith('File "adt.py", line 3\n  lookup(')
    assert "QZ88421X" not in out["exception.stacktrace"]
    assert "[REDACTED:mrn]" in out["exception.stacktrace"]


@pytest.mark.parametrize(
    ("key", "stored"),
    [
        ("contact jane@example.org", "contact [REDACTED:email]"),
        ("hc.facility 123-45-6789", "hc.facility [REDACTED:ssn]"),  # allow-listed
        ("telemetry.sdk.x jane@example.org", "telemetry.sdk.x [REDACTED:email]"),  # allow-listed glob
        ("hc.key.mrn MRN: QZ88421X", "hc.key.mrn MRN: [REDACTED:mrn]"),
        ("patient.ssn 123-45-6789", "patient.ssn [REDACTED:ssn]"),  # a key detector's key
    ],
)
def test_a_key_is_scanned_whatever_rule_applies_to_it(key: str, stored: str) -> None:
    red = redactor(RedactionPolicy(unscanned_keys=("contact*",)))
    hashed: list[tuple[str, str]] = []
    out = red.attributes({key: "value"}, hashed)
    assert list(out) == [stored]
    assert out[stored].startswith("[REDACTED:")
    assert hashed == []  # an hc.key.* key with an identifier in it is neither hashed nor indexed


def test_a_denied_key_with_an_identifier_is_stored_redacted() -> None:
    red = redactor(RedactionPolicy(deny_keys=("internal.*",)))
    assert red.attributes({"internal.ssn 123-45-6789": "x"}) == {
        "internal.ssn [REDACTED:ssn]": "[REDACTED:deny]"
    }
    assert red.take_counts() == {"deny_keys": 1, "value.ssn": 1}


def test_bytes_that_are_text_are_scanned_and_opaque_bytes_dropped() -> None:
    red = redactor()
    out = red.attributes({"note": b"SSN 123-45-6789", "blob": b"\xff\x00\xfe", "list": [b"\xff", "ok"]})
    assert out == {
        "note": "SSN [REDACTED:ssn]",
        "blob": "[REDACTED:bytes]",
        "list": ["[REDACTED:bytes]", "ok"],
    }
    assert red.take_counts() == {"value.ssn": 1, "bytes": 2}


def test_opaque_bytes_can_be_kept_as_base64() -> None:
    red = redactor(RedactionPolicy(keep_bytes=True, unscanned_keys=("raw",)))
    assert red.attributes({"blob": b"\xff\x00", "raw": [b"\xff"], "hc.key.x": b"\xff"}) == {
        "blob": "/wA=",
        "raw": ["/w=="],
        "hc.key.x": hash_key(SECRET, '"/w=="'),
    }
    assert redactor().attributes({"raw": b"\xff"}) == {"raw": "[REDACTED:bytes]"}


def test_site_value_detectors_run_before_the_built_in_ones() -> None:
    policy = RedactionPolicy(
        site_detectors=(SiteDetector("epic_csn", "CSN[0-9]{9}"), SiteDetector("bed", "(?i)bed [0-9]+[A-Z]"))
    )
    red = redactor(policy)
    text = "moved CSN123456789 to Bed 12B, call 555-867-5309"
    assert red.text(text) == "moved [REDACTED:epic_csn] to [REDACTED:bed], call [REDACTED:phone]"
    assert red.take_counts() == {"value.epic_csn": 1, "value.bed": 1, "value.phone": 1}
    # In keys, in allow-listed values and in plain numbers too.
    assert red.attributes({"CSN123456789": "x", "hc.facility": "CSN000000001", "n": "Bed 7C"}) == {
        "[REDACTED:epic_csn]": "[REDACTED:epic_csn]",
        "hc.facility": "[REDACTED:epic_csn]",
        "n": "[REDACTED:bed]",
    }


def test_site_detectors_that_overlap_keep_the_first() -> None:
    red = redactor(RedactionPolicy(site_detectors=(SiteDetector("a", "ab"), SiteDetector("b", "bc"))))
    assert red.text("xabcx") == "x[REDACTED:a]cx"


def test_site_key_detectors_replace_the_value() -> None:
    policy = RedactionPolicy(
        site_key_detectors=(
            SiteKeyDetector("epic_id", keys=("*.epic_id",)),
            SiteKeyDetector("csn", pattern="(?i)csn"),
        ),
        allow_keys=("app.*",),
    )
    red = redactor(policy)
    assert red.attributes({"app.epic_id": "E1", "visit.CSN": "C1", "app.other": "fine"}) == {
        "app.epic_id": "[REDACTED:epic_id]",
        "visit.CSN": "[REDACTED:csn]",
        "app.other": "fine",
    }
    assert red.take_counts() == {"key.epic_id": 1, "key.csn": 1}


@pytest.mark.parametrize("pattern", ["(?<=a)b", "(a)\\1", "a*", "("])
def test_patterns_that_re2_refuses_or_that_match_nothing_are_refused(pattern: str) -> None:
    with pytest.raises(ValueError):
        compile_pattern(pattern)


def test_strict_mode_drops_free_text_of_keys_not_allow_listed() -> None:
    red = redactor(RedactionPolicy(strict=True, allow_keys=("app.route",), unscanned_keys=("app.build",)))
    out = red.attributes(
        {
            "note": "anything at all",
            "nested": ["x", 3, {"hc.stage": "s", "deep": "y"}],
            "retries": 2,
            "ok": True,
            "hc.stage": "charge.posted",
            "hc.facility": "call 555-867-5309",
            "app.route": "/patients/{id}",
            "app.build": "2024.05 build 7",
            "hc.key.charge": "CHG-1",
            "patient.ssn": "x",
            "exception.message": "failed",
        }
    )
    assert out == {
        "note": STRICT_MARKER,
        "nested": [STRICT_MARKER, 3, {"hc.stage": "s", "deep": STRICT_MARKER}],
        "retries": 2,
        "ok": True,
        "hc.stage": "charge.posted",
        "hc.facility": "call [REDACTED:phone]",
        "app.route": "/patients/{id}",
        "app.build": "2024.05 build 7",
        "hc.key.charge": hash_key(SECRET, "CHG-1"),
        "patient.ssn": "[REDACTED:ssn]",
        "exception.message": STRICT_MARKER,
    }


def test_strict_mode_keeps_names_without_long_digit_runs_and_drops_messages() -> None:
    red = redactor(RedactionPolicy(strict=True))
    assert red.name("GET /patients/48213377/chart") == "GET /patients/#/chart"
    assert red.name("HL7 ADT^A01 process") == "HL7 ADT^A01 process"
    assert red.name("admit Patient: Jane Doe") == "admit Patient: [REDACTED:name]"
    assert red.message("lookup failed for order 12") == STRICT_MARKER
    assert red.message("") == ""
    plain = redactor()
    assert plain.name("GET /patients/48213377/chart") == "GET /patients/48213377/chart"
    assert plain.message("lookup failed for jane@example.org") == "lookup failed for [REDACTED:email]"


def test_plain_short_numbers_skip_the_built_in_detectors_only() -> None:
    assert redactor().text("1843.20") == "1843.20"
    assert redactor().text("555-867-5309") == "[REDACTED:phone]"
    site = redactor(RedactionPolicy(site_detectors=(SiteDetector("mrn6", r"\b[0-9]{6}\b"),)))
    assert site.text("123456") == "[REDACTED:mrn6]"


def test_detectors_can_be_switched_off() -> None:
    red = redactor(RedactionPolicy(key_detectors=frozenset({"ssn"}), value_detectors=frozenset()))
    assert red.attributes({"patient.name": "Jane", "note": "mail jane@example.org", "ssn": "1"}) == {
        "patient.name": "Jane",
        "note": "mail jane@example.org",
        "ssn": "[REDACTED:ssn]",
    }


def test_nested_values_and_arrays_are_redacted() -> None:
    red = redactor()
    out = red.attributes(
        {"contacts": [{"email": "a@example.org"}, "call 555-867-5309", 7], "ok": True, "n": 3.5}
    )
    assert out == {
        "contacts": [{"email": "[REDACTED:email]"}, "call [REDACTED:phone]", 7],
        "ok": True,
        "n": 3.5,
    }


def test_an_identifier_inside_a_key_is_removed_with_its_value() -> None:
    red = redactor()
    assert red.attributes({"contact jane@example.org": "yes"}) == {
        "contact [REDACTED:email]": "[REDACTED:email]"
    }


def test_counts_repeat_for_cached_decisions() -> None:
    red = redactor()
    for _ in range(3):
        red.attributes({"patient.ssn": "x", "note": "SSN 123-45-6789"})
    assert red.take_counts() == {"key.ssn": 3, "value.ssn": 3}


def test_caches_stay_bounded() -> None:
    red = Redactor(RedactionPolicy(), SECRET, cache_size=16)
    for i in range(100):
        red.attributes({f"key{i}": f"value {i}"})
        red.text(f"text {i}")
    assert len(red._key_actions) <= 16
    assert len(red._texts) <= 16
    assert len(red._clean) <= 16


def test_normalized_keys_split_words() -> None:
    assert normalize_key("patient.birthDate") == "_patient_birth_date_"
    assert normalize_key("HL7-PID.5") == "_hl7_pid_5_"


def test_every_detector_has_a_name_for_config() -> None:
    assert {"name", "mrn", "ssn", "birth_date", "address", "phone", "email", "member_id"} <= ALL_KEY_DETECTORS
    assert {"ssn", "phone", "email", "birth_date", "mrn", "name"} <= ALL_VALUE_DETECTORS


def test_an_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="secret"):
        Redactor(RedactionPolicy(), b"")


ssns = st.builds(
    lambda a, b, c: f"{a:03d}-{b:02d}-{c:04d}",
    st.integers(1, 665),
    st.integers(1, 99),
    st.integers(1, 9999),
)
emails = st.from_regex(r"[a-z]{1,10}\.[a-z]{1,10}@[a-z]{2,10}\.(org|com|net)", fullmatch=True)
filler = st.text(alphabet=st.sampled_from(list("abcdefghij klm,;")), max_size=30)


@settings(max_examples=200, deadline=None)
@given(before=filler, ssn=ssns, email=emails, after=filler)
def test_planted_ssns_and_emails_never_survive(before: str, ssn: str, email: str, after: str) -> None:
    red = redactor()
    text = f"{before} {ssn} {after} {email} {after}"
    out = red.text(text)
    assert ssn not in out
    assert email not in out
