"""The demo's stand-in integration engine: it moves off a busy port and the starter
exceptions.yaml follows it; the planted outage says when the engine is down and when it is back."""

from __future__ import annotations

import socket
import threading

from exceptions.config import load_for
from exceptions.standin import StandIn
from vitals.kernel.settings import default_config_dir
from vitals.shell.demo import STANDIN_URL_VARIABLE, _plant_engine_outage, _start_standin


def test_the_stand_in_moves_off_a_busy_port_and_the_starter_targets_follow_it() -> None:
    said: list[str] = []
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        engine, url = _start_standin("http://127.0.0.1:9", said.append, port=port)
        try:
            assert url.startswith("http://127.0.0.1:") and url != f"http://127.0.0.1:{port}"
            assert said[0].startswith(f"port {port} is busy") and url in said[0]
            assert url in said[-1]
            config = load_for(default_config_dir(), {STANDIN_URL_VARIABLE: url})
            assert config.interfaces
            assert {i.target.url for i in config.interfaces} == {f"{url}/webhook"}
        finally:
            engine.stop()


def test_the_planted_outage_takes_the_engine_down_and_says_when_it_is_back() -> None:
    readings = iter([1000.0])  # the first reading starts the window; every later one is past it
    engine = StandIn(clock=lambda: next(readings, 1300.0))
    said: list[str] = []
    stop = threading.Event()
    thread = _plant_engine_outage(engine, 300, stop, said.append)
    assert thread is not None
    thread.join(10)
    assert not thread.is_alive()
    assert engine.down_until == 1300.0 and engine.down_for() == 0.0
    assert said[0].startswith("planted incident: the stand-in integration engine is DOWN for 5m (until ")
    assert said[1:] == ["the stand-in integration engine is BACK: replay the failed charges again"]


def test_no_outage_when_it_is_turned_off() -> None:
    engine = StandIn(clock=lambda: 1000.0)
    said: list[str] = []
    assert _plant_engine_outage(engine, 0, threading.Event(), said.append) is None
    assert (engine.down_for(), said) == (0.0, [])


def test_the_engine_is_down_only_inside_its_window() -> None:
    clock = [1000.0]
    engine = StandIn(clock=lambda: clock[0])
    assert engine.down_for() == 0.0
    engine.go_down(300)
    clock[0] = 1299.5
    assert engine.down_for() == 0.5
    clock[0] = 1300.0
    assert engine.down_for() == 0.0
    engine.down = True
    assert engine.down_for() == float("inf")
