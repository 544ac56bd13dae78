"""Sessions: roles from OIDC claims, the role judged on every run, idle and maximum age, the audit.

The rules with plain values first, then in the app under AppTest with the session clock fixed
(``dashboards.ui.session.CLOCK``) and the configuration rewritten between interactions.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError
from streamlit.testing.v1 import AppTest

from access.audit import SqlAuditLog
from access.model import AuditEntry
from dashboards.auth import (
    ActivityBook,
    Login,
    Refused,
    credential_digest,
    hash_password,
    identity_for,
    may_open,
    oidc_login,
    pages_for,
    session_end,
)
from dashboards.config import DashboardConfig, Oidc, User
from dashboards.ui import session
from tests.dashboards.conftest import APP, PAGES, Store, no_exceptions, open_page, texts

HASH = hash_password("pager-duty", rounds=4)
OTHER_HASH = hash_password("new-password", rounds=4)
T0 = 1_790_000_000.0  # the sessions' clock in these tests (Unix seconds)


# --------------------------------------------------------------------------- rules


def groups_oidc(**extra: object) -> Oidc:
    return Oidc.model_validate(
        {
            "role_claim": "groups",
            "claim_roles": {"vitals-exec": "executive", "vitals-eng": "engineer", "vitals-admin": "admin"},
            **extra,
        }
    )


def test_roles_come_from_a_claim_holding_a_list_or_a_string() -> None:
    oidc = groups_oidc()
    assert oidc.role_for_claims({"groups": ["other", "vitals-eng"]}) == "engineer"
    assert oidc.role_for_claims({"groups": "vitals-exec"}) == "executive"
    assert oidc.role_for_claims({"groups": ["other"]}) is None
    assert oidc.role_for_claims({"groups": 7}) is None
    assert oidc.role_for_claims({}) is None
    roles = Oidc.model_validate({"role_claim": "roles", "claim_roles": {"Vitals.Engineer": "engineer"}})
    assert roles.role_for_claims({"roles": ["Vitals.Engineer"]}) == "engineer"
    assert roles.role_for_claims({"roles": ["vitals.engineer"]}) is None  # exact values


def test_the_highest_matching_role_wins() -> None:
    oidc = groups_oidc(roles={"cfo@example.org": "executive", "@example.org": "engineer"})
    assert oidc.role_for_claims({"groups": ["vitals-exec", "vitals-admin"]}) == "admin"
    assert oidc.role_for_claims({"email": "cfo@example.org", "groups": ["vitals-eng"]}) == "engineer"
    assert oidc.role_for_claims({"email": "cfo@example.org"}) == "executive"
    assert oidc.role_for_claims({"email": "dev@Example.org"}) == "engineer"


def test_default_role_only_when_no_rule_matches_and_unverified_emails_do_not_count() -> None:
    oidc = groups_oidc(roles={"@example.org": "engineer"}, default_role="executive")
    assert oidc.role_for_claims({"email": "x@elsewhere.com"}) == "executive"
    assert oidc.role_for_claims({"email": "x@elsewhere.com", "groups": "vitals-admin"}) == "admin"
    assert oidc.role_for_claims({"email": "dev@example.org", "email_verified": False}) == "executive"
    assert oidc.role_for_claims({"email": "dev@example.org", "email_verified": True}) == "engineer"


def test_claim_roles_need_a_claim_and_timeouts_are_positive() -> None:
    with pytest.raises(ValidationError, match="claim_roles needs role_claim"):
        Oidc.model_validate({"claim_roles": {"g": "engineer"}})
    with pytest.raises(ValidationError, match="positive duration"):
        DashboardConfig.model_validate({"session_idle_timeout": "0s"})
    config = DashboardConfig.model_validate({"session_idle_timeout": "15m", "session_max_age": None})
    assert config.session_idle_timeout == 900.0 and config.session_max_age is None
    assert DashboardConfig().session_idle_timeout == 1800.0


def test_admin_sees_every_engineer_page() -> None:
    assert pages_for("admin") == pages_for("engineer")
    assert may_open("admin", "traces") and not may_open("executive", "traces")


def test_a_session_ends_after_its_idle_time_or_its_maximum_age() -> None:
    config = DashboardConfig.model_validate({"session_idle_timeout": "30m", "session_max_age": "12h"})
    assert session_end(config, T0, None, T0) is None
    assert session_end(config, T0, T0, T0 + 1799) is None
    assert "expired after 30m without activity" in str(session_end(config, T0, T0, T0 + 1800))
    assert "more than 12h ago" in str(session_end(config, T0, T0 + 43_000, T0 + 43_200))
    never = DashboardConfig.model_validate({"session_idle_timeout": None, "session_max_age": None})
    assert session_end(never, T0, T0, T0 + 10**9) is None


def test_the_activity_book_remembers_ended_sessions() -> None:
    book = ActivityBook()
    assert book.touch("k", T0) is None
    assert book.touch("k", T0 + 5) == T0 and book.last_seen("k") == T0 + 5
    book.end("k", T0 + 6, "You signed out.")
    assert book.ended("k") == "You signed out." and book.last_seen("k") is None
    assert book.ended("other") is None


def password_config(role: str = "engineer", password_hash: str = HASH) -> DashboardConfig:
    user = {"username": "oncall", "role": role, "password_hash": password_hash}
    return DashboardConfig(users=[User.model_validate(user)])


def test_a_password_session_follows_the_configuration_in_force() -> None:
    login = Login("password", "oncall", "oncall", T0, "k", credential_digest(HASH))
    assert identity_for(password_config(), login).role == "engineer"
    assert identity_for(password_config("executive"), login).role == "executive"  # demoted
    with pytest.raises(Refused, match="no longer exists"):
        identity_for(DashboardConfig(users=[]), login)
    with pytest.raises(Refused, match="password of this user was changed"):
        identity_for(password_config(password_hash=OTHER_HASH), login)


def test_an_oidc_session_follows_the_mapping_in_force() -> None:
    claims = {
        "iss": "http://idp",
        "sub": "u1",
        "email": "dev@example.org",
        "iat": T0,
        "groups": ["vitals-eng"],
    }
    login = oidc_login(claims, T0 + 60)
    assert login.signed_in_at == T0 and login.subject == "dev@example.org"
    assert login.key == oidc_login(claims, T0 + 999).key  # a reloaded tab: the same session
    assert login.key != oidc_login({**claims, "iat": T0 + 1}, T0).key  # a new sign-in
    config = DashboardConfig(oidc=groups_oidc())
    assert identity_for(config, login, claims).role == "engineer"
    demoted = DashboardConfig(oidc=groups_oidc(claim_roles={"vitals-eng": "executive"}))
    assert identity_for(demoted, login, claims).role == "executive"
    with pytest.raises(Refused, match="has no role"):
        identity_for(DashboardConfig(oidc=Oidc()), login, claims)
    assert oidc_login({"sub": "u2"}, T0).subject == "u2"  # no e-mail: the subject


# --------------------------------------------------------------------------- in the app


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    fixed = Clock()
    monkeypatch.setattr(session, "CLOCK", fixed)
    session.activity.clear()
    yield fixed
    session.activity.clear()


def write_users(config_dir: Path, role: str = "engineer", *, present: bool = True, **settings: str) -> None:
    """dashboard.yaml with the oncall user (or none); a new mtime so the app sees the change."""
    path = config_dir / "dashboard.yaml"
    lines = [f"{k}: {v}" for k, v in settings.items()]
    lines.append("users:")
    lines.append(f"  - {{username: cfo, role: executive, password_hash: '{OTHER_HASH}'}}")
    if present:
        lines.append(f"  - {{username: oncall, role: {role}, password_hash: '{HASH}'}}")
    previous = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text("\n".join(lines) + "\n")
    os.utime(path, ns=(previous + 10**9, previous + 10**9))


def sign_in(at: AppTest, username: str = "oncall", password: str = "pager-duty") -> AppTest:
    at.text_input(key="login.username").input(username)
    at.text_input(key="login.password").input(password)
    next(b for b in at.form_submit_button if b.label == "Sign in").click()
    return at.run()


def audit(store: Store) -> list[AuditEntry]:
    return list(reversed(SqlAuditLog(store.engine).query(limit=1000)))


def actions(store: Store) -> list[tuple[str, str, str]]:
    return [(e.actor, e.action, e.target) for e in audit(store)]


def errors(at: AppTest) -> str:
    return "\n".join(str(e.value) for e in [*at.error, *at.warning])


def test_a_demoted_user_loses_the_engineer_pages_at_the_next_interaction(
    sqlite_store: Store, app_env: pytest.MonkeyPatch, clock: Clock
) -> None:
    write_users(sqlite_store.config_dir)
    at = open_page(app_env, sqlite_store.url, sqlite_store.config_dir, "scorecard")
    at = sign_in(at)
    at.switch_page(PAGES["traces"]).run()
    no_exceptions(at)
    assert "Matching spans" in texts(at)
    write_users(sqlite_store.config_dir, "executive")
    clock.now += 10
    at.run()  # the next interaction
    no_exceptions(at)
    assert "The executive role cannot open this page" in errors(at)
    assert "Matching spans" not in texts(at)
    assert "(executive)" in texts(at)
    assert ("oncall", "page.forbidden", "traces") in actions(sqlite_store)


def test_a_removed_user_is_signed_out_at_the_next_interaction(
    sqlite_store: Store, app_env: pytest.MonkeyPatch, clock: Clock
) -> None:
    write_users(sqlite_store.config_dir)
    at = sign_in(open_page(app_env, sqlite_store.url, sqlite_store.config_dir, "scorecard"))
    assert "Signed in as **oncall** (engineer)" in texts(at)
    write_users(sqlite_store.config_dir, present=False)
    at.run()
    no_exceptions(at)
    assert "The user oncall no longer exists" in errors(at)
    assert "Sign in" in texts(at) and not at.metric
    assert ("oncall", "access.refused", "dashboard") in actions(sqlite_store)


def test_an_idle_session_expires_and_says_why(
    sqlite_store: Store, app_env: pytest.MonkeyPatch, clock: Clock
) -> None:
    write_users(sqlite_store.config_dir, session_idle_timeout="10m")
    at = sign_in(open_page(app_env, sqlite_store.url, sqlite_store.config_dir, "scorecard"))
    clock.now += 599
    at.run()
    assert "Signed in as **oncall**" in texts(at)  # active within the idle time
    clock.now += 600
    at.run()
    no_exceptions(at)
    assert "Your session expired after 10m without activity" in errors(at)
    assert not at.metric
    entries = audit(sqlite_store)
    expired = next(e for e in entries if e.action == "session.expired")
    assert expired.actor == "oncall" and expired.source == "dashboard" and expired.at == clock.now
    at = sign_in(at)  # and signing in again works
    assert "Signed in as **oncall**" in texts(at)


def test_logins_failures_sign_outs_and_page_reads_are_audited(
    sqlite_store: Store, app_env: pytest.MonkeyPatch, clock: Clock
) -> None:
    write_users(sqlite_store.config_dir)
    at = open_page(app_env, sqlite_store.url, sqlite_store.config_dir, "scorecard")
    at = sign_in(at, "oncall", "wrong")
    at = sign_in(at)
    at.switch_page(PAGES["traces"]).run()
    at.run()  # the same view again: one read
    at.switch_page(PAGES["sla"]).run()
    at.switch_page(PAGES["scorecard"]).run()  # not a page of bad events or traces
    next(b for b in at.sidebar.button if b.label == "Sign out").click().run()
    no_exceptions(at)
    assert "You signed out." in errors(at)
    assert actions(sqlite_store) == [
        ("oncall", "login.failed", "dashboard"),
        ("oncall", "login", "dashboard"),
        ("oncall", "page.read", "traces"),
        ("oncall", "page.read", "sla"),
        ("oncall", "logout", "dashboard"),
    ]
    read = next(e for e in audit(sqlite_store) if e.target == "sla")
    assert read.detail["role"] == "engineer" and "range" in read.detail["params"]


def oidc_yaml(config_dir: Path, exec_group_role: str = "executive", **settings: str) -> None:
    path = config_dir / "dashboard.yaml"
    lines = [f"{k}: {v}" for k, v in settings.items()]
    lines += [
        "oidc:",
        "  role_claim: groups",
        "  claim_roles:",
        "    vitals-engineers: engineer",
        f"    vitals-executives: {exec_group_role}",
    ]
    previous = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text("\n".join(lines) + "\n")
    os.utime(path, ns=(previous + 10**9, previous + 10**9))


def oidc_app(store: Store, env: pytest.MonkeyPatch, user: dict[str, object]) -> AppTest:
    from dashboards.timerange import ENV_NOW
    from tests.dashboards import estate

    env.setenv("VITALS_DB", store.url)
    env.setenv("VITALS_CONFIG", str(store.config_dir))
    env.setenv(ENV_NOW, estate.page_now(estate.PAGE_NOW_S))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.user = user
    return at.run()


def test_oidc_groups_map_to_roles_and_follow_the_mapping_in_force(
    sqlite_store: Store, app_env: pytest.MonkeyPatch, clock: Clock
) -> None:
    oidc_yaml(sqlite_store.config_dir)
    claims: dict[str, object] = {
        "is_logged_in": True,
        "iss": "http://idp.test",
        "sub": "u-7",
        "email": "dana@example.org",
        "name": "Dana",
        "iat": int(T0),
        "groups": ["staff", "vitals-executives"],
    }
    at = oidc_app(sqlite_store, app_env, claims)
    no_exceptions(at)
    assert "Signed in as **Dana** (executive)" in texts(at)
    at.switch_page(PAGES["traces"]).run()
    assert "The executive role cannot open this page" in errors(at)
    oidc_yaml(sqlite_store.config_dir, exec_group_role="engineer")  # promoted by the mapping
    at.run()
    no_exceptions(at)
    assert "Matching spans" in texts(at)
    assert [a for a in actions(sqlite_store) if a[1] != "page.read"] == [
        ("dana@example.org", "login", "dashboard"),
        ("dana@example.org", "page.forbidden", "traces"),
    ]


def test_an_oidc_session_expires_for_good_after_its_idle_time(
    sqlite_store: Store, app_env: pytest.MonkeyPatch, clock: Clock
) -> None:
    oidc_yaml(sqlite_store.config_dir, session_idle_timeout="5m")
    claims: dict[str, object] = {
        "is_logged_in": True,
        "iss": "http://idp.test",
        "sub": "u-8",
        "email": "eng@example.org",
        "iat": int(T0),
        "groups": "vitals-engineers",
    }
    at = oidc_app(sqlite_store, app_env, claims)
    assert "(engineer)" in texts(at)
    clock.now += 301
    at.run()
    assert "Your session expired after 5m without activity" in errors(at)
    assert any(b.label == "Sign in again" for b in at.button)
    # The identity cookie outlives the tab: a new tab with it is still signed out.
    again = oidc_app(sqlite_store, app_env, claims)
    assert "Your session expired" in errors(again) and not again.metric
    # A new sign-in (a new ID token) is a new session.
    fresh = oidc_app(sqlite_store, app_env, {**claims, "iat": int(clock.now)})
    assert "(engineer)" in texts(fresh)


def test_an_oidc_user_without_a_role_is_refused(
    sqlite_store: Store, app_env: pytest.MonkeyPatch, clock: Clock
) -> None:
    oidc_yaml(sqlite_store.config_dir)
    at = oidc_app(
        sqlite_store,
        app_env,
        {"is_logged_in": True, "sub": "u-9", "email": "x@elsewhere.com", "iat": int(T0), "groups": []},
    )
    no_exceptions(at)
    assert "x@elsewhere.com has no role" in errors(at)
    assert not at.metric
    assert ("x@elsewhere.com", "access.refused", "dashboard") in actions(sqlite_store)


def test_a_session_ends_at_its_maximum_age_however_active(
    sqlite_store: Store, app_env: pytest.MonkeyPatch, clock: Clock
) -> None:
    write_users(sqlite_store.config_dir, session_idle_timeout="10m", session_max_age="1h")
    at = sign_in(open_page(app_env, sqlite_store.url, sqlite_store.config_dir, "scorecard"))
    for _ in range(6):
        clock.now += 590
        at.run()
        assert "Signed in as **oncall**" in texts(at)
    clock.now += 590
    at.run()
    assert "you signed in more than 1h ago" in errors(at)


def test_vitals_dashboard_finds_the_oidc_client_in_secrets_toml(tmp_path: Path) -> None:
    from dashboards.cli import oidc_secrets_found

    run_dir, home = tmp_path / "run", tmp_path / "home"
    assert not oidc_secrets_found(run_dir, home)
    (home / ".streamlit").mkdir(parents=True)
    (home / ".streamlit" / "secrets.toml").write_text('db = "x"\n')
    assert not oidc_secrets_found(run_dir, home)  # no [auth] section: `vitals dashboard` warns
    (run_dir / ".streamlit").mkdir(parents=True)
    (run_dir / ".streamlit" / "secrets.toml").write_text('[auth]\nclient_id = "vitals"\n')
    assert oidc_secrets_found(run_dir, home)
