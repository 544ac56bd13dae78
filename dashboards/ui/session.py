"""Sessions in the app: sign-in and sign-out, the check on every run, and the audit of each.

Every full run of the app (each interaction) calls ``authenticate``: it judges the session
against the configuration in force and the clock, records the activity and shows why when the
session may not go on. Auto-refreshing page fragments call ``check``, which judges the same
way without counting as activity. What a security review asks to see (sign-ins, sign-outs,
refusals, reads of pages showing bad events or traces) is written to the audit log.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

import streamlit as st

from access.audit import SqlAuditLog
from access.model import AuditEntry, AuditLog
from dashboards.auth import (
    ActivityBook,
    Identity,
    Login,
    LoginError,
    LoginThrottle,
    Refused,
    check_password,
    identity_for,
    oidc_login,
    password_login,
    session_end,
)
from dashboards.config import DashboardConfig
from dashboards.ui.resources import Resources

log = logging.getLogger(__name__)

#: The clock of sessions (Unix seconds): tests replace it to age a session.
CLOCK: Callable[[], float] = time.time
SOURCE = "dashboard"
LOGIN = "vitals.login"
#: Pages whose every read is audited, as they show bad events (the SLA page) or traces, with the
#: session-state keys of their choices (what was looked at: the SLA, the trace, the search).
AUDITED_PAGES: dict[str, tuple[str, ...]] = {
    "sla": ("sla", "slice"),
    "traces": ("service", "stage", "status", "min_ms", "key", "trace"),
}
_LAST_READ = "vitals.audit.last_read"
_NOTICE = "vitals.session.notice"


def now() -> float:
    return CLOCK()


@st.cache_resource(show_spinner=False)
def throttle() -> LoginThrottle:
    return LoginThrottle()


@st.cache_resource(show_spinner=False)
def activity() -> ActivityBook:
    return ActivityBook()


def audit_log(res: Resources) -> AuditLog:
    return SqlAuditLog(res.engine)


def remote() -> str:
    """The client's address as Streamlit sees it (empty on loopback or where it cannot tell)."""
    try:
        address = st.context.ip_address
    except Exception:  # outside a browser session (bare runs)
        return ""
    return address if isinstance(address, str) else ""


def record(res: Resources, actor: str, action: str, target: str, **detail: Any) -> None:
    """Append to the audit log; a failure is logged, not shown (the page still answers)."""
    entry = AuditEntry(now(), actor, action, target, SOURCE, remote(), detail)
    try:
        audit_log(res).record(entry)
    except Exception:
        log.exception("could not write to the audit log: %s %s %s", actor, action, target)


# --------------------------------------------------------------------------- every run


def authenticate(res: Resources) -> Identity | None:
    """Who is asking, in the role the configuration gives them now; None (after showing the
    sign-in form or why the session ended) when nobody may see the pages."""
    config = res.config
    if config.auth_mode == "none":
        st.session_state.pop(LOGIN, None)
        return Identity("", "local user", "engineer")
    if config.auth_mode == "oidc":
        return _oidc(res)
    return _password(res)


def _current_login(config: DashboardConfig) -> Login | None:
    login = st.session_state.get(LOGIN)
    if not isinstance(login, Login):
        return None
    if login.method != config.auth_mode:  # the site switched between passwords and single sign-on
        st.session_state.pop(LOGIN, None)
        return None
    return login


def _judge(res: Resources, login: Login, claims: Mapping[str, object] | None) -> Identity | None:
    """Count this run as activity, then end the session or refuse it, or let it in."""
    book, at = activity(), now()
    last = book.touch(login.key, at)
    why = session_end(res.config, login.signed_in_at, last, at)
    if why is not None:
        book.end(login.key, at, why)
        record(res, login.subject, "session.expired", "dashboard", reason=why, method=login.method)
        _signed_out(why)
        return None
    try:
        return identity_for(res.config, login, claims)
    except Refused as exc:
        record(res, login.subject, "access.refused", "dashboard", reason=str(exc), method=login.method)
        if login.method == "password":
            book.end(login.key, at, str(exc))
            _signed_out(str(exc))
        else:
            st.error(str(exc), icon=":material/block:")
            st.button("Sign out", on_click=_oidc_sign_out, args=(res, login))
        return None


def _signed_out(why: str) -> None:
    st.session_state.pop(LOGIN, None)
    st.session_state[_NOTICE] = why


def check(res: Resources) -> Identity | None:
    """The same judgement as ``authenticate`` for an auto-refresh, which is no activity: None
    when the session has ended or lost its role (the caller reruns the app, which says why)."""
    config = res.config
    if config.auth_mode == "none":
        return Identity("", "local user", "engineer")
    login = _current_login(config)
    claims: Mapping[str, object] | None = None
    if config.auth_mode == "oidc":
        if not st.user.is_logged_in:
            return None
        user_claims: Mapping[str, object] = st.user.to_dict()
        claims = user_claims
        login = oidc_login(user_claims, now())
    if login is None:
        return None
    book = activity()
    if book.ended(login.key) or session_end(config, login.signed_in_at, book.last_seen(login.key), now()):
        return None
    try:
        return identity_for(config, login, claims)
    except Refused:
        return None


