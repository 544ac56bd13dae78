"""The two guards at the edges of alerting: no PHI into labels, no unsigned Slack request in."""

from __future__ import annotations

import pytest
from slack_sdk.signature import SignatureVerifier

from alerts.labels import DEFAULT_LABEL_ALLOWLIST, label_name, safe_value, slice_labels
from alerts.slack_interactivity import SignatureError, parse_actions, sign, verify
from tests.support.fake_slack import interactive_body


@pytest.mark.parametrize(
    ("name", "value", "kept"),
    [
        ("hc.facility", "north-campus", True),
        ("hc.message.type", "ADT^A01", True),
        ("hc.denial.code", "CO-197", True),
        ("queue", "charges-outbound", True),
        ("hc.system", "erp", True),
        ("hc.facility", "MRN 00123456", False),  # a long digit run
        ("hc.facility", "123-45-6789", False),  # SSN
        ("hc.facility", "(555) 867-5309", False),  # phone
        ("hc.facility", "1957-03-14", False),  # a date
        ("hc.facility", "jane@example.org", False),  # not a plain token
        ("hc.facility", "x" * 80, False),  # too long to be a facility code
        ("hc.key.claim", "9f86d081884c7d659a2feaa0c55ad015", True),  # hashed keys are what we show
    ],
)
def test_safe_value(name: str, value: str, kept: bool) -> None:
    shown = safe_value(name, value)
    assert (shown == value) is kept
    if not kept:
        assert shown.startswith("h:") and value not in shown


def test_only_allow_listed_attributes_become_labels() -> None:
    labels, intact = slice_labels(
        {"hc.facility": "north-campus", "patient.name": "Jane Q Public", "hc.service_line": "cardiology"},
        DEFAULT_LABEL_ALLOWLIST,
    )
    assert labels == {
        "hc_facility": "north-campus",
        "facility": "north-campus",
        "hc_service_line": "cardiology",
        "service_line": "cardiology",
    }
    assert not intact
    assert slice_labels({"hc.facility": "north-campus"}, DEFAULT_LABEL_ALLOWLIST) == (
        {"hc_facility": "north-campus", "facility": "north-campus"},
        True,
    )
    assert label_name("messaging.destination.name") == "messaging_destination_name"
    assert label_name("9lives") == "_9lives"


SECRET = "e7d6f0cb1a5d4e2f9b3c8a7d6e5f4a3b"


def test_signature_agrees_with_slack_sdk() -> None:
    body = interactive_body("vitals_ack_alert:abc", "alert:abc")
    assert sign(SECRET, "1780000000", body) == SignatureVerifier(SECRET).generate_signature(
        timestamp="1780000000", body=body
    )
    verify(SECRET, "1780000000", sign(SECRET, "1780000000", body), body, now=1780000000 + 299)


@pytest.mark.parametrize(
    ("secret", "timestamp", "signature", "now", "reason"),
    [
        (None, "1780000000", "v0=x", 1780000000, "not configured"),
        (SECRET, None, "v0=x", 1780000000, "missing"),
        (SECRET, "1780000000", None, 1780000000, "missing"),
        (SECRET, "soon", "v0=x", 1780000000, "not a number"),
        (SECRET, "1780000000", "good", 1780000000 + 301, "replay"),
        (SECRET, "1780000000", "good", 1780000000 - 301, "replay"),  # from the future
        (SECRET, "1780000000", "v0=deadbeef", 1780000000, "does not match"),
    ],
)
def test_refusals(
    secret: str | None, timestamp: str | None, signature: str | None, now: float, reason: str
) -> None:
    body = b"payload=%7B%7D"
    if signature == "good":
        signature = sign(SECRET, str(timestamp), body)
    with pytest.raises(SignatureError, match=reason):
        verify(secret, timestamp, signature, body, now=now)


def test_parse_actions() -> None:
    (action,) = parse_actions(interactive_body("vitals_ack_group", "group:0123456789abcdef", "U9", "zoe"))
    assert (
        action.verb == "ack_group" and action.ref == "0123456789abcdef" and action.actor == "zoe (slack:U9)"
    )
    assert parse_actions(b"payload=%7B%22type%22%3A%22view_submission%22%7D") == []
    with pytest.raises(ValueError):
        parse_actions(b"nothing=here")
