"""The API on uvicorn over real sockets: scopes (401/403), audit rows, masked secrets, SLA status
and history, and a client's bad values answered with a 4xx. The clock is fixed (T0)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.engine import Engine

from access.audit import SqlAuditLog
from tests.alerts.factories import T0, insert_evaluations
from tests.alerts.factories import evaluation as make_evaluation
from tests.alerts.harness import FakeClock
from tests.api.support import ServedApi, serve_api
from tests.support.sla_files import GL
from vitals.shell.cli import main
from vitals.shell.serve import dashboard_document

pytestmark = pytest.mark.e2e

HASH_SECRET = "h" * 40
SLACK_URL = "https://hooks.slack.invalid/services/T000/B000/not-to-be-shown"
ALERTS = f"""
global:
  slack_api_url: {{env: SLACK_URL_FOR_TESTS}}
route:
  receiver: console
receivers:
  - name: console
    console_configs: [{{}}]
  - name: team
    slack_configs:
      - channel: "#finance"
        api_url: {SLACK_URL}
"""
PASSWORD_HASH = "$2b$12$" + "H" * 53  # a bcrypt hash's shape
CLIENT_SECRET = "oidc-client-secret-not-to-be-shown"
DASHBOARD = f"""
users:
  - {{username: ada, role: admin, password_hash: "{PASSWORD_HASH}"}}
  - {{username: bob, role: engineer, password_hash: {{env: BOB_HASH}}}}
oidc:
  provider: hospital
  role_claim: groups
  claim_roles: {{sla-admins: admin}}
  default_role: executive
