"""The Exceptions page (AppTest): groups listed with their figures, actions audited with the user;
executives cannot open it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from access.audit import SqlAuditLog
from dashboards.auth import EXECUTIVE_PAGES, may_open
from exceptions.sqlstore import SqlExceptionStore
from tests.dashboards.conftest import no_exceptions, open_page, texts
from tests.exceptions.support import ALERTS_YAML, T0, failed_charge
from tests.support.factories import insert_spans
from vitals.kernel.db import create_engine, migrate


def test_the_page_lists_groups_and_assigns_with_an_audit_entry(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config"
    (config / "slas").mkdir(parents=True)
    (config / "alerts.yaml").write_text(ALERTS_YAML)
    (config / "exceptions.yaml").write_text(
        "interfaces:\n  - name: charges-to-erp\n    stage: charge.post\n"
        "    labels: {owner: finance-systems}\n"
        "    target: {kind: webhook, url: 'http://127.0.0.1:9/webhook'}\n"
    )
    engine = create_engine(sqlite_url)
    migrate(engine)
    insert_spans(engine, [failed_charge(i, at=T0 + i) for i in range(3)])
    at = open_page(monkeypatch, sqlite_url, config, "scorecard", now_s=T0 + 3600)
    at.switch_page("screens/exceptions.py")
    at.run()
    no_exceptions(at)
    block: Any = at.get_by_key("table-exceptions-groups")
    shown = block.dataframe[0].value
    assert list(shown["failed"]) == [3] and list(shown["team"]) == ["finance-systems"]
    assert list(shown["message"]) == ["ERP rejected charge <n>: GL account <value> closed"]
    at.radio[0].set_value("assign")
    at.text_input[0].set_value("bob")
    at.text_input[1].set_value("on it")
    at.text_input[2].set_value("dana")  # no login configured: the page asks for a name
    next(b for b in at.form_submit_button if b.label == "Apply").click()
    at.run()
    no_exceptions(at)
    assert "is assigned, owner bob" in texts(at)
    (group,) = SqlExceptionStore(engine).groups()
    assert (group.state, group.owner, group.state_by) == ("assigned", "bob", "dana")
    (entry,) = SqlAuditLog(engine).query(action="exception.assign")
    assert (entry.actor, entry.source, entry.detail["comment"]) == ("dana", "dashboard", "on it")
    engine.dispose()


def test_executives_do_not_see_it() -> None:
    assert "exceptions" not in EXECUTIVE_PAGES
    assert not may_open("executive", "exceptions")
    assert may_open("engineer", "exceptions") and may_open("admin", "exceptions")
