"""The leader killed with SIGKILL: another ``vitals serve`` on the same PostgreSQL takes over its jobs.

Two processes run every job-bearing component (SLA engine, alerts, dashboards) over one
database, as two hosts would: ``VITALS_LEASE_HOST`` gives each its own host name in holder names,
so the survivor cannot see that the leader's pid is gone and must wait for its lease to run out,
as on two machines. The takeover bound is 5 s here (``VITALS_LEASE_BOUND``) so the test is
quick; the default of 30 s is the same arithmetic (``tests/vitals/test_lease_timing.py``), and
``VITALS_TEST_LEASE_BOUND=30`` runs this test with it (about 25 s longer). A second test kills
the leader while notifications it planned are pending, one of them mid-post.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from alerts.sqlstore import SqlStore
from slas.tables import sla_evaluations
from tests.alerts.conftest import SLACK_CONFIG
from tests.alerts.factories import burn, evaluation, insert_evaluations
from tests.collector.harness import Served, get, served
from tests.faults.helpers import Sender, batch, leases_by_name, stored_ids, wait_for
from tests.support.fake_slack import FakeSlack
from tests.support.sla_files import GL
from vitals.kernel.db import create_engine
from vitals.kernel.lease import Timing

BOUND_S = float(os.environ.get("VITALS_TEST_LEASE_BOUND", "5"))
#: What a busy shared machine may add to the bound (scheduler threads, a slow transaction).
SLACK_S = 5.0
JOBS = ("slas.engine", "alerts.evaluation", "dashboards.rollups")
#: Taken by each refresh of the rollups (the job lease's holder folds under the same name).
FAMILY = "dashboards.rollup.spans"
#: SLAs whose (inserted) evaluations fire an alert each: one notification each to plan and deliver.
NOTIFIED = ("charge-lag", "queue-stuck", "adt-silence", "claims-rejects")


def _config(folder: Path) -> Path:
    (folder / "config" / "slas").mkdir(parents=True)
    (folder / "config" / "slas" / "gl.yaml").write_text(GL)
    (folder / "config" / "dashboard.yaml").write_text("rollup_interval: 1s\n")
    return folder


def _environ(host: str) -> dict[str, str]:
    return {
        "VITALS_COMPONENTS": "slas,alerts,dashboards",
        "VITALS_LEASE_BOUND": str(BOUND_S),
        "VITALS_LEASE_HOST": host,
    }


def _holders_start_with(url: str, prefix: str) -> bool:
    engine = create_engine(url)
    try:
        found = leases_by_name(engine)
    finally:
        engine.dispose()
    now = time.time_ns()
    return all(job in found and found[job].owner.startswith(prefix) and found[job].held(now) for job in JOBS)


@pytest.mark.e2e
@pytest.mark.postgres
def test_a_standby_takes_over_every_job_within_the_bound_after_sigkill(pg_url: str, tmp_path: Path) -> None:
    engine = create_engine(pg_url)
    with ExitStack() as stack:
        stack.callback(engine.dispose)
        leader: Served = stack.enter_context(
            served(pg_url, _config(tmp_path / "a"), environ=_environ("host-a"))
        )
        wait_for(lambda: _holders_start_with(pg_url, "host-a:"), 30, "the first process holds every job")
        standby = stack.enter_context(served(pg_url, _config(tmp_path / "b"), environ=_environ("host-b")))
        sender = Sender([leader.url])
        for _ in range(5):
            sender.send(batch(20))
        wait_for(lambda: _refreshed_by(engine, "host-a:"), 30, "the leader refreshes the rollups")
        assert _holders_start_with(pg_url, "host-a:"), "the standby took a job from a living leader"

        leader.process.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        leader.process.wait()
        killed_ns = time.time_ns()
        taken = {job: _wait_holder(engine, job, "host-b:") - killed for job in JOBS}
        # The survivor runs each job, not just holds its lease.
        evaluated = _wait(lambda: _newest_evaluation(engine) > killed_ns) - killed
        # On PostgreSQL new spans wait a horizon (2 min) before they are folded: a refresh by the
        # survivor (its claim of the family's lease) is what shows the job moved.
        folded = _wait(lambda: _refreshed_by(engine, "host-b:")) - killed
        sender = Sender([standby.url])
        for _ in range(5):
            sender.send(batch(20))
        status, body = get(f"{standby.url}/readyz")
        assert status == 200
        held = {j["job"]: j for j in orjson.loads(body)["jobs"] if j["held"]}
        for job in JOBS:  # /readyz of the survivor names it as the holder of each job
            assert held[job]["this_process"] is True and held[job]["host"] == "host-b", held[job]

        bound = Timing(BOUND_S)
        print(
            f"\ntakeover after SIGKILL (bound {BOUND_S:g}s, worst case {bound.worst_takeover_s:g}s): "
            + ", ".join(f"{job} lease {seconds:.2f}s" for job, seconds in taken.items())
            + f"; first SLA evaluation {evaluated:.2f}s; first rollup refresh {folded:.2f}s"
        )
        for job, seconds in taken.items():
            assert seconds <= BOUND_S + SLACK_S, f"{job} taken over after {seconds:.1f}s"
        assert evaluated <= BOUND_S + SLACK_S and folded <= BOUND_S + SLACK_S
        ids = stored_ids(engine)
        assert len(ids) == len(set(ids)) == 200  # acknowledged = stored, nothing twice
        assert "lease slas.engine: taken by host-b:" in standby.log()


def _wait(condition: Callable[[], bool]) -> float:
    wait_for(condition, 60, "the survivor runs the job")
    return time.monotonic()


def _wait_holder(engine: Engine, job: str, prefix: str) -> float:
    def held() -> bool:
        lease = leases_by_name(engine).get(job)
        return lease is not None and lease.owner.startswith(prefix)

    wait_for(held, 60, f"{job} taken over", step=0.02)
    return time.monotonic()


def _newest_evaluation(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.max(sla_evaluations.c.evaluated_at_unix_nano))).scalar() or 0)


def _refreshed_by(engine: Engine, prefix: str) -> bool:
    lease = leases_by_name(engine).get(FAMILY)
    return lease is not None and lease.owner.startswith(prefix)


@pytest.mark.e2e
@pytest.mark.postgres
def test_notifications_pending_when_the_leader_dies_are_delivered_once(pg_url: str, tmp_path: Path) -> None:
    """The leader planned notifications and is posting one (Slack applied it, the answer is held)
    when it is killed: the survivor delivers every one, the one in flight included, once."""
    engine = create_engine(pg_url)
    with ExitStack() as stack, FakeSlack() as fake:
        stack.callback(engine.dispose)
        alerts = SLACK_CONFIG.format(api=fake.api_url, fallback_after="10m").replace(
            "lease: 30s", "lease: 15s"
        )
        slack_env = {
            "TEST_SLACK_TOKEN": fake.token,
            "TEST_FALLBACK_WEBHOOK": fake.webhook_url("alerts-fallback"),
        }
        folders = {}
        for host in ("host-a", "host-b"):
            folders[host] = _config(tmp_path / host)
            (folders[host] / "config" / "alerts.yaml").write_text(alerts)
        leader = stack.enter_context(
            served(pg_url, folders["host-a"], environ={**_environ("host-a"), **slack_env})
        )
        wait_for(lambda: _holders_start_with(pg_url, "host-a:"), 30, "the first process holds every job")
        fake.hold(["chat.postMessage"])
        now = time.time()
        insert_evaluations(
            engine, [evaluation(at=now, sla_id=sla, burn_rates=[burn(firing=True)]) for sla in NOTIFIED]
        )
        store = SqlStore(engine)
        wait_for(lambda: len(store.outbox_rows(None, 100)) == len(NOTIFIED), 30, "the leader plans them")
        wait_for(lambda: fake.held >= 1, 30, "the leader's post in flight")
        in_flight = [r.lease_owner or "" for r in store.outbox_rows(None, 100) if r.status == "sending"]
        assert len(in_flight) == 1 and in_flight[0].startswith("host-a:"), in_flight
        standby = stack.enter_context(
            served(pg_url, folders["host-b"], environ={**_environ("host-b"), **slack_env})
        )
        leader.process.send_signal(signal.SIGKILL)
        leader.process.wait()
        killed = time.monotonic()
        fake.release()
        wait_for(
            lambda: all(r.status == "sent" for r in store.outbox_rows(None, 100)),
            90,
            "every notification sent",
        )
        drained = time.monotonic() - killed
        keys = [r.key for r in store.outbox_rows(None, 100)]
        assert standby.process.poll() is None
    messages = fake.channel_messages("integration-oncall")
    delivered = Counter(m.metadata["event_payload"]["key"] for m in messages if m.metadata)
    assert delivered == Counter(keys)  # each pending notification once, the one in flight included
    assert len([c for c in fake.calls_to("chat.postMessage") if c.status == 200]) == len(NOTIFIED)
    print(
        f"\n{len(NOTIFIED)} notifications pending at the leader's SIGKILL (one mid-post), "
        f"all delivered once {drained:.1f}s after"
    )
