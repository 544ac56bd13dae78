"""Incidents (Alertmanager groups) as on-call reads them: ``alerts.api.list_incidents`` and
``acknowledge_incident``, on the in-memory store and on the real SQL store (SQLite, PostgreSQL).

Group rows are written as the engine's planning step writes them (``commit_plan``), with the
alerts each incident holds, so these tests do not depend on the planning step's timers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from alerts import api
from alerts import config as alerts_config
from alerts.engine import route_groups
from alerts.grouping import GroupState
from alerts.model import Alert, Figures
from alerts.sqlstore import SqlStore
from alerts.store import AlertStore, MemoryStore
from tests.alerts.factories import T0
from tests.support.services import postgres_database
from vitals.kernel.db import create_engine, migrate

CONFIG = """
route:
  receiver: integration-oncall
  group_by: [interface]
  routes:
    - matchers: ['owner="finance-systems"']
      receiver: finance-systems
      group_by: [interface]
receivers:
  - name: integration-oncall
  - name: finance-systems
"""
NOW = T0 + 3600.0


def alert(
    sla: str,
    *,
    interface: str,
    started: float,
    severity: str = "page",
    priority: str = "P1",
    owner: str = "integration-team",
    title: str | None = None,
    slice_: str = "",
    suppressed: bool = False,
    acked_by: str | None = None,
    resolved: float | None = None,
) -> Alert:
    labels = {
        "alertname": sla,
        "sla": sla,
        "priority": priority,
        "owner": owner,
        "severity": severity,
        "tier": "1h/5m" if severity == "page" else "6h/30m",
        "interface": interface,
    }
    if slice_:
        labels["slice"] = slice_
    figures = Figures(
        title=title or sla.replace("-", " "),
        kind="ratio",
        objective=0.995,
        sli=0.97,
        good=97.0,
        total=100.0,
        window_label="7d",
        budget_remaining=-0.1,
        time_to_exhaustion_s=None,
        evaluated_at=NOW,
    )
    return Alert(
        fingerprint=hashlib.sha256(f"{sla}\x1f{slice_}".encode()).hexdigest()[:16],
        sla_id=sla,
        slice=slice_,
        tier=labels["tier"],
        labels=labels,
        figures=figures,
        started_at=started,
        last_evaluated_at=NOW,
        resolved_at=resolved,
        suppressed_by=("silence:1",) if suppressed else (),
        acknowledged_by=acked_by,
        acknowledged_at=NOW - 60 if acked_by else None,
    )


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[AlertStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path}/vitals.db")
        migrate(engine)
        yield SqlStore(engine)
        engine.dispose()
        return
    with postgres_database() as url:
        engine = create_engine(url)
        migrate(engine)
        yield SqlStore(engine)
        engine.dispose()


def config() -> alerts_config.AlertsConfig:
    return alerts_config.parse(CONFIG, environ={})


def load(
    store: AlertStore, alerts: list[Alert], *, urgency: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Commit the alerts and one group per incident, as routed by CONFIG; interface -> group ref."""
    store.commit(alerts=alerts, now=NOW)
    stored = list(store.alerts_by_fingerprint([a.fingerprint for a in alerts]).values())
    groups = []
    refs = {}
    for ref, (route, key, labels, members) in route_groups(config(), stored).items():
        fps = frozenset(a.fingerprint for a in members)
        open_ = any(a.is_open for a in members)
        groups.append(
            GroupState(
                route_key=route.key,
                group_key=key,
                group_ref=ref,
                receiver=route.opts.receiver,
                group_labels=labels,
                open=open_,
                episode=1,
                opened_at=min(a.started_at for a in members),
                notified_at=min(a.started_at for a in members),
                members=fps,
                alerts=fps,
                urgency=(urgency or {}).get(labels["interface"], "page"),
            )
        )
        refs[labels["interface"]] = ref
    store.commit_plan(groups, [], NOW)
    return refs


def by_title(incidents: list[api.IncidentInfo]) -> list[str]:
    return [i.title for i in incidents]


