"""`vitals config check` against sampling rules that would turn SLA counts into estimates."""

from __future__ import annotations

import fnmatch
import itertools
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.rows import SPAN_COLUMNS
from collector.sampling import Sampling, SamplingRule, group_key
from slas.spec import SLA, Selector
from vitals.shell.cli import main
from vitals.shell.config_cli import check_sampling
from vitals.shell.sampling_check import GROUPED_ATTRIBUTES, globs_overlap, may_sample, sampling_findings

ROUTE = {"service": "adt-router", "span": "route"}


def sla(sla_id: str, sli: dict[str, Any], **fields: Any) -> SLA:
    base: dict[str, Any] = {
        "id": sla_id,
        "title": "Test SLA",
        "domain": "integration",
        "owner": "team",
        "priority": "P2",
        "objective": "99%",
        "window": "1d",
        "sli": sli,
    }
    base.update(fields)
    return SLA.model_validate(base)


def sampling(*rules: dict[str, Any], slow: str = "1s") -> Sampling:
    return Sampling.model_validate({"enabled": True, "slow": slow, "rules": list(rules)})


RULE = {"service": "adt-*", "one_in": 10}


# --------------------------------------------------------------------------- glob overlap


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        ("adt-*", "adt-router", True),
        ("adt-*", "fhir-*", False),
        ("*-router", "adt-*", True),
        ("GET /Patient*", "GET /Patient/?", True),
        ("GET /Patient*", "POST *", False),
        ("a?c", "a[!b]c", True),
        ("a[b]c", "a[!b]c", False),
        ("[a-c]x", "bx", True),
        ("[a-c]x", "dx", False),
        ("*", "anything", True),
        ("a*b*c", "*x*", True),
        ("ab", "abc", False),
        ("[", "[", True),  # an unclosed bracket is a literal, as fnmatch reads it
    ],
)
def test_globs_overlap_when_some_text_matches_both(a: str, b: str, overlap: bool) -> None:
    assert globs_overlap(a, b) is overlap
    assert globs_overlap(b, a) is overlap


_TOKENS = st.lists(st.sampled_from(["a", "b", "*", "?", "[ab]", "[!a]"]), max_size=3)


@settings(max_examples=150, deadline=None)
@given(_TOKENS, _TOKENS)
def test_globs_overlap_agrees_with_trying_every_short_text(x: list[str], y: list[str]) -> None:
    """A common text, if any, is no longer than the two patterns' positions together."""
    a, b = "".join(x), "".join(y)
    ra, rb = (re.compile(fnmatch.translate(p)) for p in (a, b))
    texts = ("".join(t) for n in range(len(x) + len(y) + 1) for t in itertools.product("abc", repeat=n))
    found = any(ra.fullmatch(t) and rb.fullmatch(t) for t in texts)
    assert globs_overlap(a, b) is found


# --------------------------------------------------------------------------- which spans


def test_spans_always_kept_are_never_sampled() -> None:
    rule = SamplingRule.model_validate({**RULE, "name": "route"})
    assert may_sample(rule, Selector.model_validate(ROUTE))
    assert may_sample(rule, Selector.model_validate({"service": "adt-router"}))
    assert may_sample(rule, Selector.model_validate({"span": "rou*"}))
    for never in (
        {**ROUTE, "stage": "adt.routed"},
        {**ROUTE, "status": "error"},
        {**ROUTE, "kind": ["producer", "consumer"]},
        {**ROUTE, "attributes": {"hc.key.mrn": "*"}},
        {**ROUTE, "attributes": {"hc.amount": "*"}},
        {"service": "fhir-*"},
        {"service": "adt-router", "span": "deliver"},
    ):
        assert not may_sample(rule, Selector.model_validate(never)), never


