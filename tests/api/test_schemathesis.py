"""schemathesis against the served OpenAPI document: no 5xx, every response as its schema says.

The API runs on uvicorn over a SQLite store holding an alert, an incident and a silence, with no
token (anonymous, every scope), so every operation is reached. A few dozen examples per
operation: the whole run takes well under a minute.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from alerts import service
from tests.alerts.factories import T0, insert_evaluations
from tests.alerts.factories import evaluation as make_evaluation
from tests.alerts.harness import FakeClock
from tests.api.support import serve_api
from tests.support.sla_files import GL
from vitals.kernel.db import create_engine, migrate

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

ALERTS = """
route:
  receiver: console
  group_by: [sla, slice]
  group_wait: 0s
receivers:
  - name: console
    console_configs: [{}]
alerting:
  objective_alerts: false
"""
#: Examples per operation and generation mode (valid requests, then invalid ones).
EXAMPLES = 8
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]


@pytest.fixture
def api_schema(tmp_path: Path) -> Iterator[BaseSchema]:
    (tmp_path / "slas").mkdir()
    (tmp_path / "slas" / "gl.yaml").write_text(GL)
    (tmp_path / "alerts.yaml").write_text(ALERTS)
    engine = create_engine(f"sqlite:///{tmp_path / 'vitals.db'}")
    try:
        migrate(engine)
        clock = FakeClock(T0)
        insert_evaluations(engine, [make_evaluation(at=T0)])
        alerts = service.AlertsService(engine, tmp_path, clock=clock, environ={})
        alerts.cycle()  # an alert and its incident
        with serve_api(engine, tmp_path, clock, sql=True, alerts_config=alerts.config) as api:
            yield schemathesis.openapi.from_url(f"{api.base_url}/api/v1/openapi.json")
    finally:
        engine.dispose()


def test_the_api_answers_as_its_openapi_document_says(api_schema: BaseSchema) -> None:
    operations = []
    for result in api_schema.get_all_operations():
        assert isinstance(result, Ok), result
        operations.append(result.ok())
    assert len(operations) >= 14
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def check(case: Case[Any]) -> None:
                case.call_and_validate(checks=CHECKS)

            check()
