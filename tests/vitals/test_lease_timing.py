"""Job leases kept on a heartbeat: the takeover bound, and a Keeper that hands over within it."""

from __future__ import annotations

import os

import pytest
from sqlalchemy.engine import Engine

from vitals.kernel.lease import (
    BOUND_ENV,
    DEFAULT_BOUND_S,
    HOST_ENV,
    Keeper,
    Timing,
    holder,
    new_owner,
    owner_alive,
    take,
    timing,
)

S = 1_000_000_000


class Clock:
    def __init__(self, now_ns: int) -> None:
        self.now = now_ns

    def __call__(self) -> int:
        return self.now


def test_the_default_bound_is_thirty_seconds_and_takeover_fits_in_it() -> None:
    t = timing({})
    assert DEFAULT_BOUND_S == 30.0 and t == Timing(30.0)
    assert (t.lease_s, t.heartbeat_s) == (15.0, 5.0)
    assert t.worst_takeover_s == 20.0 <= t.bound_s
    assert t.missed_beats_survived == 2  # a holder that lives keeps its lease through two missed beats


@pytest.mark.parametrize("bound", [1.0, 5.0, 30.0, 90.0])
def test_every_bound_keeps_its_takeover_within_it(bound: float) -> None:
    t = Timing(bound)
    assert t.worst_takeover_s < t.bound_s
    assert t.heartbeat_s < t.lease_s


def test_the_bound_comes_from_the_environment_and_bad_values_are_refused() -> None:
    assert timing({BOUND_ENV: "5"}).bound_s == 5.0
    assert timing({BOUND_ENV: " "}) == Timing()
    with pytest.raises(ValueError, match=BOUND_ENV):
        timing({BOUND_ENV: "soon"})
    with pytest.raises(ValueError, match="at least 1s"):
        timing({BOUND_ENV: "0.2"})


def test_the_host_in_holder_names_can_be_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HOST_ENV, "ward-b")
    owner = new_owner()
    assert owner.startswith(f"ward-b:{os.getpid()}:")
    # A dead pid of another host cannot be told dead from here: the lease must run out.
    assert owner_alive("ward-a:999999:abcd") is None
    assert owner_alive("ward-b:999999:abcd") is False


def test_a_standby_keeper_takes_over_within_the_bound_once_the_holder_stops(engine: Engine) -> None:
    clock = Clock(1_000 * S)
    t = Timing(30.0)
    first = Keeper(engine, "test.job", owner="host-a:1:a", timing_=t, clock=clock)
    second = Keeper(engine, "test.job", owner="host-b:2:b", timing_=t, clock=clock)
    assert first.beat() is True and first.holds()
    assert second.beat() is False and not second.holds()
    assert second.other is not None and second.other.owner == "host-a:1:a"
    # The holder beats on, the standby waits: a long job never loses the lease.
    for _ in range(10):
        clock.now += int(t.heartbeat_s * S)
        assert first.beat() is False and first.holds()
        assert second.beat() is False
    # The holder dies right after a beat; the standby looks every heartbeat.
    died = clock.now
    while not second.beat():
        clock.now += int(t.heartbeat_s * S)
        assert clock.now - died <= t.worst_takeover_s * S
    assert (clock.now - died) / S <= t.bound_s
    assert second.holds()
    # The old holder, back from a stall, finds the lease lost and does not take it back.
    assert first.beat() is False and not first.holds()


def test_a_keeper_renews_the_part_leases_it_holds_and_not_released_ones(engine: Engine) -> None:
    clock = Clock(1_000 * S)
    keeper = Keeper(engine, "test.job", owner="host-a:1:a", timing_=Timing(30.0), clock=clock)
    keeper.beat()
    with engine.begin() as conn:
        assert take(conn, "test.part", keeper.owner, clock(), 15 * S) is not None
    clock.now += 10 * S
    keeper.beat()
    with engine.connect() as conn:
        part = holder(conn, "test.part")
    assert part is not None and part.expires_ns == clock.now + 15 * S
    keeper.release()
    with engine.connect() as conn:
        job = holder(conn, "test.job")
    assert job is not None and not job.held(clock.now)
