"""The two guards at the edges of alerting: no PHI into labels, no unsigned Slack request in."""

from __future__ import annotations

import pytest
from slack_sdk.signature import SignatureVerifier

from alerts.labels import DEFAULT_LABEL_ALLOWLIST, label_name, safe_value, slice_labels
from alerts.slack_interactivity import SignatureError, parse_actions, verify
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
SENT = 1780000000  # the request's timestamp; each case fixes "now" around it


def signature(body: bytes, timestamp: str = str(SENT), secret: str = SECRET) -> str:
    """What Slack sends, computed the real way (slack_sdk)."""
    signed = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    assert signed is not None
    return signed


@pytest.mark.parametrize("now", [SENT, SENT + 300, SENT - 300])
def test_a_request_signed_by_slack_within_five_minutes_is_accepted(now: int) -> None:
    body = interactive_body("vitals_ack_alert:abc", "alert:abc")
    verify(SECRET, str(SENT), signature(body), body, clock=lambda: now)


@pytest.mark.parametrize(
    ("timestamp", "signed", "now", "reason"),
    [
        (None, "good", SENT, "missing X-Slack-Request-Timestamp"),
        (str(SENT), None, SENT, "missing"),
        ("soon", "v0=x", SENT, "not a number"),
        (str(SENT), "good", SENT + 301, "refused as a replay.*301s old"),
        (str(SENT), "good", SENT - 301, "refused as a replay.*301s in the future"),
        (str(SENT), "v0=deadbeef", SENT, "does not match"),
        (str(SENT), "other-secret", SENT, "does not match"),
        (str(SENT + 1), "good", SENT, "does not match"),  # the timestamp is signed too
    ],
)
def test_refusals(timestamp: str | None, signed: str | None, now: int, reason: str) -> None:
    body = b"payload=%7B%7D"
    if signed == "good":
        signed = signature(body)
    elif signed == "other-secret":
        signed = signature(body, secret="not-the-secret")
    with pytest.raises(SignatureError, match=reason):
        verify(SECRET, timestamp, signed, body, clock=lambda: now)


def test_a_tampered_body_is_refused() -> None:
    body = interactive_body("vitals_ack_alert:abc", "alert:abc")
    with pytest.raises(SignatureError, match="does not match"):
        verify(SECRET, str(SENT), signature(body), body.replace(b"alice", b"mallory"), clock=lambda: SENT)


def test_parse_actions() -> None:
    (action,) = parse_actions(interactive_body("vitals_ack_group", "group:0123456789abcdef", "U9", "zoe"))
    assert (
        action.verb == "ack_group" and action.ref == "0123456789abcdef" and action.actor == "zoe (slack:U9)"
    )
    assert parse_actions(b"payload=%7B%22type%22%3A%22view_submission%22%7D") == []
    with pytest.raises(ValueError):
        parse_actions(b"nothing=here")
