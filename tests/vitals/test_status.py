"""Who holds which job, since when; how far the rollups trail; the newest SLA evaluation's age."""

from __future__ import annotations

import os
import socket

from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy.engine import Engine

from tests.alerts.factories import T0, evaluation, insert_evaluations
from vitals.kernel.lease import Lease, all_leases, hold, new_owner, owner_here, owner_process, release, take
from vitals.shell.status import Rollup, Snapshot, StatusSource, job_view, readiness

S = 1_000_000_000
NOW = int(T0 * S)
HERE = ("vitals-a", 4242)


def test_owner_names_say_host_and_pid() -> None:
    owner = new_owner()
    assert owner_process(owner) == (socket.gethostname(), os.getpid())
    assert owner_here(owner)
    assert not owner_here(f"{socket.gethostname()}:{os.getpid() + 1}:abcd")
    assert owner_process("someone else") is None


def test_renewals_keep_since_and_a_new_holder_starts_it(engine: Engine) -> None:
    with engine.begin() as conn:
        first = take(conn, "job", "a:1:x", NOW, 60 * S)
        assert first is not None and first.taken_ns == NOW
        renewed = take(conn, "job", "a:1:x", NOW + 30 * S, 60 * S)
        assert renewed is not None and renewed.taken_ns == NOW
        held = hold(conn, renewed, NOW + 40 * S, 60 * S)
        assert held is not None and held.taken_ns == NOW
        assert take(conn, "job", "b:2:y", NOW + 90 * S, 60 * S) is None  # still a's
        release(conn, held)
        second = take(conn, "job", "b:2:y", NOW + 91 * S, 60 * S)
        assert second is not None and second.taken_ns == NOW + 91 * S
        (row,) = all_leases(conn)
    assert (row.owner, row.taken_ns, row.expires_ns) == ("b:2:y", NOW + 91 * S, NOW + 151 * S)


def test_a_job_view_names_the_holder_and_whether_it_is_this_process() -> None:
    lease = Lease("slas.engine", "vitals-a:4242:1f2e", NOW + 60 * S, NOW - 300 * S)
    view = job_view(lease, NOW, HERE)
    assert view == {
        "job": "slas.engine",
        "held": True,
        "holder": "vitals-a:4242:1f2e",
        "host": "vitals-a",
        "pid": 4242,
        "this_process": True,
        "since": "2026-05-28T20:21:40Z",
        "until": "2026-05-28T20:27:40Z",
        "held_for_s": 300.0,
        "expires_in_s": 60.0,
        "last_expired": None,
    }
    other = job_view(lease, NOW, ("vitals-b", 4242))
    assert other["held"] and not other["this_process"]
    expired = job_view(lease, NOW + 61 * S, HERE)
    assert not expired["held"] and not expired["this_process"] and expired["until"] is None
    assert expired["holder"] == "vitals-a:4242:1f2e" and expired["last_expired"] == "2026-05-28T20:27:40Z"


def test_readiness_fields_of_a_snapshot() -> None:
    snapshot = Snapshot(
        now_ns=NOW,
        here=HERE,
        leases=(),
        newest_span_id=1200,
        newest_span_received_ns=NOW - 2 * S,
        rollups={"spans": Rollup(1000, 200, NOW - 45 * S), "metrics": Rollup(0, 0, None)},
        newest_evaluation_ns=NOW - 95 * S,
    )
    fields = readiness(snapshot)
    assert fields["ingest"] == {
        "newest_span_id": 1200,
        "newest_span_received": "2026-05-28T20:26:38Z",
        "rollups": {
            "spans": {"watermark": 1000, "behind_rows": 200, "lag_s": 45.0},
            "metrics": {"watermark": 0, "behind_rows": 0, "lag_s": 0.0},
        },
    }
    assert fields["newest_sla_evaluation"] == "2026-05-28T20:25:05Z"
    assert fields["newest_sla_evaluation_age_s"] == 95.0


def test_the_store_read_as_readyz_fields_and_gauges(engine: Engine) -> None:
    here = (socket.gethostname(), os.getpid())
    with engine.begin() as conn:
        take(conn, "slas.engine", f"{here[0]}:{here[1]}:abcd", NOW - 10 * S, 90 * S)
        take(conn, "dashboards.rollup.spans", "vitals-b:77:ffff", NOW - 5 * S, 60 * S)
    insert_evaluations(engine, [evaluation(at=T0 - 40)])
    source = StatusSource(engine, clock=lambda: NOW)
    fields = source.readiness()
    jobs = {j["job"]: j for j in fields["jobs"]}
    assert jobs["slas.engine"]["this_process"] and jobs["slas.engine"]["pid"] == os.getpid()
    assert jobs["dashboards.rollup.spans"]["host"] == "vitals-b"
    assert not jobs["dashboards.rollup.spans"]["this_process"]
    assert fields["newest_sla_evaluation_age_s"] == 40.0
    assert fields["ingest"]["newest_span_id"] == 0

    registry = CollectorRegistry()
    registry.register(source)
    text = generate_latest(registry).decode()
    assert 'vitals_job_lease_this_process{job="slas.engine"} 1.0' in text
    assert 'vitals_job_lease_this_process{job="dashboards.rollup.spans"} 0.0' in text
    assert 'vitals_job_lease_holder{host="vitals-b",job="dashboards.rollup.spans",pid="77"} 1.0' in text
    assert "vitals_sla_newest_evaluation_age_seconds 40.0" in text
    assert 'vitals_ingest_rollup_lag_seconds{family="spans"} 0.0' in text
