from __future__ import annotations

from vitals.shell.demo import ConsoleFilter


def test_alerts_with_their_details_and_problems_reach_the_console_noise_does_not() -> None:
    keep = ConsoleFilter()
    lines = [
        (
            "2026-11-24 19:30:02,921 INFO alerts.service: alerts: 32 evaluations, events {'cleared': 20}",
            False,
        ),
        (
            "2026-11-24 19:30:04,019 INFO alerts.console: [vitals alert] firing -> oncall: P2 x",
            True,
        ),
        ("  - Implants are decremented ... observed 75.44% vs objective 99.00% over 7d", True),
        ("2026-11-24 19:30:04,887 WARNING apscheduler.scheduler: Execution of job skipped", False),
        ("  - not a continuation of anything shown", False),
        ("2026-11-24 19:10:47,030 WARNING collector.hash_secret: no hash secret configured", False),
        ("2026-11-24 19:10:47,030 WARNING collector.writer: writer queue is 90% full", True),
        ("2026-11-24 19:10:47,030 ERROR collector.http_receiver: boom", True),
        ("Traceback (most recent call last):", True),
        ('  File "x.py", line 1, in <module>', True),
        ("2026-11-24 19:10:47,061 INFO vitals.serve: installed component alerts.service", False),
    ]
    assert [keep(line) for line, _ in lines] == [expected for _, expected in lines]
