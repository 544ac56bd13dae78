"""The SQL token store and audit log on SQLite and PostgreSQL, and the move of alert_audit."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

import access.audit
from access.audit import SqlAuditLog
from access.model import AuditEntry, Principal
from access.tables import api_tokens, audit_log
from access.tokens import DuplicateToken, SqlTokenStore, UnknownToken, hash_secret
from vitals.kernel.db import create_engine, migrate

T0 = 1_780_000_000.0


def test_tokens_round_trip_as_hashes(engine: Engine) -> None:
    store = SqlTokenStore(engine)
    assert not store.any_created()
    audit = AuditEntry(T0, "ann", "token.create", "token:ci", "cli", detail={"scopes": ["read", "write"]})
    info, secret = store.create("ci", frozenset({"write", "read"}), now=T0, expires_at=T0 + 3600, audit=audit)
    assert (info.name, info.scopes, info.expires_at) == ("ci", frozenset({"read", "write"}), T0 + 3600)
    with engine.connect() as conn:
        row = conn.execute(api_tokens.select()).one()
    assert row.secret_sha256 == hash_secret(secret) and secret not in str(tuple(row))
    assert row.prefix == secret[:9] and row.scopes == ["read", "write"]
    assert store.authenticate(secret, now=T0 + 1) == Principal("ci", frozenset({"read", "write"}))
    assert store.authenticate(secret, now=T0 + 3600) is None  # expired
    assert store.authenticate("vt_guess", now=T0 + 1) is None
    assert store.list()[0].last_used_at == T0 + 1
    assert store.any_active(T0 + 1) and not store.any_active(T0 + 3600)
    assert store.any_created()  # expired, still created: authentication stays on
    (entry,) = SqlAuditLog(engine).query()
    assert (entry.actor, entry.action, entry.detail) == ("ann", "token.create", {"scopes": ["read", "write"]})


def test_duplicates_and_unknown_names_are_errors_and_leave_no_audit(engine: Engine) -> None:
    store = SqlTokenStore(engine)
    store.create("ci", frozenset({"read"}), now=T0)
    with pytest.raises(DuplicateToken):
        store.create(
            "ci", frozenset({"read"}), now=T0, audit=AuditEntry(T0, "a", "token.create", "token:ci", "cli")
        )
    with pytest.raises(UnknownToken):
        store.revoke("nope", now=T0, audit=AuditEntry(T0, "a", "token.revoke", "token:nope", "cli"))
    assert SqlAuditLog(engine).query() == []


def test_revocation_is_audited_once(engine: Engine) -> None:
    store = SqlTokenStore(engine)
    _, secret = store.create("lab", frozenset({"ingest"}), now=T0)
    for at in (T0 + 5, T0 + 9):
        info = store.revoke("lab", now=at, audit=AuditEntry(at, "bob", "token.revoke", "token:lab", "cli"))
        assert info.revoked_at == T0 + 5
    assert store.authenticate(secret, now=T0 + 6) is None
    assert [e.at for e in SqlAuditLog(engine).query(action="token.revoke")] == [T0 + 5]
    assert store.active_digests(T0 + 6) == {}


def test_the_audit_log_queries_and_commits_with_the_callers_transaction(engine: Engine) -> None:
    log = SqlAuditLog(engine)
    for i, actor in enumerate(["ann", "bob", "ann"]):
        log.record(
            AuditEntry(T0 + i, actor, "acknowledge", f"alert:{i}", "api", remote="10.0.0.7", detail={"i": i})
        )
    assert [e.target for e in log.query(actor="ann")] == ["alert:2", "alert:0"]
    assert [e.target for e in log.query(since=T0 + 1, until=T0 + 2)] == ["alert:1"]
    assert log.query(limit=1)[0].remote == "10.0.0.7"
    with pytest.raises(RuntimeError), engine.begin() as conn:
        access.audit.append(conn, [AuditEntry(T0 + 9, "eve", "acknowledge", "alert:9", "api")])
        raise RuntimeError("the change failed")
    assert log.query(actor="eve") == []


def test_alert_audit_rows_move_into_the_audit_log(store_url: str) -> None:
    from alembic import command

    from vitals.kernel.db import _alembic_config

    engine = create_engine(store_url)
    try:
        with engine.begin() as conn:
            command.upgrade(_alembic_config(conn), "a0005")
            for i in range(3):
                conn.execute(
                    text(
                        "INSERT INTO alert_audit (at_unix_nano, actor, action, target, source, detail) "
                        "VALUES (:at, :actor, 'acknowledge', :target, 'slack', :detail)"
                    ),
                    {
                        "at": int((T0 + i) * 1e9),
                        "actor": f"u{i}",
                        "target": f"alert:{i}",
                        "detail": f'{{"n": {i}}}',
                    },
                )
        migrate(engine)
        assert "alert_audit" not in inspect(engine).get_table_names()
        entries = SqlAuditLog(engine).query()
        assert [(e.actor, e.target, e.at, e.detail, e.remote) for e in entries] == [
            (f"u{i}", f"alert:{i}", T0 + i, {"n": i}, "") for i in (2, 1, 0)
        ]
        # New rows are numbered after the copied ones (PostgreSQL's identity was not bypassed).
        SqlAuditLog(engine).record(AuditEntry(T0 + 9, "ann", "token.create", "token:x", "cli"))
        assert SqlAuditLog(engine).query(limit=1)[0].id == 4
        with engine.begin() as conn:
            command.downgrade(_alembic_config(conn), "a0005")
        with engine.connect() as conn:
            back = conn.execute(text("SELECT actor FROM alert_audit ORDER BY id")).scalars().all()
        assert back == ["u0", "u1", "u2"]  # the token's row stays with access
    finally:
        engine.dispose()


def test_the_tables_are_documented() -> None:
    from pathlib import Path

    reference = (Path(__file__).resolve().parents[2] / "docs" / "reference" / "store.md").read_text()
    for table in (api_tokens, audit_log):
        assert f"`{table.name}`" in reference
        for column in table.columns:
            assert f"`{column.name}`" in reference, (
                f"{table.name}.{column.name} is not in the store reference"
            )
