"""The pure core: signatures without identifiers, the life of a group, the bucket, the owning team."""

from __future__ import annotations

import pytest

from alerts.config import parse as parse_alerts
from exceptions.model import Group, TransitionError, transition
from exceptions.ratelimit import Bucket
from exceptions.routing import group_route_labels, team_for
from exceptions.signature import normalise, signature_of
from tests.exceptions.support import ALERTS_YAML


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "ERP rejected charge 81234: GL account 'A-17' closed",
            "ERP rejected charge <n>: GL account <value> closed",
        ),
        ("timeout after 30000 ms", "timeout after <n> ms"),
        ("order 3f2a9c1e-1b2c-4d5e-8f90-1234567890ab not found", "order <uuid> not found"),
        ("txn deadbeef1234 failed", "txn <hex> failed"),
        ("txn 0xFF12 failed", "txn <hex> failed"),
        ('patient [REDACTED:mrn] has no "ABC" coverage', "patient <redacted> has no <value> coverage"),
        ("  many\n  spaces ", "many spaces"),
        (None, "(no message)"),
        ("accounting period closed", "accounting period closed"),
        ("HL7 parse error: segment PV1 field 3", "HL7 parse error: segment PV1 field <n>"),
        ("no coverage for MRN12345 (X12 271)", "no coverage for MRN<n> (X12 <n>)"),
    ],
)
def test_normalise_removes_identifiers(message: str | None, expected: str) -> None:
    assert normalise(message) == expected


def test_the_same_failure_with_other_ids_is_one_signature() -> None:
    a = signature_of("charge.post", "erp", "ERP rejected charge 81234: GL account 'A-17' closed")
    b = signature_of("charge.post", "erp", "ERP rejected charge 99120: GL account 'B-2' closed")
    c = signature_of("charge.post", "other", "ERP rejected charge 99120: GL account 'B-2' closed")
    assert a == b and a.key == b.key
    assert c.key != a.key
    assert len(a.key) == 16


def _group(state: str = "new") -> Group:
    return Group("g", "s", "x", "m", 1, 0.0, 0.0, 0.0, "team", state=state)  # type: ignore[arg-type]


def test_transitions_record_who_and_when() -> None:
    assigned = transition(_group(), "assigned", actor="ana", now=10.0, owner="bob")
    assert (assigned.state, assigned.owner, assigned.state_by, assigned.state_at) == (
        "assigned",
        "bob",
        "ana",
        10.0,
    )
    replaying = transition(assigned, "replaying", actor="bob", now=20.0)
    assert replaying.owner == "bob"
    resolved = transition(replaying, "resolved", actor="bob", now=30.0)
    assert not resolved.open
    assert transition(resolved, "new", actor="cy", now=40.0).state == "new"


@pytest.mark.parametrize(
    ("state", "to", "words"),
    [
        ("resolved", "replaying", "resolved: it can go to new, not replaying"),
        ("ignored", "assigned", "ignored: it can go to new, not assigned"),
        ("new", "new", "new: it can go to assigned, ignored, replaying, resolved, not new"),
        ("new", "closed", "unknown state 'closed'"),
    ],
)
def test_invalid_transitions_are_clear_errors(state: str, to: str, words: str) -> None:
    with pytest.raises(TransitionError, match=words):
        transition(_group(state), to, actor="a", now=1.0, owner="o")  # type: ignore[arg-type]


def test_assigning_needs_an_owner() -> None:
    with pytest.raises(TransitionError, match="needs an owner"):
        transition(_group(), "assigned", actor="a", now=1.0)


def test_bucket_allows_a_burst_then_refills_at_the_rate() -> None:
    bucket = Bucket(rate=1.0, burst=3)
    assert bucket.allowed([], 100.0) == 3
    assert bucket.allowed([100.0, 100.0, 100.0], 100.0) == 0
    assert bucket.allowed([100.0, 100.0, 100.0], 101.5) == 1
    assert bucket.allowed([100.0, 100.0, 100.0], 200.0) == 3
    assert bucket.horizon == 3.0


def test_the_owning_team_comes_from_the_alert_route_tree() -> None:
    route = parse_alerts(ALERTS_YAML, read_secrets=False).route
    plain = group_route_labels(stage="charge.post", system="erp", workflow="w", facility="", extra={})
    assert plain == {"stage": "charge.post", "system": "erp", "workflow": "w"}
    assert team_for(route, plain) == "console"
    owned = group_route_labels(
        stage="charge.post", system="erp", workflow="", facility="", extra={"owner": "finance-systems"}
    )
    assert team_for(route, owned) == "finance-systems"
    claims = group_route_labels(stage="claim.submit", system="payer", workflow="", facility="", extra={})
    assert team_for(route, claims) == "revenue-cycle"
