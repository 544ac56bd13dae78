"""alerts.yaml is reloaded when it changes; a broken edit keeps the running config; both audited."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.reload import ConfigHolder
from alerts.store import MemoryStore
from tests.alerts.harness import FakeClock
from vitals.kernel.configfile import ConfigError

GOOD = "route:\n  receiver: a\nreceivers:\n  - name: a\n"
BETTER = "route:\n  receiver: b\nreceivers:\n  - name: b\n    console_configs: [{}]\n"
BROKEN = "route:\n  receiver: nobody\nreceivers:\n  - name: b\n"


def test_reload_on_change_and_keep_running_config_on_error(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text(GOOD)
    clock = FakeClock()
    store = MemoryStore()
    holder = ConfigHolder(tmp_path, store, clock, check_every=2)
    assert holder().route.opts.receiver == "a"
    assert [(a.action, a.actor) for a in store.audits] == [("config.load", "vitals")]

    path.write_text(BETTER)
    assert holder().route.opts.receiver == "a"  # not looked at again within 2 s
    clock.advance(2)
    assert holder().route.opts.receiver == "b"
    reload = store.audits[-1]
    assert (reload.action, reload.actor, reload.source) == (
        "config.reload",
        "vitals (file changed)",
        "system",
    )
    assert reload.detail["previous_digest"] != reload.detail["digest"] and reload.detail["receivers"] == 1

    path.write_text(BROKEN)
    clock.advance(2)
    assert holder().route.opts.receiver == "b"  # the running config stays
    failed = store.audits[-1]
    assert failed.action == "config.reload_failed"
    assert failed.detail["errors"] == [
        f"{path}:2: route.receiver: receiver 'nobody' is not defined under receivers"
    ]
    assert holder.last_error is not None

    # a restart with the same file does not audit a new load
    path.write_text(BETTER)
    ConfigHolder(tmp_path, store, clock)
    assert store.audits[-1].action == "config.reload_failed"


def test_a_broken_file_stops_the_start_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "alerts.yaml").write_text(BROKEN)
    with pytest.raises(ConfigError, match=r"alerts\.yaml:2: route\.receiver"):
        ConfigHolder(tmp_path, MemoryStore())
