"""The starter exceptions.yaml: valid, and its groups owned by the teams the starter alerts.yaml
routes to (the same tree as alerts)."""

from __future__ import annotations

from alerts.config import load_for as load_alerts
from exceptions.config import load_for
from exceptions.routing import group_route_labels, team_for
from vitals.kernel.settings import default_config_dir


def test_the_starter_replays_gl_postings_and_charges_and_routes_them_to_their_teams() -> None:
    starter = default_config_dir()
    config = load_for(starter, {})  # the URLs default to the demo stand-in on 8590
    route = load_alerts(starter, read_secrets=False).route
    owners = {}
    for stage, system in (("gl.posted", "erp"), ("charge.posted", "billing")):
        interface = config.interface_for(stage, system)
        assert interface is not None and interface.target.url.startswith("http://127.0.0.1:8590/")
        labels = group_route_labels(
            stage=stage, system=system, workflow="", facility="", extra=interface.labels
        )
        owners[stage] = team_for(route, labels)
    assert owners == {"gl.posted": "finance-systems", "charge.posted": "revenue-integrity"}
    assert config.interface_for("claim.submitted", "clearinghouse") is None
