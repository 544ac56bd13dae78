from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from slas.loading import load_sla_path
from slas.openslo import convert_openslo
from vitals.kernel.configfile import ConfigError
from vitals.shell.cli import main

FIXTURES = Path(__file__).parent / "fixtures" / "openslo"
UPSTREAM = sorted(p for p in FIXTURES.rglob("*.yaml") if "vitals" not in p.parts)


def test_vitals_sources_convert_to_native_slas() -> None:
    conversion = convert_openslo(FIXTURES / "vitals" / "estate.yaml")
    assert conversion.slas == [
        {
            "id": "gl-posting-errors",
            "title": "GL postings succeed",
            "domain": "finance",
            "owner": "finance-systems",
            "priority": "P2",
            "objective": "99.5%",
            "window": "7d",
            "description": "Payments, invoices and journals post to the general ledger",
            "sli": {
                "ratio": {
                    "total": {"span": "erp.gl.post", "service": "erp-finance"},
                    "bad": {"status": "error"},  # type from the DataSource it references
                }
            },
        },
        {
            "id": "eligibility-latency",
            "title": "Eligibility answers within 2 s",
            "domain": "payer-gateway",
            "owner": "patient-access",
            "priority": "P3",
            "objective": "99%",
            "window": {"calendar": "month", "time_zone": "America/Chicago"},
            "slice_by": ["hc.facility"],
            "sli": {
                "latency": {"select": {"span": "payer.eligibility.check", "kind": "client"}, "under": "2s"}
            },
        },
        {
            "id": "queue-backlog-age",
            "title": "queue-backlog-age",
            "domain": "integration-engine",
            "owner": "integration-engine",
            "priority": "P3",
            "objective": "99%",
            "window": "4w",
            "sli": {
                "gauge": {
                    "metric": "queue.oldest_age_seconds",
                    "max": 900,
                    "where": {"queue": "charges-outbound"},
                }
            },
        },
    ]
    assert conversion.notes == [
        "skipped Service 'erp-finance': Vitals has no equivalent",
        "SLO 'gl-posting-errors': alertPolicies not imported "
        "(Vitals alerts on burn rates; route them in alerts.yaml)",
    ]


def test_what_cannot_map_is_named_with_file_line_and_field() -> None:
    with pytest.raises(ConfigError) as exc:
        convert_openslo(FIXTURES / "vitals" / "unmappable.yaml")
    found = [(i.line, i.field, i.message) for i in exc.value.issues]
    assert (26, "spec.objectives", "Vitals SLAs have one objective; this SLO has 2") in found
    assert (
        23,
        "spec.timeWindow[0].duration",
        "a rolling window of 3M cannot map: Vitals rolls over days or weeks (e.g. 30d)",
    ) in found
    assert (
        49,
        "spec.budgetingMethod",
        "Timeslices cannot map for a ratio: Vitals counts occurrences",
    ) in found


@pytest.mark.parametrize("path", UPSTREAM, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_upstream_examples_parse_and_fail_clearly(path: Path) -> None:
    """The public examples use Prometheus, Datadog or "Any" sources (or are not SLOs): none imports."""
    with pytest.raises(ConfigError) as exc:
        convert_openslo(path)
    messages = " | ".join(str(i) for i in exc.value.issues)
    assert any(
        phrase in messages
        for phrase in (
            "only Vitals sources can be imported",
            "no SLO documents to import",
            "unsupported apiVersion",
            "cannot map",
            "one objective",
        )
    ), messages
    for issue in exc.value.issues:
        assert issue.file == str(path)


def test_prometheus_sources_name_their_field_and_line() -> None:
    with pytest.raises(ConfigError) as exc:
        convert_openslo(FIXTURES / "go-sdk" / "decode" / "v1_slos.yaml")
    assert {(i.line, i.field) for i in exc.value.issues} == {
        (18, "spec.indicator.spec.ratioMetric.good.metricSource.type"),
        (27, "spec.indicator.spec.ratioMetric.total.metricSource.type"),
    }


def test_cli_import_writes_a_valid_sla_file(tmp_path: Path) -> None:
    out = tmp_path / "slas" / "imported.yaml"
    out.parent.mkdir()
    runner = CliRunner()
    result = runner.invoke(main, ["sla", "import", str(FIXTURES / "vitals" / "estate.yaml"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote 3 SLA(s)" in result.output
    assert [s.id for s in load_sla_path(out).slas] == [
        "gl-posting-errors",
        "eligibility-latency",
        "queue-backlog-age",
    ]
    again = runner.invoke(main, ["sla", "import", str(FIXTURES / "vitals" / "estate.yaml"), "-o", str(out)])
    assert again.exit_code == 1 and "exists" in again.output
    printed = runner.invoke(main, ["sla", "import", str(FIXTURES / "vitals" / "estate.yaml")])
    assert yaml.safe_load(printed.stdout)["slas"][0]["id"] == "gl-posting-errors"
    bad = runner.invoke(main, ["sla", "import", str(FIXTURES / "go-sdk" / "decode" / "v1_slos.yaml")])
    assert bad.exit_code == 1 and "only Vitals sources can be imported" in bad.output
