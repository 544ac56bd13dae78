"""Inhibition tables (cases from Alertmanager's documented semantics)."""

from __future__ import annotations

import pytest

from alerts.inhibition import Candidate, InhibitRule, inhibitions
from alerts.matchers import parse_matchers


def rule(source: str, target: str, equal: tuple[str, ...] = ()) -> InhibitRule:
    return InhibitRule(tuple(parse_matchers(source)), tuple(parse_matchers(target)), equal)


def alert(fp: str, **labels: str) -> Candidate:
    return Candidate(fp, labels)


PAGE_OVER_TICKET = rule('severity="page"', 'severity="ticket"', ("sla", "slice"))


@pytest.mark.parametrize(
    ("rules", "alerts", "inhibited"),
    [
        # the classic: a page alert mutes the ticket alert of the same SLA slice
        (
            [PAGE_OVER_TICKET],
            [
                alert("p", severity="page", sla="gl", slice="n"),
                alert("t", severity="ticket", sla="gl", slice="n"),
            ],
            {"t": "p"},
        ),
        # equal labels differ: no inhibition
        (
            [PAGE_OVER_TICKET],
            [
                alert("p", severity="page", sla="gl", slice="n"),
                alert("t", severity="ticket", sla="gl", slice="s"),
            ],
            {},
        ),
        # labels named in equal but missing on both sides are equal (missing == empty)
        (
            [PAGE_OVER_TICKET],
            [alert("p", severity="page", sla="gl"), alert("t", severity="ticket", sla="gl")],
            {"t": "p"},
        ),
        # ...but missing on one side only is not
        (
            [PAGE_OVER_TICKET],
            [alert("p", severity="page", sla="gl"), alert("t", severity="ticket", sla="gl", slice="n")],
            {},
        ),
        # no source alert: nothing inhibited
        ([PAGE_OVER_TICKET], [alert("t", severity="ticket", sla="gl")], {}),
        # an alert matching both sides does not inhibit itself
        (
            [rule('domain="finance"', 'domain="finance"', ("sla",))],
            [alert("a", domain="finance", sla="gl")],
            {},
        ),
        # two alerts that both match both sides do not inhibit each other
        (
            [rule('domain="finance"', 'domain="finance"', ("sla",))],
            [
                alert("a", domain="finance", sla="gl", tier="1"),
                alert("b", domain="finance", sla="gl", tier="2"),
            ],
            {},
        ),
        # a two-sided target is still inhibited by a source that matches only the source side
        (
            [rule('priority=~"P1|P2"', 'domain="finance"')],
            [alert("both", priority="P1", domain="finance"), alert("src", priority="P2", domain="clinical")],
            {"both": "src"},
        ),
        # ...and a one-sided target is inhibited by a two-sided source
        (
            [rule('priority=~"P1|P2"', 'domain="finance"')],
            [alert("both", priority="P1", domain="finance"), alert("tgt", priority="P3", domain="finance")],
            {"tgt": "both"},
        ),
        # an inhibited alert can still inhibit (Alertmanager does not chain-check sources)
        (
            [rule('level="1"', 'level="2"'), rule('level="2"', 'level="3"')],
            [alert("a", level="1"), alert("b", level="2"), alert("c", level="3")],
            {"b": "a", "c": "b"},
        ),
    ],
)
def test_inhibitions(rules: list[InhibitRule], alerts: list[Candidate], inhibited: dict[str, str]) -> None:
    assert inhibitions(rules, alerts) == inhibited


def test_the_indexed_pass_agrees_with_the_definition() -> None:
    """inhibitions() (indexed) against inhibitor() (the rule as written) on many mixed alerts."""
    import itertools

    from alerts.inhibition import inhibitor

    rules = [
        PAGE_OVER_TICKET,
        rule('slice=~".+"', 'slice=""', ("sla", "tier")),
        rule('domain="finance"', 'domain="finance"', ("sla",)),
    ]
    alerts = [
        alert(f"{i}", severity=sev, sla=sla, tier=tier, domain=dom, **({"slice": sl} if sl else {}))
        for i, (sev, sla, tier, dom, sl) in enumerate(
            itertools.product(
                ["page", "ticket"], ["gl", "lag"], ["1h", "6h"], ["finance", "it"], ["", "n", "s"]
            )
        )
    ]
    expected = {a.fingerprint: s for a in alerts if (s := inhibitor(rules, a, alerts)) is not None}
    assert inhibitions(rules, alerts) == expected
    assert len(expected) > 10