def test_the_grouped_attributes_are_what_the_sampler_groups_by() -> None:
    """Two spans differing in a grouped attribute never share a group; in another, they may."""

    def row(**values: Any) -> tuple[Any, ...]:
        base: dict[str, Any] = {"name": "route", "service_name": "adt-router", "kind": "internal"}
        base |= {"start_time_unix_nano": 0, "event_time_unix_nano": 0, "attributes": "{}"}
        return tuple({**base, **values}.get(column) for column in SPAN_COLUMNS)

    columns = {
        "service.name": "service_name",
        "hc.facility": "hc_facility",
        "hc.workflow": "hc_workflow",
        "hc.system": "hc_system",
        "hc.service_line": "hc_service_line",
        "hc.message.type": "hc_message_type",  # the interface when there is no destination
        "messaging.destination.name": "messaging_destination",
    }
    assert set(columns) == GROUPED_ATTRIBUTES
    for column in columns.values():
        assert group_key(row(**{column: "x"})) != group_key(row(**{column: "y"})), column
    assert group_key(row(attributes='{"http.route": "/a"}')) == group_key(
        row(attributes='{"http.route": "/b"}')
    )


# --------------------------------------------------------------------------- findings


def test_a_latency_sla_under_the_slow_threshold_is_an_error_naming_the_rule_and_sla() -> None:
    latency = sla("route-fast", {"latency": {"select": ROUTE, "under": "200ms"}})
    [finding] = sampling_findings(sampling(RULE), [latency], {"route-fast": ("slas/adt.yaml", 4)})
    assert finding.severity == "error"
    assert finding.field == ("sampling", "rules", 0, "slow")
    assert finding.sla_id == "route-fast"
    assert "'route-fast' (slas/adt.yaml:4)" in finding.message
    assert "from 1s (sampling.slow, as the rule gives no slow)" in finding.message
    assert "slow: 200ms or less" in finding.message
    with_own = sampling({**RULE, "slow": "250ms"}, slow="100ms")
    [finding] = sampling_findings(with_own, [latency])
    assert "from 250ms (its slow)" in finding.message


@pytest.mark.parametrize(
    "config",
    [
        sampling({**RULE, "slow": "200ms"}),  # the rule's slow is the SLA's under
        sampling(RULE, slow="150ms"),  # the default is below it
        sampling({"service": "adt-*", "name": "deliver", "one_in": 10}),  # other spans
        Sampling.model_validate({"enabled": False, "rules": [RULE]}),
    ],
)
def test_latency_is_exact_when_every_span_that_can_be_bad_is_kept(config: Sampling) -> None:
    latency = sla("route-fast", {"latency": {"select": ROUTE, "under": "200ms"}})
    assert sampling_findings(config, [latency]) == []


def test_a_rule_after_one_that_takes_the_slas_spans_never_sees_them() -> None:
    latency = sla("route-fast", {"latency": {"select": ROUTE, "under": "200ms"}})
    specific = {"service": "adt-router", "name": "rout*", "one_in": 10, "slow": "200ms"}
    catch_all = {"service": "*", "one_in": 5}
    assert sampling_findings(sampling(specific, catch_all), [latency]) == []
    assert [f.field for f in sampling_findings(sampling(catch_all, specific), [latency])] == [
        ("sampling", "rules", 0, "slow")
    ]
    server_only = {**specific, "kinds": ["server"]}  # leaves internal route spans to the catch-all
    assert [f.field for f in sampling_findings(sampling(server_only, catch_all), [latency])] == [
        ("sampling", "rules", 1, "slow")
    ]
    by_glob = sla("any-route", {"latency": {"select": {"service": "adt-*"}, "under": "200ms"}})
    assert [f.field for f in sampling_findings(sampling(specific, catch_all), [by_glob])] == [
        ("sampling", "rules", 1, "slow")  # adt-other's spans reach the catch-all
    ]


