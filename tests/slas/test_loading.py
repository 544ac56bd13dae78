from __future__ import annotations

from pathlib import Path

import pytest

from slas.loading import load_sla_path, load_slas
from vitals.kernel.configfile import ConfigError

HOURS = """\
time_intervals:
  - name: business-hours
    time_intervals:
      - weekdays: ['monday:friday']
        times:
          - {start_time: '06:00', end_time: '22:00'}
        location: America/Chicago
"""

CHARGE_LAG = """\
slas:
  - id: charge-lag
    title: Charges post within 24 h of the procedure
    domain: revenue-cycle
    owner: revenue-integrity
    priority: P2
    objective: 95%
    window: 7d
    slice_by: [hc.facility]
    sli:
      lag:
        from: {stage: procedure.documented}
        to: {stage: charge.posted}
        key: charge
        within: 24h
  - id: adt-silence
    title: ADT keeps flowing
    domain: integration
    owner: integration-oncall
    priority: P1
    objective: 99%
    window: {calendar: month, time_zone: America/Chicago}
    sli:
      freshness:
        select: {message_type: "ADT^*"}
        max_age: 15m
        during: business-hours
"""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def issues(exc: pytest.ExceptionInfo[ConfigError]) -> list[tuple[str, int | None, str, str]]:
    return [(Path(i.file).name, i.line, i.field, i.message) for i in exc.value.issues]


def test_load_slas_resolves_named_intervals_across_files(tmp_path: Path) -> None:
    write(tmp_path / "slas", "00-intervals.yaml", HOURS)
    write(tmp_path / "slas", "revenue.yaml", CHARGE_LAG)
    slas = load_slas(tmp_path)
    assert [s.id for s in slas] == ["charge-lag", "adt-silence"]
    lag = slas[0]
    assert lag.objective == 0.95 and lag.window.rolling == 7 * 86400 and lag.slice_by == ("hc.facility",)
    assert lag.sli.lag is not None and lag.sli.lag.within == 86400 and lag.sli.lag.key == "charge"
    freshness = slas[1].sli.freshness
    assert freshness is not None and freshness.during is not None
    assert freshness.during.name == "business-hours" and len(freshness.during.intervals) == 1
    assert slas[1].window.calendar == "month" and slas[1].window_zone == "America/Chicago"


def test_a_config_dir_without_slas_has_none(tmp_path: Path) -> None:
    assert load_slas(tmp_path) == []


def test_errors_name_file_line_and_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bad.yaml",
        """\
slas:
  - id: gl-posting-errors
    title: GL postings succeed
    domain: finance
    owner: finance-systems
    priority: P5
    objective: 100%
    window: 7 days
    sli:
      ratio:
        total: {span: erp.gl.post, colour: red}
        bad: {status: failed}
  - id: No Spaces
    domain: finance
    owner: x
    priority: P1
    objective: 99%
    window: 1d
    sli: {}
""",
    )
    with pytest.raises(ConfigError) as exc:
        load_sla_path(path)
    found = issues(exc)
    assert ("bad.yaml", 6, "slas[0].priority", "Input should be 'P1', 'P2', 'P3' or 'P4'") in found
    assert (
        "bad.yaml",
        7,
        "slas[0].objective",
        "must be above 0% and below 100% (100% leaves no error budget)",
    ) in found
    assert ("bad.yaml", 8, "slas[0].window") in [f[:3] for f in found]
    assert (
        "bad.yaml",
        11,
        "slas[0].sli.ratio.total.colour",
        "unknown field (check its spelling and indentation)",
    ) in found
    assert ("bad.yaml", 12, "slas[0].sli.ratio.bad.status") in [f[:3] for f in found]
    assert ("bad.yaml", 13, "slas[1].id") in [f[:3] for f in found]
    assert ("bad.yaml", 13, "slas[1].title", "Field required") in found
    assert any(f[2] == "slas[1].sli" and "exactly one SLI kind" in f[3] for f in found)
    assert str(exc.value).startswith(f"{path}:6: slas[0].priority:")


def test_duplicate_ids_name_both_places(tmp_path: Path) -> None:
    write(tmp_path, "00-intervals.yaml", HOURS)
    write(tmp_path, "a.yaml", CHARGE_LAG)
    second = write(tmp_path, "b.yaml", CHARGE_LAG.split("  - id: adt-silence", maxsplit=1)[0])
    with pytest.raises(ConfigError) as exc:
        load_sla_path(tmp_path)
    assert issues(exc) == [
        ("b.yaml", 2, "slas[0].id", f"SLA id 'charge-lag' is already used at {tmp_path / 'a.yaml'}:2")
    ]
    assert second.exists()


def test_unknown_interval_duplicate_interval_and_second_evaluation_block(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", CHARGE_LAG + "evaluation: {interval: 15s}\n")
    write(tmp_path, "b.yaml", HOURS.replace("business-hours", "nights") + "evaluation: {interval: 1m}\n")
    write(tmp_path, "c.yaml", HOURS.replace("business-hours", "nights"))
    with pytest.raises(ConfigError) as exc:
        load_sla_path(tmp_path)
    found = issues(exc)
    assert ("b.yaml", 8, "evaluation") in [f[:3] for f in found]
    assert ("c.yaml", 2, "time_intervals[0].name") in [f[:3] for f in found]
    unknown = [f for f in found if f[2] == "slas[1].sli.freshness.during"]
    assert unknown and unknown[0][0] == "a.yaml" and unknown[0][1] == 27
    assert "unknown time interval 'business-hours' (known: nights)" in unknown[0][3]


def test_yaml_syntax_error_has_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.yaml", "slas:\n  - id: x\n    title: [unclosed\n")
    with pytest.raises(ConfigError) as exc:
        load_sla_path(path)
    (issue,) = exc.value.issues
    assert issue.line is not None and issue.line >= 3 and "invalid YAML" in issue.message


def test_evaluation_settings(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "evaluation:\n  interval: 15s\n  watermark_horizon: 5m\n")
    config = load_sla_path(tmp_path)
    assert config.evaluation.interval == 15 and config.evaluation.watermark_horizon == 300
    assert config.slas == []


def test_rollup_fingerprint_ignores_evaluation_only_fields(tmp_path: Path) -> None:
    write(tmp_path / "slas", "00.yaml", HOURS)
    path = write(tmp_path / "slas", "a.yaml", CHARGE_LAG)
    before = {s.id: s.rollup_fingerprint() for s in load_slas(tmp_path)}
    path.write_text(
        CHARGE_LAG.replace("objective: 95%", "objective: 97%").replace("max_age: 15m", "max_age: 20m")
    )
    same = {s.id: s.rollup_fingerprint() for s in load_slas(tmp_path)}
    assert same == before
    path.write_text(CHARGE_LAG.replace("within: 24h", "within: 12h"))
    changed = {s.id: s.rollup_fingerprint() for s in load_slas(tmp_path)}
    assert changed["charge-lag"] != before["charge-lag"] and changed["adt-silence"] == before["adt-silence"]
