"""The app shell: page config, login, navigation by role, the shared sidebar.

Every page is registered, those the role may not open hidden from the menu: a link or a typed
address to one reaches the shell, which refuses it (and audits the attempt) before the page runs.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboards.auth import may_open
from dashboards.ui import session
from dashboards.ui.frame import PAGES, sidebar
from dashboards.ui.resources import resources
from vitals.kernel.configfile import ConfigError

APP_DIR = Path(__file__).resolve().parent.parent / "app"
#: Shipped with the package: a Material icon as page icon is fetched from Google's font CDN, and
#: hospital networks are often closed to the internet.
PAGE_ICON = Path(__file__).resolve().parent / "icon.png"


def main() -> None:
    st.set_page_config(page_title="Vitals", page_icon=str(PAGE_ICON), layout="wide")
    try:
        res = resources()
    except ConfigError as exc:
        st.error(f"**The dashboard config has errors:**\n\n```\n{exc}\n```")
        st.stop()
    identity = session.authenticate(res)
    if identity is None:
        st.stop()
    st.session_state["vitals.identity"] = identity
    pages = {
        key: st.Page(
            str(APP_DIR / script),
            title=title,
            icon=icon,
            url_path=key,
            default=i == 0,
            visibility="visible" if may_open(identity.role, key) else "hidden",
        )
        for i, (key, (script, title, icon)) in enumerate(PAGES.items())
    }
    navigation = st.navigation(list(pages.values()), position="sidebar")
    page = next(key for key, p in pages.items() if p is navigation)
    st.session_state["vitals.view"] = sidebar(res, identity)
    if res.config.auth_mode != "none":
        st.sidebar.button("Sign out", on_click=session.sign_out, args=(res,), icon=":material/logout:")
    if not may_open(identity.role, page):
        session.forbidden(res, identity, page)
        st.stop()
    navigation.run()