# --------------------------------------------------------------------------- passwords


def _password(res: Resources) -> Identity | None:
    login = _current_login(res.config)
    if login is not None:
        identity = _judge(res, login, None)
        if identity is not None:
            return identity
    st.title("Vitals")
    notice = st.session_state.pop(_NOTICE, None)
    if notice:
        st.warning(notice, icon=":material/lock_clock:")
    with st.form("login", clear_on_submit=False, width=420):
        st.subheader("Sign in")
        username = st.text_input("Username", key="login.username", autocomplete="username")
        password = st.text_input(
            "Password", type="password", key="login.password", autocomplete="current-password"
        )
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        try:
            identity = check_password(res.config, username, password, throttle())
        except LoginError as exc:
            actor = username.strip()[:64]
            record(res, actor, "login.failed", "dashboard", reason=str(exc), method="password")
            st.error(str(exc))
            return None
        login = password_login(res.config, identity, now(), "password|" + secrets.token_urlsafe(16))
        activity().touch(login.key, login.signed_in_at)
        record(res, identity.username, "login", "dashboard", method="password", role=identity.role)
        st.session_state[LOGIN] = login
        st.session_state.pop("login.password", None)
        st.rerun()
    return None


def password_sign_out(res: Resources) -> None:
    login = _current_login(res.config)
    if login is not None:
        activity().end(login.key, now(), "You signed out.")
        record(res, login.subject, "logout", "dashboard", method="password")
    st.session_state.pop(LOGIN, None)
    st.session_state[_NOTICE] = "You signed out."


# --------------------------------------------------------------------------- single sign-on


def _oidc(res: Resources) -> Identity | None:
    oidc = res.config.oidc
    assert oidc is not None
    if not st.user.is_logged_in:
        st.title("Vitals")
        st.write("Sign in with your organisation's account.")
        st.button("Sign in", type="primary", icon=":material/login:", on_click=_oidc_sign_in, args=(res,))
        return None
    claims = st.user.to_dict()
    login = oidc_login(claims, now())
    ended = activity().ended(login.key)
    if ended is None:
        if activity().last_seen(login.key) is None:
            role = oidc.role_for_claims(claims)
            record(res, login.subject, "login", "dashboard", method="oidc", role=role or "none")
        st.session_state[LOGIN] = login
        identity = _judge(res, login, claims)
        if identity is not None:
            return identity
        ended = activity().ended(login.key)
        if ended is None:  # refused (no role): _judge said why
            return None
    st.session_state.pop(_NOTICE, None)
    st.title("Vitals")
    st.warning(ended, icon=":material/lock_clock:")
    left, right = st.columns([1, 5], width=420)
    left.button("Sign in again", type="primary", on_click=_oidc_sign_in, args=(res,))
    right.button("Sign out", on_click=_oidc_sign_out, args=(res, None))
    return None


def _oidc_sign_in(res: Resources) -> None:
    assert res.config.oidc is not None
    provider = res.config.oidc.provider
    if provider:
        st.login(provider)
    else:
        st.login()


def _oidc_sign_out(res: Resources, login: Login | None) -> None:
    if st.user.is_logged_in:
        login = login or oidc_login(st.user.to_dict(), now())
        if activity().ended(login.key) is None:
            activity().end(login.key, now(), "You signed out.")
            record(res, login.subject, "logout", "dashboard", method="oidc")
    st.session_state.pop(LOGIN, None)
    st.logout()


def sign_out(res: Resources) -> None:
    """The sidebar's sign-out, for either kind of login."""
    if res.config.auth_mode == "oidc":
        _oidc_sign_out(res, None)
    else:
        password_sign_out(res)


# --------------------------------------------------------------------------- pages


def forbidden(res: Resources, identity: Identity, page: str) -> None:
    record(res, identity.username, "page.forbidden", page, role=identity.role)
    st.error(f"The {identity.role} role cannot open this page.", icon=":material/block:")


def page_read(res: Resources, identity: Identity, page: str, view: Mapping[str, str]) -> None:
    """Audit a read of a page showing bad events or traces, once per view: the same page with the
    same range, filters and choices (an auto-refresh) is not recorded again until they change."""
    if page not in AUDITED_PAGES:
        st.session_state.pop(_LAST_READ, None)
        return
    params = dict(view)
    for key in AUDITED_PAGES[page]:
        value = st.session_state.get(key)
        if value not in (None, "", 0, 0.0, "any"):
            params[key] = str(value)
    seen = (page, tuple(sorted(params.items())))
    if st.session_state.get(_LAST_READ) == seen:
        return
    st.session_state[_LAST_READ] = seen
    record(res, identity.username or "anonymous", "page.read", page, params=params, role=identity.role)
