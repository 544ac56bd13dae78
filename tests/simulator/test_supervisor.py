"""The demo's child processes: a planned restart is not a crash."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from simulator.supervisor import Child
from tests.simulator.conftest import wait_for

SLEEPER = """
import signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print(sys.argv[1], flush=True)
while True:
    time.sleep(0.05)
"""


def test_restart_replaces_the_child_and_a_watcher_never_sees_it_exit(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    child = Child("sleeper", [sys.executable, "-c", SLEEPER, "first"], log)
    child.start()
    try:
        wait_for(lambda: "first" in child.tail, 30, "the first child")
        old_pid = child.pid
        seen: list[int | None] = []
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                seen.append(child.returncode())

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            code = child.restart([sys.executable, "-c", SLEEPER, "second"])
            wait_for(lambda: "second" in child.tail, 30, "the second child")
        finally:
            done.set()
            watcher.join(10)
        assert code == 0
        assert child.pid != old_pid and child.running()
        assert seen and set(seen) == {None}
    finally:
        final = child.stop()
    assert final == 0
    assert log.read_text().split() == ["first", "second"]
