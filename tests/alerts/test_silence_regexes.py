"""Regexes posted through the HTTP API and the command line: RE2's answers, RE2's refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.engine import Engine

from alerts.cli import alerts as alerts_cli
from alerts.sqlstore import SqlStore
from tests.alerts.factories import evaluation as make_evaluation
from tests.alerts.factories import insert_evaluations
from tests.alerts.test_http import CONFIG, SECRET, Served, serving
from vitals.kernel.db import create_engine

pytestmark = pytest.mark.e2e

#: The longest SLA id the SLA file format allows, all "a" but its last character: the worst
#: case for the nested quantifiers below under a backtracking engine (Python's re would take
#: about 2**127 steps); RE2 answers in one pass.
LONG_SLA = "a" * 127 + "z"


@pytest.fixture
def served(engine: Engine, tmp_path: Path) -> Iterator[Served]:
    (tmp_path / "alerts.yaml").write_text(CONFIG)
    with serving(engine, tmp_path, {"VITALS_SLACK_SIGNING_SECRET": SECRET}) as running:
        yield running


def post_silence(served: Served, *matchers: str) -> tuple[int, dict[str, object]]:
    body = {"matchers": list(matchers), "duration": "2h", "created_by": "ivy", "comment": "regex test"}
    status, answer = served.server.request("POST", "/api/v1/silences", json.dumps(body).encode())
    assert isinstance(answer, dict)
    return status, answer


@pytest.mark.parametrize(
    ("matcher", "reason"),
    [
        (r'sla=~"(a)\\1"', r"invalid escape sequence: \1"),
        ('sla=~"gl(?=-posting)"', "invalid perl operator: (?="),
        ('sla=~"(?<!x)gl"', "invalid perl operator: (?<"),
    ],
)
def test_perl_only_regexes_are_a_400_with_the_reason(
    served: Served, engine: Engine, matcher: str, reason: str
) -> None:
    status, answer = post_silence(served, matcher)
    assert status == 400
    assert "invalid regular expression" in str(answer["error"]) and reason in str(answer["error"])
    assert SqlStore(engine).silences(served.clock.now) == []


def test_adversarial_regexes_are_accepted_and_answered_in_linear_time(served: Served, engine: Engine) -> None:
    insert_evaluations(engine, [make_evaluation(sla_id=LONG_SLA, at=served.clock.now)])
    served.alerts.cycle()
    (alert,) = SqlStore(engine).open_alerts()
    assert alert.labels["sla"] == LONG_SLA
    status, never = post_silence(served, 'sla=~"(a+)+$"')  # "z" at the end: no match
    assert status == 201
    status, nested = post_silence(served, 'sla=~"(a|aa)+(a+)+z"')  # matches
    assert status == 201
    served.alerts.cycle()  # applies both silences to the alert
    (alert,) = SqlStore(engine).open_alerts()
    assert alert.suppressed_by == (f"silence:{nested['id']}",)
    assert never["id"] != nested["id"]


def test_the_command_line_refuses_a_backreference(tmp_path: Path) -> None:
    (tmp_path / "alerts.yaml").write_text(CONFIG)
    # a store of its own: the command opens (and, as a process, never closes) its engine
    store = f"sqlite:///{tmp_path / 'vitals.db'}"
    result = CliRunner().invoke(
        alerts_cli,
        ["silence", "add", r'sla=~"(a)\1"', "-c", "why", "--db", store, "--config", str(tmp_path)],
    )
    assert result.exit_code != 0
    assert "invalid regular expression '(a)\\\\1': invalid escape sequence: \\1" in result.output
    engine = create_engine(store)
    try:
        assert SqlStore(engine).silences(0.0, include_expired=True) == []
    finally:
        engine.dispose()
