"""The Alerts page over the real alerting engine and API: list, acknowledge, silence, audit."""

from __future__ import annotations

import re
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from alerts import api
from alerts import config as alerts_config
from alerts.engine import AlertEngine
from alerts.sqlstore import SqlStore
from tests.dashboards.conftest import Store, no_exceptions, open_page, texts


def fire(store: Store) -> list[api.AlertInfo]:
    """Let the alerting engine turn the estate's SLA evaluations into alerts, at the estate's now."""
    engine = AlertEngine(
        SqlStore(store.engine),
        lambda: alerts_config.load_for(store.config_dir),
        clock=lambda: store.estate.now_s,
    )
    engine.evaluate()
    return api.list_alerts(store.engine)


def table(at: AppTest, key: str) -> Any:
    block: Any = at.get_by_key(f"table-{key}")
    return block.dataframe[0].value


def submit(at: AppTest, label: str) -> AppTest:
    button = next(b for b in at.form_submit_button if b.label == label)
    button.click()
    return at.run()


def test_open_alerts_are_listed_with_priority_owner_duration_and_evidence(
    store: Store, app_env: pytest.MonkeyPatch
) -> None:
    alerts = fire(store)
    assert alerts, "the estate's breaching SLAs must fire"
    at = open_page(app_env, store.url, store.config_dir, "alerts")
    no_exceptions(at)
    # no planning step has run: no incident holds them yet, they are in the not-grouped bucket
    shown = table(at, "incident-not-grouped")
    assert sorted(shown["id"]) == sorted(a.id for a in alerts)
    first = shown.iloc[0]
    assert first["priority"] == "P1"
    assert first["state"] == "✖ firing"
    assert first["evidence"].startswith("sla?") and "sla=" in first["evidence"]
    # how long each has been open, e.g. "38 s", "12m 05s", "1d 4h", "1d"
    assert all(re.fullmatch(r"\d+(\.\d)? m?s|\d+[mhd] \d+[smh]|\d+d", d) for d in shown["duration"])
    assert "✖ firing alerts: " + str(len(alerts)) in texts(at)
    assert "✖ firing incidents: 0" in texts(at)


def test_acknowledge_from_the_dashboard_is_audited(sqlite_store: Store, app_env: pytest.MonkeyPatch) -> None:
    alerts = fire(sqlite_store)
    target = alerts[0]
    at = open_page(app_env, sqlite_store.url, sqlite_store.config_dir, "alerts")
    at.selectbox[0].set_value(target.id)
    at.text_input(key="ack.by").input("alice")
    next(t for t in at.text_input if t.label == "Comment").input("restarting the ERP connector")
    at = submit(at, "Acknowledge")
    no_exceptions(at)
    assert any("Acknowledged #" in str(s.value) for s in at.success)
    info = api.get_alert(sqlite_store.engine, target.id)
    assert info is not None and info.state == "acknowledged" and info.acknowledged_by == "alice"
    entries = api.audit_log(sqlite_store.engine)
    assert any(e.action == "acknowledge" and e.actor == "alice" and e.source == "dashboard" for e in entries)
    assert "acknowledge" in list(table(at, "audit")["action"])


def test_acknowledge_without_a_name_is_refused(sqlite_store: Store, app_env: pytest.MonkeyPatch) -> None:
    alerts = fire(sqlite_store)
    at = open_page(app_env, sqlite_store.url, sqlite_store.config_dir, "alerts")
    at = submit(at, "Acknowledge")
    assert any("Give your name" in str(e.value) for e in at.error)
    assert all(a.state == "firing" for a in api.list_alerts(sqlite_store.engine) if a.id == alerts[0].id)


def test_create_and_expire_a_silence(sqlite_store: Store, app_env: pytest.MonkeyPatch) -> None:
    fire(sqlite_store)
    at = open_page(app_env, sqlite_store.url, sqlite_store.config_dir, "alerts")
    next(t for t in at.text_input if t.label == "Matchers").input('sla="gl-posting-errors"')
    next(t for t in at.text_input if t.label == "Comment (required)").input("ERP maintenance")
    at.text_input(key="silence.by").input("bob")
    at = submit(at, "Create silence")
    no_exceptions(at)
    (silence,) = api.list_silences(sqlite_store.engine)
    assert silence.matchers == ('sla="gl-posting-errors"',) and silence.created_by == "bob"
    assert silence.status == "active"
    assert list(table(at, "silences")["id"]) == [silence.id]
    at.text_input(key="expire.by").input("carol")
    at = submit(at, "Expire now")
    no_exceptions(at)
    assert api.list_silences(sqlite_store.engine) == []
    actions = [(e.action, e.actor) for e in api.audit_log(sqlite_store.engine)]
    assert ("silence.create", "bob") in actions and ("silence.expire", "carol") in actions


def test_an_invalid_silence_shows_the_reason(sqlite_store: Store, app_env: pytest.MonkeyPatch) -> None:
    at = open_page(app_env, sqlite_store.url, sqlite_store.config_dir, "alerts")
    next(t for t in at.text_input if t.label == "Matchers").input("sla=~(")
    next(t for t in at.text_input if t.label == "Comment (required)").input("x")
    at.text_input(key="silence.by").input("bob")
    at = submit(at, "Create silence")
    no_exceptions(at)
    assert any("Not silenced" in str(e.value) for e in at.error)
    assert api.list_silences(sqlite_store.engine) == []


def test_a_failing_alerting_import_is_shown_as_the_error_it_is(
    sqlite_store: Store, app_env: pytest.MonkeyPatch
) -> None:
    """Alerting is part of every install: a broken import (say, a file half-way through an
    edit) must show its error, never pass for "alerting is not installed"."""
    import sys

    import alerts

    app_env.delattr(alerts, "api")
    app_env.setitem(sys.modules, "alerts.api", None)  # importing it now raises ImportError
    at = open_page(app_env, sqlite_store.url, sqlite_store.config_dir, "alerts")
    assert at.exception, texts(at)
    assert any("alerts.api" in str(e.value) for e in at.exception)
    assert "not installed" not in texts(at)