def test_ratio_slas_are_exact_on_grouped_fields_and_warned_about_others() -> None:
    exact = [
        sla("errors", {"ratio": {"total": ROUTE, "bad": {"status": "error"}}}),
        sla(
            "a01",
            {"ratio": {"total": ROUTE, "good": {"message_type": "ADT^A01"}}},
            slice_by=["hc.facility", "hc.service_line"],
        ),
        sla("routed", {"ratio": {"total": {"stage": "adt.*"}, "bad": {"attributes": {"late": "true"}}}}),
        sla(
            "charges",
            {"lag": {"from": {"stage": "a"}, "to": {"stage": "b"}, "key": "charge", "within": "1h"}},
        ),
    ]
    assert sampling_findings(sampling(RULE), exact) == []
    estimated = [
        sla("http", {"ratio": {"total": ROUTE, "bad": {"attributes": {"http.status_code": "5*"}}}}),
        sla("by-route", {"ratio": {"total": ROUTE, "bad": {"status": "error"}}}, slice_by=["http.route"]),
        sla("feed", {"freshness": {"select": {**ROUTE, "attributes": {"queue": "adt"}}, "max_age": "5m"}}),
    ]
    findings = sampling_findings(sampling(RULE), estimated)
    assert [(f.severity, f.sla_id, f.field) for f in findings] == [
        ("warning", "http", ("sampling", "rules", 0)),
        ("warning", "by-route", ("sampling", "rules", 0)),
        ("warning", "feed", ("sampling", "rules", 0)),
    ]
    assert "tells spans apart by http.status_code" in findings[0].message
    assert "by http.route" in findings[1].message


# --------------------------------------------------------------------------- vitals config check

COLLECTOR = """\
sampling:
  enabled: true
  rules:
    - service: adt-router
      name: route
      one_in: 10
{extra}"""
SLAS = """\
slas:
  - id: route-fast
    title: Routing is fast
    domain: integration
    owner: team
    priority: P2
    objective: 99%
    window: 1d
    sli:
      {sli}
"""


def config_dir(tmp_path: Path, sli: str, extra: str = "") -> Path:
    (tmp_path / "slas").mkdir(parents=True)
    (tmp_path / "collector.yaml").write_text(COLLECTOR.format(extra=extra))
    (tmp_path / "slas" / "adt.yaml").write_text(SLAS.format(sli=sli))
    return tmp_path


def check(directory: Path, *extra: str) -> Any:
    return CliRunner().invoke(main, ["config", "check", "--config", str(directory), *extra])


def test_check_fails_on_a_latency_sla_sampling_would_blur(tmp_path: Path) -> None:
    directory = config_dir(tmp_path, "latency: {select: {service: adt-router, span: route}, under: 300ms}")
    result = check(directory)
    assert result.exit_code == 1, result.output
    collector, sla_file = directory / "collector.yaml", directory / "slas" / "adt.yaml"
    assert f"{collector}:4: sampling.rules[0].slow: rule 0 (service adt-router, name route)" in result.output
    assert f"latency SLA 'route-fast' ({sla_file}:2)" in result.output
    fixed = config_dir(
        tmp_path / "fixed", "latency: {select: {service: adt-router}, under: 300ms}", "      slow: 300ms\n"
    )
    result = check(fixed)
    assert result.exit_code == 0, result.output
    assert "sampling against SLAs" in result.output


def test_check_warns_on_a_ratio_sla_by_an_ungrouped_attribute(tmp_path: Path) -> None:
    sli = "ratio: {total: {service: adt-router}, bad: {attributes: {http.status_code: '5*'}}}"
    directory = config_dir(tmp_path, sli)
    result = check(directory)
    assert result.exit_code == 0, result.output
    assert f"warning: {directory / 'collector.yaml'}:4: sampling.rules[0]: " in result.output
    assert "1 warning(s)" in result.output
    assert check(directory, "--strict").exit_code == 1
    assert check_sampling(directory)[0] == []


def test_invalid_files_are_left_to_their_own_checks(tmp_path: Path) -> None:
    directory = config_dir(
        tmp_path, "latency: {select: {service: adt-router}, under: 300ms}", "      one_in: 5\n"
    )
    assert check_sampling(directory) == ([], [])
    result = check(directory)
    assert result.exit_code == 1
    assert "sampling.rules[0]" in result.output and "route-fast" not in result.output