def test_incidents_order_firing_pages_newest_first_then_suppressed_then_resolved(store: AlertStore) -> None:
    refs = load(
        store,
        [
            # an older ticket, firing
            alert("charge-lag", interface="charges", started=T0, severity="ticket", priority="P2"),
            # a newer page, firing: above the older ticket
            alert("adt-backlog", interface="adt", started=T0 + 1200, priority="P1"),
            # an older page, firing: below the newer one
            alert("lab-errors", interface="lab", started=T0 + 600, priority="P1"),
            # every alert suppressed: below every firing incident, though a newer P1 page
            alert("supply-lag", interface="supply", started=T0 + 3000, suppressed=True),
            # acknowledged: between firing and suppressed
            alert("pharmacy-errors", interface="pharmacy", started=T0 + 100, acked_by="kim"),
            # resolved: last
            alert("gl-errors", interface="gl", started=T0 + 3300, resolved=NOW - 60, owner="finance-systems"),
        ],
        urgency={"charges": "ticket"},
    )
    incidents = api.incidents_of(store, now=NOW)
    assert [i.ref for i in incidents] == [
        refs["adt"],
        refs["lab"],
        refs["charges"],
        refs["pharmacy"],
        refs["supply"],
        refs["gl"],
    ]
    assert [i.state for i in incidents] == [
        "firing",
        "firing",
        "firing",
        "acknowledged",
        "suppressed",
        "resolved",
    ]
    adt = incidents[0]
    assert adt.title == "adt: adt backlog"
    assert (adt.urgency, adt.priority, adt.severity, adt.receiver) == (
        "page",
        "P1",
        "page",
        "integration-oncall",
    )
    assert adt.started_at == datetime.fromtimestamp(T0 + 1200, UTC)
    assert incidents[-1].receiver == "finance-systems"
    assert incidents[3].acknowledged_by == "kim"  # acknowledged alert by alert
    open_only = api.incidents_of(store, now=NOW, include_resolved=False)
    assert [i.ref for i in open_only] == [i.ref for i in incidents[:-1]]
    assert api.incidents_of(store, now=NOW, limit=2) == incidents[:2]
    # a resolved incident older than `recent` is left out
    assert refs["gl"] not in [i.ref for i in api.incidents_of(store, now=NOW, recent=timedelta(seconds=30))]


def test_an_incident_lists_its_alerts_worst_first_and_counts_them(store: AlertStore) -> None:
    (ref,) = load(
        store,
        [
            alert("charge-backlog", interface="charges", started=T0 + 60, suppressed=True, title="Backlog"),
            alert("charge-stuck", interface="charges", started=T0, title="Stuck queue"),
            alert(
                "charge-lag",
                interface="charges",
                started=T0 + 30,
                severity="ticket",
                priority="P2",
                title="Lag",
            ),
            alert("charge-errors", interface="charges", started=T0, resolved=NOW - 5, title="Errors"),
        ],
    ).values()
    (incident,) = api.incidents_of(store, now=NOW)
    assert incident.ref == ref
    assert [a.sla_id for a in incident.alerts] == [
        "charge-stuck",
        "charge-lag",
        "charge-backlog",
        "charge-errors",
    ]
    assert [a.state for a in incident.alerts] == ["firing", "firing", "suppressed", "resolved"]
    assert dict(incident.counts) == {"firing": 2, "acknowledged": 0, "suppressed": 1, "resolved": 1}
    assert incident.title == "charges: Stuck queue; Lag; Backlog (+1 more)"
    assert incident.started_at == datetime.fromtimestamp(T0, UTC)  # the earliest breach start
    data = incident.to_json()
    assert data["ref"] == ref and data["state"] == "firing" and data["counts"]["suppressed"] == 1
    assert [a["sla_id"] for a in data["alerts"]][:2] == ["charge-stuck", "charge-lag"]
    assert data["started_at"] == datetime.fromtimestamp(T0, UTC).isoformat()


def test_alerts_no_group_holds_are_listed_in_a_final_bucket(store: AlertStore) -> None:
    load(store, [alert("adt-backlog", interface="adt", started=T0)])
    loose = alert("supply-lag", interface="supply", started=T0 + 50, suppressed=True)
    store.commit(alerts=[loose], now=NOW)
    incidents = api.incidents_of(store, now=NOW)
    assert [(i.grouped, i.state) for i in incidents] == [(True, "firing"), (False, "suppressed")]
    bucket = incidents[-1]
    assert bucket.ref == api.NOT_GROUPED and [a.sla_id for a in bucket.alerts] == ["supply-lag"]
    counts = api.tallies(incidents)
    assert counts["incidents"] == {"firing": 1, "acknowledged": 0, "suppressed": 0, "resolved": 0}
    assert counts["alerts"] == {"firing": 1, "acknowledged": 0, "suppressed": 1, "resolved": 0}


def test_acknowledging_an_incident_acknowledges_its_firing_alerts_with_an_audit(store: AlertStore) -> None:
    refs = load(
        store,
        [
            alert("charge-stuck", interface="charges", started=T0),
            alert("charge-backlog", interface="charges", started=T0 + 10),
            alert("adt-backlog", interface="adt", started=T0 + 20),
        ],
    )
    info = api.acknowledge_incident_in(
        store, config(), refs["charges"], "kim", "restarting the interface engine", "cli", now=NOW
    )
    assert info.state == "acknowledged" and info.acknowledged_by == "kim"
    assert {a.state for a in info.alerts} == {"acknowledged"}
    incidents = api.incidents_of(store, now=NOW)
    assert [(i.ref, i.state) for i in incidents] == [
        (refs["adt"], "firing"),
        (refs["charges"], "acknowledged"),
    ]
    assert api.tallies(incidents)["incidents"]["acknowledged"] == 1
    audits = store.audit_entries(10)
    assert {(a.actor, a.source) for a in audits if a.action.startswith("acknowledge")} == {("kim", "cli")}
    with pytest.raises(api.NotFound):
        api.acknowledge_incident_in(store, config(), "0000000000000000", "kim", now=NOW)
    with pytest.raises(api.AckError):
        api.acknowledge_incident_in(store, config(), refs["adt"], " ", now=NOW)


