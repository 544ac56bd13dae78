"""Tests mean the same thing at any hour: none reads the wall clock unless it must, and says why.

A test whose data or assertions follow the real time of day passes or fails with the hour it
runs at (a dashboards test once simulated "the last day and a half" from the real now and failed
on the days without a late charge). Every test fixes ``now`` (``--now`` for the commands) and the
seed. This guard reads every module under ``tests/`` and fails on a new wall-clock read, or a new
``vitals simulate``/``vitals demo`` command without ``--now``, that is not in an allow-list below
with its reason. Durations and deadlines (``time.monotonic``, ``time.perf_counter``) are fine.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent

#: ``module.attribute`` reads of the wall clock, called or passed on as a clock.
WALL_CLOCK = {
    ("time", "time"),
    ("time", "time_ns"),
    ("time", "ctime"),
    ("time", "localtime"),
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("Timestamp", "now"),
}

#: Test file -> (wall-clock reads it may make, why the real time is needed and harmless there).
ALLOWED_CLOCK_READS: dict[str, tuple[int, str]] = {
    "tests/access/test_matrix.py": (
        1,
        "a Slack request is signed with the real time: the live server checks the signature's age "
        "on its own clock; only that it is let in is asserted",
    ),
    "tests/faults/helpers.py": (
        1,
        "spans sent to live vitals serve processes are timed now, so their retention job (on the "
        "wall clock) never deletes them mid-test; only ids and counts are asserted",
    ),
    "tests/faults/test_leader_failover.py": (
        3,
        "live vitals serve processes take and renew leases on the wall clock: a lease is read as "
        "held against the real now, the takeover is timed from the kill, and evaluations inserted "
        "for the live alert cycle are current; only durations and counts are asserted",
    ),
    "tests/collector/queues/conftest.py": (
        1,
        "ManualClock() starts at the real time for the live-broker tests: Redis stream ids and "
        "JetStream messages carry the broker's own clock, and ages are asserted as differences",
    ),
    "tests/collector/queues/test_redis_streams.py": (
        1,
        "the poller's clock must not be before the entry ids Redis stamped; the age is compared "
        "with the clock the test then moves",
    ),
    "tests/collector/queues/test_jetstream.py": (
        1,
        "the poller's clock must not be before the message times JetStream stamped; the age is "
        "compared with the clock the test then moves",
    ),
    "tests/support/fake_slack.py": (
        1,
        "a message ts, as Slack stamps it with its clock: the dispatcher reconciles lost replies "
        "by conversations.history oldest= against its own real clock",
    ),
    "tests/alerts/conftest.py": (
        1,
        "the dispatcher delivers in real time to the fake Slack (pace and retry timers need real "
        "seconds); planning runs on FakeClock(T0), in the past, so every planned message is due",
    ),
    "tests/alerts/test_receivers.py": (
        1,
        "the dispatcher delivers in real time to live webhook receivers; planning runs on "
        "FakeClock(T0), in the past, so every planned message is due",
    ),
    "tests/alerts/test_cli.py": (
        1,
        "`vitals alerts run --once` evaluates at the real time (a service loop, no --now): the "
        "evaluation must be fresh; the config has no time intervals, so no answer depends on the hour",
    ),
}

#: Test file -> why it runs ``vitals simulate``/``vitals demo`` on the real clock.
ALLOWED_LIVE_COMMANDS: dict[str, str] = {
    "tests/simulator/test_demo.py": (
        "`vitals demo` runs the SLA engine and alerting live in `vitals serve`, so its history must "
        "end at the real now; the tests assert only what holds at any hour (every back-filled span "
        "is stored, the lifecycle, the banner's incidents)"
    ),
}


def _modules() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "artifacts" not in p.parts)


def _name(node: ast.expr) -> str | None:
    """The last name of ``time`` / ``datetime.datetime`` / ``dt.date``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def clock_reads(tree: ast.AST) -> list[int]:
    """Lines that read the wall clock (``time.time``, ``datetime.now(...)``, ``from time import time``)."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and (_name(node.value), node.attr) in WALL_CLOCK:
            lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module in ("time", "datetime"):
            for alias in node.names:
                if (node.module, alias.name) in WALL_CLOCK:
                    lines.append(node.lineno)
    return sorted(lines)


def _constants(tree: ast.Module) -> dict[str, list[ast.expr]]:
    """Module-level ``NAME = [...]`` lists, which a command may splice in with ``*NAME``."""
    found: dict[str, list[ast.expr]] = {}
    for stmt in tree.body:
        target = stmt.targets[0] if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 else None
        if isinstance(stmt, ast.AnnAssign):
            target = stmt.target
        value = stmt.value if isinstance(stmt, ast.Assign | ast.AnnAssign) else None
        if isinstance(target, ast.Name) and isinstance(value, ast.List | ast.Tuple):
            found[target.id] = list(value.elts)
    return found


def unpinned_commands(tree: ast.Module) -> list[int]:
    """Lines of ``[..., "vitals", "simulate" | "demo", ...]`` argument lists without ``--now``."""
    spliced = _constants(tree)

    def words(elements: list[ast.expr]) -> list[object]:
        out: list[object] = []
        for e in elements:
            if isinstance(e, ast.Constant):
                out.append(e.value)
            elif isinstance(e, ast.Starred) and isinstance(e.value, ast.Name):
                out += words(spliced.get(e.value.id, []))
        return out

    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.List | ast.Tuple):
            continue
        argv = words(list(node.elts))
        commands = {argv[i + 1] for i, word in enumerate(argv[:-1]) if word == "vitals"}
        if commands & {"simulate", "demo"} and "--now" not in argv:
            lines.append(node.lineno)
    return lines


def _parsed() -> list[tuple[str, ast.Module]]:
    return [(p.relative_to(ROOT).as_posix(), ast.parse(p.read_text(), str(p))) for p in _modules()]


def test_no_test_reads_the_wall_clock_without_a_reason() -> None:
    found = {path: lines for path, tree in _parsed() if (lines := clock_reads(tree))}
    unexpected = {
        path: lines for path, lines in found.items() if len(lines) > ALLOWED_CLOCK_READS.get(path, (0, ""))[0]
    }
    assert not unexpected, (
        f"wall-clock reads in tests (file: lines): {unexpected}. Fix `now` instead (a constant instant, "
        "a FakeClock, `--now` for commands, VITALS_DASHBOARD_NOW for pages); if a live server truly "
        "needs the real time, add the file to ALLOWED_CLOCK_READS with the reason nothing asserted "
        "depends on the hour."
    )
    stale = {path for path, (count, _) in ALLOWED_CLOCK_READS.items() if len(found.get(path, [])) < count}
    assert not stale, f"allowed more wall-clock reads than these files make; lower the counts: {stale}"


def test_every_simulated_history_fixes_its_now() -> None:
    found = {path: lines for path, tree in _parsed() if (lines := unpinned_commands(tree))}
    unexpected = {path: lines for path, lines in found.items() if path not in ALLOWED_LIVE_COMMANDS}
    assert not unexpected, (
        f"`vitals simulate`/`vitals demo` without --now (file: lines): {unexpected}; give --now and --seed"
    )
    assert set(ALLOWED_LIVE_COMMANDS) <= set(found), "an allowed live command is gone: drop its entry"


@pytest.mark.parametrize(
    ("source", "reads", "unpinned"),
    [
        ("import time\nt = time.time()", 1, 0),
        ("import time\nclock = time.time_ns", 1, 0),
        ("from datetime import datetime\nd = datetime.now(UTC)", 1, 0),
        ("import datetime\nd = datetime.datetime.utcnow()", 1, 0),
        ("from datetime import date\nd = date.today()", 1, 0),
        ("from time import time", 1, 0),
        ("import time\nd = time.monotonic() + 5", 0, 0),
        ("argv = [sys.executable, '-m', 'vitals', 'simulate', '--days', '1']", 0, 1),
        ("argv = ['vitals', 'demo']", 0, 1),
        ("argv = ['vitals', 'simulate', '--seed', '7', '--now', '2026-03-11T14:00:00Z']", 0, 0),
        ("FIXED = ['--now', 'x']\nargv = ['vitals', 'simulate', *FIXED]", 0, 0),
        ("argv = ['vitals', 'serve', '--db', 'x']", 0, 0),
    ],
)
def test_the_guard_sees_what_it_guards_against(source: str, reads: int, unpinned: int) -> None:
    tree = ast.parse(source)
    assert (len(clock_reads(tree)), len(unpinned_commands(tree))) == (reads, unpinned)


def test_allow_lists_name_existing_files_with_reasons() -> None:
    for path, reason in [
        *((p, r) for p, (_, r) in ALLOWED_CLOCK_READS.items()),
        *ALLOWED_LIVE_COMMANDS.items(),
    ]:
        assert (ROOT / path).is_file(), path
        assert len(reason) > 40, path
