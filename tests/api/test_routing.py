"""``api.routing.RoutingConfig``: alerts.yaml without its secrets, reloaded when it changes."""

from __future__ import annotations

import os
from pathlib import Path

from api.routing import RoutingConfig
from tests.alerts.harness import FakeClock

CONFIG = """
route:
  receiver: team
  group_by: [sla]
receivers:
  - name: team
    slack_configs:
      - channel: "#finance"
        api_url: {env: A_VARIABLE_NOBODY_SET}
"""


def test_routes_without_secrets_and_follows_the_file(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text(CONFIG)
    clock = FakeClock(1000.0)
    routing = RoutingConfig(tmp_path, clock)
    first = routing()
    assert first.route.opts.group_by == ("sla",)  # loaded although the secret's variable is unset
    path.write_text(CONFIG.replace("group_by: [sla]", "group_by: [sla, slice]"))
    os.utime(path, (1.0, 1.0))  # a different stamp whatever the file system's time resolution
    assert routing() is first  # not looked at again within 2 s
    clock.advance(2)
    assert set(routing().route.opts.group_by) == {"sla", "slice"}
    kept = routing()
    path.write_text("route: {receiver: nobody}\nreceivers: [{name: team}]\n")
    clock.advance(2)
    assert routing() is kept  # a broken file keeps the last good one