"""
SILENCE = {"matchers": ['sla="gl-posting-errors"'], "duration": "2h", "comment": "vendor upgrade"}


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    (tmp_path / "slas").mkdir()
    (tmp_path / "slas" / "gl.yaml").write_text(GL)
    (tmp_path / "alerts.yaml").write_text(ALERTS)
    (tmp_path / "collector.yaml").write_text(f"redaction:\n  hash_secret: {{value: {HASH_SECRET}}}\n")
    (tmp_path / "dashboard.yaml").write_text(DASHBOARD)
    # The OIDC client's secrets live beside it, for Streamlit: never part of the answer.
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text(
        f'[auth.hospital]\nclient_id = "vitals"\nclient_secret = "{CLIENT_SECRET}"\n'
    )
    return tmp_path


@pytest.fixture
def api(sqlite_engine: Engine, config_dir: Path) -> Iterator[ServedApi]:
    with serve_api(
        sqlite_engine,
        config_dir,
        FakeClock(T0),
        sql=True,
        environ={"SLACK_URL_FOR_TESTS": SLACK_URL},
        config_documents={"dashboard.yaml": dashboard_document},  # as vitals serve passes it
    ) as served:
        yield served


def status_of(api: ServedApi, method: str, path: str, token: str | None, body: object = None) -> int:
    with api.client(token) as client:
        return client.request(method, path, json=body).status_code


def test_without_any_token_every_request_is_anonymous(api: ServedApi) -> None:
    for path in ("/api/v1/slas", "/api/v1/alerts", "/api/v1/audit", "/api/v1/config"):
        assert status_of(api, "GET", path, None) == 200, path


#: (method, path, body, scope needed)
OPERATIONS = [
    ("GET", "/api/v1/slas", None, "read"),
    ("GET", "/api/v1/slas/gl-posting-errors", None, "read"),
    ("GET", "/api/v1/incidents", None, "read"),
    ("GET", "/api/v1/alerts", None, "read"),
    ("GET", "/api/v1/silences", None, "read"),
    ("GET", "/api/v1/outbox", None, "read"),
    ("POST", "/api/v1/silences", SILENCE, "write"),
    ("GET", "/api/v1/audit", None, "admin"),
    ("GET", "/api/v1/config", None, "admin"),
]
ALLOWED = {
    "ingest": set(),
    "read": {"read"},
    "write": {"read", "write"},
    "admin": {"read", "write", "admin"},
}


def test_each_scope_is_allowed_exactly_what_it_covers(api: ServedApi) -> None:
    tokens = {scope: api.token(f"t-{scope}", scope) for scope in ALLOWED}  # type: ignore[arg-type]
    for method, path, body, needed in OPERATIONS:
        assert status_of(api, method, path, None, body) == 401, path
        assert status_of(api, method, path, "vt_not-a-token", body) == 401, path
        for scope, secret in tokens.items():
            got = status_of(api, method, path, secret, body)
            want = {200, 201} if needed in ALLOWED[scope] else {403}
            assert got in want, (scope, method, path, got)


def test_revoked_and_expired_tokens_are_refused(api: ServedApi) -> None:
    api.token("active", "read")  # while none is active, requests are anonymous
    revoked = api.token("gone", "read")
    api.tokens.revoke("gone", now=T0)
    _, expired = api.tokens.create("old", frozenset({"read"}), now=T0 - 100, expires_at=T0 - 1)
    with api.client(revoked) as client:
        answer = client.get("/api/v1/alerts")
    assert answer.status_code == 401 and answer.headers["www-authenticate"].startswith("Bearer")
    assert "not valid" in answer.json()["error"]
    assert status_of(api, "GET", "/api/v1/alerts", expired) == 401
    with api.client(api.token("reader", "read")) as client:
        refused = client.delete("/api/v1/silences/1")
    assert refused.status_code == 403 and "lacks the write scope" in refused.json()["error"]


def test_every_write_is_audited_once_with_the_token_and_address(
    api: ServedApi, sqlite_engine: Engine, sqlite_url: str
) -> None:
    insert_evaluations(sqlite_engine, [make_evaluation(at=T0)])
    with api.client(api.token("ci-bot", "write")) as client:
        created = client.post("/api/v1/silences", json=SILENCE)
        assert created.status_code == 201
        sid = created.json()["id"]
        assert client.delete(f"/api/v1/silences/{sid}").status_code == 200
        assert client.delete(f"/api/v1/silences/{sid}").status_code == 400  # expired already
        assert (
            client.post("/api/v1/silences", json={**SILENCE, "matchers": ["not a matcher"]}).status_code
            == 400
        )
    entries = SqlAuditLog(sqlite_engine).query(limit=100)
    assert [(e.action, e.target, e.actor, e.source, e.remote) for e in entries] == [
        ("silence.expire", f"silence:{sid}", "ci-bot", "api", "127.0.0.1"),
        ("silence.create", f"silence:{sid}", "ci-bot", "api", "127.0.0.1"),
    ]
    # the address is in the remote column, not in the detail, and vitals audit shows it
    assert all("remote" not in e.detail for e in entries)
    at = datetime.fromtimestamp(T0, tz=UTC).isoformat()
    shown = CliRunner().invoke(main, ["audit", "--db", sqlite_url, "--actor", "ci-bot", "--now", at])
    assert shown.exit_code == 0, shown.output
    assert shown.output.count("(api from 127.0.0.1)") == 2, shown.output
    with api.client(api.token("auditor", "admin")) as client:
        listed = client.get("/api/v1/audit", params={"actor": "ci-bot"}).json()["audit"]
    assert [(a["action"], a["remote"]) for a in listed] == [
        ("silence.expire", "127.0.0.1"),
        ("silence.create", "127.0.0.1"),
    ]
    assert "remote" not in listed[0]["detail"]


def test_the_audit_log_cannot_be_changed_through_the_api(api: ServedApi) -> None:
    document = api.request("GET", "/api/v1/openapi.json")[1]
    assert set(document["paths"]["/api/v1/audit"]) == {"get"}
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        status, answer = api.request(method, "/api/v1/audit", b"{}")
        assert status == 405 and answer["error"]


def test_the_config_is_shown_with_every_secret_masked(api: ServedApi) -> None:
    with api.client() as client:
        answer = client.get("/api/v1/config")
    assert answer.status_code == 200
    text = answer.text
    assert HASH_SECRET not in text and SLACK_URL not in text and "not-to-be-shown" not in text
    files = {f["file"]: f for f in answer.json()["files"]}
    assert files["collector.yaml"]["content"]["redaction"]["hash_secret"] == {"secret": "inline value"}
    alerts = files["alerts.yaml"]["content"]
    assert alerts["global"]["slack_api_url"] == {"secret": "environment variable SLACK_URL_FOR_TESTS"}
    (team,) = [r for r in alerts["receivers"] if r["name"] == "team"]
    assert team["slack_configs"][0]["api_url"] == {"secret": "inline value"}
    (sla,) = files["slas/"]["content"]
    assert sla["id"] == "gl-posting-errors" and files["slas/"]["error"] is None
    # dashboard.yaml, handed over by the shell: password hashes masked, OIDC as its role rules
    # only (the client's secrets stay in .streamlit/secrets.toml, which is never read)
    assert PASSWORD_HASH not in text and "$2b$" not in text and CLIENT_SECRET not in text
    dashboard = files["dashboard.yaml"]
    assert dashboard["error"] is None
    ada, bob = dashboard["content"]["users"]
    assert (ada["username"], ada["password_hash"]) == ("ada", {"secret": "inline value"})
    assert bob["password_hash"] == {"secret": "environment variable BOB_HASH"}
    assert dashboard["content"]["oidc"] == {
        "provider": "hospital",
        "role_claim": "groups",
        "claim_roles": {"sla-admins": "admin"},
        "roles": {},
        "default_role": "executive",
    }
    assert "client_secret" not in text and "secrets.toml" not in text


def test_a_broken_dashboard_yaml_is_its_error_without_the_hash(api: ServedApi, config_dir: Path) -> None:
    (config_dir / "dashboard.yaml").write_text(DASHBOARD.replace("role: engineer", "role: nurse"))
    with api.client() as client:
        answer = client.get("/api/v1/config")
    files = {f["file"]: f for f in answer.json()["files"]}
    error = files["dashboard.yaml"]["error"]
    assert files["dashboard.yaml"]["content"] is None
    assert error.startswith(f"{config_dir / 'dashboard.yaml'}:4: users[1].role:"), error
    assert PASSWORD_HASH not in answer.text


def test_sla_status_and_history(api: ServedApi, sqlite_engine: Engine) -> None:
    insert_evaluations(
        sqlite_engine,
        [
            make_evaluation(at=T0),
            make_evaluation(at=T0, slice="hc.facility=north", labels={"hc.facility": "north"}, firing=False),
        ],
    )
    status, listed = api.request("GET", "/api/v1/slas")
    assert status == 200
    (sla,) = listed["slas"]
    assert sla["id"] == "gl-posting-errors" and sla["status"] == "breach" and sla["priority"] == "P2"
    assert sla["overall"]["evaluated_at"] == "2026-05-28T20:26:40Z"
    assert [(s["slice"], s["status"]) for s in sla["slices"]] == [("hc.facility=north", "ok")]
    assert api.request("GET", "/api/v1/slas/gl-posting-errors")[1] == sla
    status, missing = api.request("GET", "/api/v1/slas/nope")
    assert status == 404 and "nope" in missing["error"]
    status, history = api.request(
        "GET", "/api/v1/slas/gl-posting-errors/history?from=2026-05-28T00:00:00Z&to=2026-05-28T12:00:00Z"
    )
    assert status == 200 and history["from"] == "2026-05-28T00:00:00Z" and history["points"] == []
    assert "not registered" in history["reason"]  # no engine ran over this store
    for query, message in [
        ("from=2026-05-29T00:00:00Z&to=2026-05-28T00:00:00Z", "from must be before to"),
        ("from=2020-01-01T00:00:00Z&to=2026-05-28T00:00:00Z", "at most 400 days"),
        ("from=1960-01-01T00:00:00Z&to=2026-05-28T00:00:00Z", "after 1970"),
    ]:
        status, answer = api.request("GET", f"/api/v1/slas/gl-posting-errors/history?{query}")
        assert status == 400 and message in answer["error"], query
    status, answer = api.request("GET", "/api/v1/slas/gl-posting-errors/history?from=yesterday")
    assert status == 422 and answer["error"].startswith("from: ")


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/api/v1/silences", b"not json", 422),
        ("POST", "/api/v1/silences", b"[]", 422),
        ("POST", "/api/v1/silences", json.dumps({**SILENCE, "extra": 1}).encode(), 422),
        ("POST", "/api/v1/silences", json.dumps({**SILENCE, "comment": "a\x00b"}).encode(), 422),
        ("POST", "/api/v1/silences", json.dumps({**SILENCE, "duration": "soon"}).encode(), 400),
        (
            "POST",
            "/api/v1/silences",
            json.dumps({**SILENCE, "ends_at": "9999-12-31T23:59:59-23:59"}).encode(),
            400,
        ),
        ("GET", "/api/v1/incidents?limit=0", None, 422),
        ("GET", "/api/v1/incidents?resolved=perhaps", None, 422),
        ("GET", "/api/v1/audit?since=not-a-time", None, 422),
        ("GET", "/api/v1/nowhere", None, 404),
    ],
)
def test_bad_values_are_4xx_with_a_message(
    api: ServedApi, method: str, path: str, body: bytes | None, status: int
) -> None:
    got, answer = api.request(method, path, body)
    assert got == status, answer
    assert isinstance(answer["error"], str) and answer["error"]


def test_no_swagger_ui_or_redoc(api: ServedApi) -> None:
    """Both load their scripts from a CDN: Vitals makes no request beyond its own machine."""
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect", "/api/v1/docs"):
        assert api.request("GET", path)[0] == 404
    status, document = api.request("GET", "/api/v1/openapi.json")
    assert status == 200 and document["info"]["title"] == "Vitals API"
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


@pytest.mark.postgres
def test_on_postgresql_tokens_audit_and_alerts(pg_url: str, config_dir: Path) -> None:
    from vitals.kernel.db import create_engine, migrate

    engine = create_engine(pg_url)
    try:
        migrate(engine)
        insert_evaluations(engine, [make_evaluation(at=T0)])
        with serve_api(
            engine, config_dir, FakeClock(T0), sql=True, environ={"SLACK_URL_FOR_TESTS": "x"}
        ) as api:
            secret = api.token("oncall", "write")
            assert status_of(api, "GET", "/api/v1/slas", None) == 401
            with api.client(secret) as client:
                (sla,) = client.get("/api/v1/slas").json()["slas"]
                assert sla["status"] == "breach"
                assert client.post("/api/v1/silences", json=SILENCE).status_code == 201
                assert client.get("/api/v1/silences").json()["silences"][0]["created_by"] == "oncall"
                # a NUL is refused before it reaches PostgreSQL (which cannot store one)
                assert client.get("/api/v1/alerts/a%00b").status_code == 400
                assert client.post("/api/v1/silences", json={**SILENCE, "comment": "\x00"}).status_code == 422
                assert client.get("/api/v1/audit").status_code == 403
            (entry,) = SqlAuditLog(engine).query(action="silence.create")
            assert (entry.actor, entry.source, entry.remote) == ("oncall", "api", "127.0.0.1")
            assert "remote" not in entry.detail
    finally:
        engine.dispose()
