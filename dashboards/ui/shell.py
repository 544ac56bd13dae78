"""The app shell: page config, login, navigation by role, the shared sidebar."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboards.auth import Identity, LoginError, LoginThrottle, check_password, pages_for
from dashboards.config import DashboardConfig
from dashboards.ui.frame import PAGES, sidebar
from dashboards.ui.resources import resources
from vitals.kernel.configfile import ConfigError

APP_DIR = Path(__file__).resolve().parent.parent / "app"
#: Shipped with the package: a Material icon as page icon is fetched from Google's font CDN, and
#: hospital networks are often closed to the internet.
PAGE_ICON = Path(__file__).resolve().parent / "icon.png"


@st.cache_resource(show_spinner=False)
def throttle() -> LoginThrottle:
    return LoginThrottle()


def _password_login(config: DashboardConfig) -> Identity | None:
    identity = st.session_state.get("vitals.identity")
    if isinstance(identity, Identity):
        return identity
    st.title("Vitals")
    with st.form("login", clear_on_submit=False, width=420):
        st.subheader("Sign in")
        username = st.text_input("Username", key="login.username", autocomplete="username")
        password = st.text_input(
            "Password", type="password", key="login.password", autocomplete="current-password"
        )
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        try:
            identity = check_password(config, username, password, throttle())
        except LoginError as exc:
            st.error(str(exc))
            return None
        st.session_state["vitals.identity"] = identity
        st.session_state.pop("login.password", None)
        st.rerun()
    return None


def _oidc_login(config: DashboardConfig) -> Identity | None:
    assert config.oidc is not None
    if not st.user.is_logged_in:
        st.title("Vitals")
        st.write("Sign in with your organisation's account.")
        if st.button("Sign in", type="primary", icon=":material/login:"):
            if config.oidc.provider:
                st.login(config.oidc.provider)
            else:
                st.login()
        return None
    email = st.user.get("email")
    role = config.oidc.role_for(str(email) if email else None)
    if role is None:
        st.error(
            f"{email or 'This account'} has no role on this dashboard; ask its administrator to add one."
        )
        st.button("Sign out", on_click=st.logout)
        return None
    name = st.user.get("name") or email or "user"
    return Identity(str(email or name), str(name), role)


def authenticate(config: DashboardConfig) -> Identity | None:
    if config.auth_mode == "oidc":
        return _oidc_login(config)
    if config.auth_mode == "password":
        return _password_login(config)
    return Identity("", "local user", "engineer")


def _sign_out() -> None:
    st.session_state.pop("vitals.identity", None)


def main() -> None:
    st.set_page_config(page_title="Vitals", page_icon=str(PAGE_ICON), layout="wide")
    try:
        res = resources()
    except ConfigError as exc:
        st.error(f"**The dashboard config has errors:**\n\n```\n{exc}\n```")
        st.stop()
    identity = authenticate(res.config)
    if identity is None:
        st.stop()
    st.session_state["vitals.identity"] = identity
    pages = [
        st.Page(
            str(APP_DIR / PAGES[key][0]),
            title=PAGES[key][1],
            icon=PAGES[key][2],
            url_path=key,
            default=i == 0,
        )
        for i, key in enumerate(pages_for(identity.role))
    ]
    navigation = st.navigation(pages, position="sidebar")
    st.session_state["vitals.view"] = sidebar(res, identity)
    if res.config.auth_mode == "password":
        st.sidebar.button("Sign out", on_click=_sign_out, icon=":material/logout:")
    elif res.config.auth_mode == "oidc":
        st.sidebar.button("Sign out", on_click=st.logout, icon=":material/logout:")
    navigation.run()
