"""The dashboard's access-control matrix (issue 16): every page for every role and for nobody signed
in, under Streamlit's AppTest, as a browser would open it.

The matrix is the specification: one row per page of ``dashboards.ui.frame.PAGES`` (a page with no
row fails the test), one column per role and one for a visitor who has not signed in. "sign in"
is the dashboard's 401 (the page is not shown, the sign-in form is), "forbidden" its 403 (the
shell refuses the page and names the role).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest
from streamlit.testing.v1 import AppTest

from dashboards.auth import hash_password
from dashboards.ui.frame import PAGES as FRAME_PAGES
from tests.dashboards.conftest import PAGES, Store, no_exceptions, open_page, texts

Outcome = Literal["allowed", "sign in", "forbidden"]
A: Outcome = "allowed"
S: Outcome = "sign in"
F: Outcome = "forbidden"

COLUMNS = ("not signed in", "executive", "engineer", "admin")

MATRIX: dict[str, tuple[Outcome, ...]] = {
    #               not signed in  executive  engineer  admin
    "scorecard": (S, A, A, A),
    "sla": (S, A, A, A),
    "operations": (S, F, A, A),
    "traces": (S, F, A, A),
    "dependencies": (S, F, A, A),
    "apis": (S, F, A, A),
    "alerts": (S, F, A, A),
    "exceptions": (S, F, A, A),
    "capacity": (S, A, A, A),
}

PASSWORD = "matrix-password"
HASH = hash_password(PASSWORD, rounds=4)


def users_config(config_dir: Path) -> None:
    (config_dir / "dashboard.yaml").write_text(
        "users:\n"
        + "".join(
            f"  - {{username: {role}-user, role: {role}, password_hash: '{HASH}'}}\n"
            for role in ("executive", "engineer", "admin")
        )
    )


def sign_in(at: AppTest, username: str) -> AppTest:
    at.text_input(key="login.username").input(username)
    at.text_input(key="login.password").input(PASSWORD)
    next(b for b in at.form_submit_button if b.label == "Sign in").click()
    return at.run()


def outcome(at: AppTest, page: str) -> str:
    """What the visitor got: the page (its title), the sign-in form, or the shell's refusal."""
    no_exceptions(at)
    titles = [str(t.value) for t in at.title]
    shown = FRAME_PAGES[page][1] in titles
    refused = any("role cannot open this page" in str(e.value) for e in at.error)
    asked = any(b.label == "Sign in" for b in at.form_submit_button)
    if shown and not refused and not asked:
        return A
    if refused and not shown and not asked:
        return F
    if asked and not shown and not refused:
        return S
    return f"unclear (title shown {shown}, refused {refused}, sign-in form {asked}): {texts(at)[:300]}"


def test_every_page_has_a_row() -> None:
    assert set(MATRIX) == set(FRAME_PAGES) == set(PAGES)
    assert all(len(row) == len(COLUMNS) for row in MATRIX.values())
    assert all(row[0] == S for row in MATRIX.values()), "no page is shown to a visitor not signed in"


def test_nobody_signed_in_sees_only_the_sign_in_form(
    sqlite_store: Store, app_env: pytest.MonkeyPatch
) -> None:
    users_config(sqlite_store.config_dir)
    found = {}
    for page, row in MATRIX.items():
        at = open_page(app_env, sqlite_store.url, sqlite_store.config_dir, page)
        got = outcome(at, page)
        if got != row[0]:
            found[page] = f"{got} (matrix: {row[0]})"
    assert not found, found


@pytest.mark.timeout(300)
@pytest.mark.parametrize("role", ["executive", "engineer", "admin"])
def test_each_role_opens_exactly_its_pages(
    sqlite_store: Store, app_env: pytest.MonkeyPatch, role: str
) -> None:
    users_config(sqlite_store.config_dir)
    column = COLUMNS.index(role)
    at = sign_in(open_page(app_env, sqlite_store.url, sqlite_store.config_dir, "scorecard"), f"{role}-user")
    assert f"Signed in as **{role}-user** ({role})" in texts(at)
    found = {}
    for page, row in MATRIX.items():
        at.switch_page(PAGES[page]).run()
        got = outcome(at, page)
        if got != row[column]:
            found[page] = f"{got} (matrix: {row[column]})"
    assert not found, found