def test_a_resolved_incident_cannot_be_acknowledged(store: AlertStore) -> None:
    refs = load(store, [alert("adt-backlog", interface="adt", started=T0, resolved=NOW - 10)])
    with pytest.raises(api.AckError, match="resolved"):
        api.acknowledge_incident_in(store, config(), refs["adt"], "kim", now=NOW)


def test_before_the_engine_records_a_groups_alerts_its_notified_ones_are_shown(store: AlertStore) -> None:
    refs = load(store, [alert("adt-backlog", interface="adt", started=T0)])
    group = store.groups()[refs["adt"]]
    store.commit_plan([replace(group, alerts=frozenset())], [], NOW)
    (incident,) = api.incidents_of(store, now=NOW)
    assert incident.grouped and [a.sla_id for a in incident.alerts] == ["adt-backlog"]


def test_list_and_acknowledge_through_the_engine(tmp_path: object) -> None:
    """The engine-level functions the dashboard calls, on SQLite, with the config directory."""
    from pathlib import Path

    directory = Path(str(tmp_path))
    (directory / "alerts.yaml").write_text(CONFIG)
    engine = create_engine(f"sqlite:///{directory / 'vitals.db'}")
    migrate(engine)
    refs = load(SqlStore(engine), [alert("adt-backlog", interface="adt", started=T0)])
    (incident,) = api.list_incidents(engine, now=NOW)
    assert incident.ref == refs["adt"] and incident.state == "firing"
    acked = api.acknowledge_incident(engine, directory, refs["adt"], "lee", "on it", "dashboard", now=NOW)
    assert acked.state == "acknowledged"
    got = api.get_incident(engine, refs["adt"])
    assert got is not None and got.acknowledged_by == "lee"
    assert api.get_incident(engine, "nope") is None
    engine.dispose()


def test_cli_lists_incidents_expands_them_and_acknowledges_by_incident_ref(tmp_path: object) -> None:
    import json
    from pathlib import Path

    from click.testing import CliRunner

    from alerts.cli import alerts as alerts_cli

    directory = Path(str(tmp_path))
    routing = directory / "routing.yaml"
    routing.write_text(CONFIG)
    db = f"sqlite:///{directory / 'vitals.db'}"
    engine = create_engine(db)
    migrate(engine)
    refs = load(
        SqlStore(engine),
        [
            alert("charge-lag", interface="charges", started=T0, severity="ticket", priority="P2"),
            alert("charge-stuck", interface="charges", started=T0 + 5, severity="ticket", priority="P2"),
            alert("adt-backlog", interface="adt", started=T0 + 1200),
            alert("supply-lag", interface="supply", started=T0 + 3000, suppressed=True),
        ],
        urgency={"charges": "ticket"},
    )
    env = {"VITALS_DB": db, "VITALS_CONFIG": str(directory)}

    def invoke(*args: str) -> str:
        result = CliRunner().invoke(alerts_cli, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    lines = invoke("list").splitlines()
    assert lines[0] == (
        f"firing       page   P1  adt: adt backlog -> integration-oncall since 2026-05-28 20:46:40 UTC  "
        f"[{refs['adt']}: 1 firing]"
    )
    assert (
        lines[1].startswith("firing       ticket P2  charges: charge stuck; charge lag")
        and refs["charges"] in lines[1]
    )
    assert lines[2].startswith("suppressed") and refs["supply"] in lines[2]
    assert lines[3:] == [
        "incidents: firing 2, acknowledged 0, suppressed 1, resolved 0",
        "alerts: firing 3, acknowledged 0, suppressed 1, resolved 0",
    ]
    expanded = invoke("list", "--alerts").splitlines()
    assert expanded[0] == lines[0]
    assert (
        expanded[1].startswith("    ")
        and "adt-backlog [1h/5m] (all) since 2026-05-28 20:46:40 UTC" in expanded[1]
    )
    assert [line.split()[3] for line in expanded[3:5]] == ["P2", "P2"]  # the charges incident's two alerts
    incidents = json.loads(invoke("list", "--json"))
    assert [i["ref"] for i in incidents] == [refs["adt"], refs["charges"], refs["supply"]]
    assert [a["sla_id"] for a in incidents[1]["alerts"]] == ["charge-stuck", "charge-lag"]

    out = invoke("ack", refs["charges"], "--by", "kim", "-c", "rebooting", "--file", str(routing))
    assert out.startswith(
        f"acknowledged incident {refs['charges']} (charges: charge stuck; charge lag) as kim"
    )
    states = {i["ref"]: (i["state"], i["acknowledged_by"]) for i in json.loads(invoke("list", "--json"))}
    assert states[refs["charges"]] == ("acknowledged", "kim") and states[refs["adt"]] == ("firing", None)
    assert "incidents: firing 1, acknowledged 1, suppressed 1" in invoke("list")
    # an alert id still works
    (adt,) = json.loads(invoke("list", "--json"))[0]["alerts"]
    assert "acknowledged" in invoke("ack", str(adt["id"]), "--by", "lee")
    engine.dispose()
