"""`vitals bench soak`: what "flat" means, and a short soak end to end (figures not checked)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from vitals.shell.bench.soak import (
    Soak,
    figures_of,
    is_flat,
    soak,
    sustained_rate,
    warmup_seconds,
    window_seconds,
)


def test_flat_is_within_a_fifth_of_the_start_or_a_small_slack() -> None:
    assert is_flat(100.0, 119.0, slack=5)
    assert not is_flat(100.0, 121.0, slack=5)
    assert is_flat(2.0, 6.0, slack=5)  # too small for a share to mean anything
    assert is_flat(100.0, 50.0, slack=5)  # shrinking is flat


def test_the_windows_are_a_tenth_of_the_run_within_bounds() -> None:
    assert window_seconds(20 * 60) == 120
    assert window_seconds(5 * 60) == 30
    assert window_seconds(60) == 10
    assert window_seconds(12) == 6  # never more than half the run


def test_the_maximum_is_the_rate_of_the_probes_last_forty_percent() -> None:
    """The start of the probe (an empty store, no deletes yet) does not count."""
    fast_start = [(t / 10, 512) for t in range(0, 900)]  # 10 requests/s for 90 s
    slow_end = [(90.0 + t / 2, 512) for t in range(0, 120)]  # then 2/s for 60 s
    assert sustained_rate(fast_start + slow_end, 150.0) == pytest.approx(2 * 512)
    assert sustained_rate([], 150.0) == 0.0


def test_a_soak_whose_memory_grew_is_not_flat() -> None:
    result = Soak(
        answers=[(t, 0.010) for t in range(0, 600, 2)],
        rss=[
            (0.0, {"receivers": 120 * 1024, "store writers": 80 * 1024}),
            (30.0, {"receivers": 130 * 1024, "store writers": 80 * 1024}),
            (590.0, {"receivers": 220 * 1024, "store writers": 80 * 1024}),
            (600.0, {"receivers": 230 * 1024, "store writers": 80 * 1024}),
        ],
    )
    figures = {
        f.measure: f for f in figures_of(result, seconds=600, rate=1000, maximum=2000, spans=512, stored=9)
    }
    memory = figures["resident memory, all serve processes, end"]
    assert memory.value == 310
    assert memory.detail == "start 210; receivers 130 -> 230, store writers 80 -> 80 MiB"
    assert memory.reference.startswith("GREW")
    assert figures["request latency p99, end"].reference == "flat"
    assert figures["verdict"].detail.startswith(
        "NOT flat: 60 s after a 0 s warm-up vs the last 60 s of 10.0 min"
    )


def test_the_start_window_comes_after_the_warm_up() -> None:
    """Growth while the store fills to its steady size is warm-up, not creep."""
    result = Soak(
        answers=[(t, 0.010) for t in range(0, 600, 2)],
        rss=[
            (0.0, {"receivers": 90 * 1024}),
            (75.0, {"receivers": 150 * 1024}),
            (200.0, {"receivers": 160 * 1024}),
            (590.0, {"receivers": 170 * 1024}),
        ],
    )
    assert warmup_seconds(600, 180) == 180
    assert warmup_seconds(300, 180) == 100  # at most a third of the run
    after = {
        f.measure: f
        for f in figures_of(result, seconds=600, rate=1000, maximum=None, spans=512, stored=9, warmup_s=180)
    }
    assert after["resident memory, all serve processes, end"].detail == "start 160; receivers 160 -> 170 MiB"
    assert after["verdict"].detail.startswith("flat: 42 s after a 180 s warm-up vs the last 42 s")
    from_zero = {
        f.measure: f for f in figures_of(result, seconds=600, rate=1000, maximum=None, spans=512, stored=9)
    }
    assert from_zero["verdict"].detail.startswith("NOT flat")


@pytest.mark.e2e
def test_a_short_soak_on_sqlite_prints_start_end_and_verdict(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    args = ["--minutes", "0.2", "--probe", "4", "--batch", "16", "--out", str(out)]
    result = CliRunner().invoke(soak, args)
    assert result.exit_code == 0, result.output
    figures = {f["measure"]: f for f in json.loads(out.read_text())["figures"]}
    assert figures["target rate (half the maximum)"]["value"] > 0
    assert figures["resident memory, all serve processes, end"]["value"] > 0
    assert figures["request latency p99, end"]["detail"].startswith("start ")
    assert figures["verdict"]["detail"].split(":")[0] in {"flat", "NOT flat"}
