"""The dashboard's SLA catalog is what the SLA engine loads: one reader of SLA files.

The dashboard used to parse SLA files itself, leniently, and disagreed with the engine: it showed
SLAs the engine rejects (with made-up defaults), split ``slice_by: hc.facility`` into characters,
read an attribute value ``true`` as ``True``, and tracked two lag pairs of its own when there were
no SLA files. These tests pin the engine's answer in each case.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboards.catalog import Selector, load_catalog
from slas import load_sla_path
from slas.service import load_config_dir
from tests.dashboards import estate
from vitals.kernel.configfile import ConfigError

SLA = """\
slas:
  - id: gl-posting-errors
    title: GL postings succeed
    domain: finance
    owner: erp-integration
    priority: P1
    objective: 99.5%
    window: 1d
    slice_by: hc.facility
    sli:
      ratio:
        total: {span: erp.gl.post, attributes: {hc.retried: true}}
        bad: {status: error}
"""


def _config(tmp_path: Path, text: str, name: str = "finance.yaml") -> Path:
    (tmp_path / "slas").mkdir(exist_ok=True)
    (tmp_path / "slas" / name).write_text(text)
    return tmp_path


def test_the_catalog_holds_the_slas_vitals_serve_evaluates(tmp_path: Path) -> None:
    config = estate.write_config(tmp_path)
    catalog = load_catalog(config)
    assert not catalog.problems
    assert catalog.definitions == tuple(load_config_dir(config).slas)
    pair = catalog.lag_pair("charge-lag")
    assert pair is not None and pair.key == "charge" and pair.within_s == 86400
    assert (pair.from_stage, pair.to_stage) == ("procedure.documented", "charge.posted")
    lag = [s.id for s in catalog.slas if s.lag_pair() is not None]
    assert lag == ["charge-lag", "implant-inventory-sync-lag"]
    gl = catalog.get("gl-posting-errors")
    assert gl is not None and gl.selector("total").span == ("erp.gl.post",)
    assert gl.target_text() == "99.5% over 1d" and gl.threshold_s is None


def test_a_single_slice_attribute_is_one_slice_not_its_letters(tmp_path: Path) -> None:
    spec = load_catalog(_config(tmp_path, SLA)).get("gl-posting-errors")
    assert spec is not None and spec.slice_by == ("hc.facility",)


def test_attribute_values_read_as_the_engine_matches_them(tmp_path: Path) -> None:
    spec = load_catalog(_config(tmp_path, SLA)).get("gl-posting-errors")
    assert spec is not None
    assert spec.selector("total").attributes == (("hc.retried", ("true",)),)
    bad = spec.selector("total").merged(spec.selector("bad"))
    assert bad.describe() == "span=erp.gl.post, status=error, hc.retried=true"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (("    title: GL postings succeed\n", ""), "slas[0].title"),  # no default title
        (("    domain: finance\n", ""), "slas[0].domain"),  # no default domain
        (("priority: P1", "priority: urgent"), "slas[0].priority"),
        (("objective: 99.5%", "objectve: 99.5%"), "slas[0]"),  # a misspelt key is an error
        (("      ratio:", "      availability:"), "slas[0].sli"),  # an unknown SLI kind
    ],
)
def test_an_sla_the_engine_rejects_is_not_shown_and_its_error_is(
    tmp_path: Path, change: tuple[str, str], field: str
) -> None:
    config = _config(tmp_path, SLA.replace(*change))
    with pytest.raises(ConfigError) as rejected:
        load_sla_path(config / "slas")
    catalog = load_catalog(config)
    assert catalog.slas == ()
    assert catalog.problems == tuple(str(issue) for issue in rejected.value.issues)
    assert any("finance.yaml:" in p and field in p for p in catalog.problems), catalog.problems


def test_one_broken_file_is_an_error_for_the_whole_directory(tmp_path: Path) -> None:
    """As for ``vitals serve``: the engine keeps the SLAs it last loaded, the pages list the error."""
    config = estate.write_config(tmp_path)
    _config(config, "slas:\n  - id: oops\n    title: no sli\n", "broken.yml")
    catalog = load_catalog(config)
    assert catalog.slas == () and any("broken.yml" in p for p in catalog.problems)


def test_without_sla_files_nothing_is_tracked(tmp_path: Path) -> None:
    catalog = load_catalog(tmp_path)
    assert catalog.slas == () and catalog.lag_pair("charge-lag") is None and not catalog.problems


def test_selector_merge_and_description() -> None:
    total = Selector(span=("erp.gl.post",), service=("erp-finance", "erp-*"))
    bad = total.merged(Selector(status="error"))
    assert bad.span == ("erp.gl.post",) and bad.status == "error"
    assert bad.describe() == "span=erp.gl.post, service=erp-finance|erp-*, status=error"
    assert Selector(stage=("a*",)).single_stage is None
    assert Selector.of(None) == Selector()
