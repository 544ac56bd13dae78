"""Job leases: of two holders one wins, expiry hands over, a stale holder cannot write."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from vitals.kernel.db import create_engine, migrate
from vitals.kernel.lease import Lease, hold, holder, may_take, new_owner, owner_alive, release, take

S = 1_000_000_000
NAME = "test.job"
MINUTE = 60 * S


def _take(engine: Engine, owner: str, now: int, duration: int = MINUTE) -> Lease | None:
    with engine.begin() as conn:
        return take(conn, NAME, owner, now, duration)


def test_of_two_holders_one_wins_until_the_lease_expires(engine: Engine) -> None:
    first = _take(engine, "a", now=0)
    assert first == Lease(NAME, "a", MINUTE)
    assert _take(engine, "b", now=30 * S) is None  # held by a
    assert _take(engine, "a", now=30 * S) == Lease(NAME, "a", 90 * S)  # a renews
    assert _take(engine, "b", now=89 * S) is None
    assert _take(engine, "b", now=90 * S) == Lease(NAME, "b", 150 * S)  # expired: handed over
    with engine.connect() as conn:
        assert holder(conn, NAME) == Lease(NAME, "b", 150 * S)


def test_a_holder_that_lost_the_lease_cannot_renew_it_to_write(engine: Engine) -> None:
    stale = _take(engine, "a", now=0)
    assert stale is not None
    assert _take(engine, "b", now=2 * MINUTE) is not None  # a stalled past its expiry
    with engine.begin() as conn:
        assert hold(conn, stale, now_ns=2 * MINUTE + S, duration_ns=MINUTE) is None
    with engine.begin() as conn:
        # Expired but not taken: still the holder's, and renewing it is allowed.
        mine = take(conn, "other.job", "a", 0, MINUTE)
        assert mine is not None
        assert hold(conn, mine, now_ns=5 * MINUTE, duration_ns=MINUTE) == Lease("other.job", "a", 6 * MINUTE)


def test_release_lets_the_next_taker_in_at_once(engine: Engine) -> None:
    lease = _take(engine, "a", now=0)
    assert lease is not None
    with engine.begin() as conn:
        release(conn, lease)
    assert _take(engine, "b", now=S) == Lease(NAME, "b", S + MINUTE)


def test_a_lease_of_a_process_that_is_gone_is_taken_at_once(engine: Engine) -> None:
    child = [sys.executable, "-c", "import os; print(os.getpid())"]
    gone = subprocess.run(child, check=True, capture_output=True, text=True)
    dead = f"{socket.gethostname()}:{int(gone.stdout)}:0000"
    assert owner_alive(dead) is False
    assert _take(engine, dead, now=0) is not None
    assert _take(engine, new_owner(), now=S) is not None  # long before the expiry


def test_who_may_take_a_lease() -> None:
    me = new_owner()
    assert owner_alive(me) is True
    assert owner_alive("elsewhere:1:abcd") is None  # another host: cannot tell
    assert owner_alive("") is False
    assert may_take(None, me, 0)
    assert may_take(Lease(NAME, "", 0), me, 0)  # never taken
    assert may_take(Lease(NAME, me, 10), me, 0)
    assert not may_take(Lease(NAME, "elsewhere:1:abcd", 10), me, 0)
    assert may_take(Lease(NAME, "elsewhere:1:abcd", 10), me, 10)


@pytest.mark.postgres
def test_postgresql_two_takers_at_the_same_moment_one_wins(pg_url: str) -> None:
    """A takes the expired lease and has not committed; B reads the expired row too and tries.
    B's update waits for A's row lock, then finds the row changed: B does not win."""
    engine = create_engine(pg_url)
    migrate(engine)
    try:
        assert _take(engine, "old", now=0) is not None
        results: dict[str, Lease | None] = {}
        with engine.connect() as a:
            tx = a.begin()
            results["a"] = take(a, NAME, "a", 2 * MINUTE, MINUTE)
            b = threading.Thread(target=lambda: results.__setitem__("b", _take(engine, "b", 2 * MINUTE)))
            b.start()
            with engine.connect() as watch:
                waiting = text("SELECT count(*) FROM pg_locks WHERE NOT granted AND pid <> pg_backend_pid()")
                deadline = time.monotonic() + 30
                while watch.execute(waiting).scalar_one() == 0:  # until B waits on A's row lock
                    assert time.monotonic() < deadline, "the second taker never reached the row lock"
                    time.sleep(0.01)
            tx.commit()
            b.join(timeout=30)
        assert results == {"a": Lease(NAME, "a", 3 * MINUTE), "b": None}
    finally:
        engine.dispose()


def test_owner_names_are_unique_per_call() -> None:
    assert new_owner() != new_owner()
    assert new_owner().split(":")[:2] == [socket.gethostname(), str(os.getpid())]
